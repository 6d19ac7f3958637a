"""Who may deliver Koha events to ``POST /hooks/{event}`` (``hook_auth``):

- ``signed`` (the default): requests signed with the shared ``hook_secret`` as
  plugin_host/hook_signature.py says (the Koha bridge does), each signature once, within
  five minutes of the host's clock;
- ``token``: ``Authorization: Bearer <hook_secret>`` (for a sender that cannot sign);
- ``none``: anyone (development only; the host warns at start).

Without ``hook_secret`` the host keeps one in ``data_dir/hook-secret`` (mode 0600)."""

from __future__ import annotations

import hmac
import time
from collections import OrderedDict

from ..errors import Unauthorized
from ..hook_signature import SIGNATURE_HEADER, TIMESTAMP_HEADER, WINDOW, signature

MAX_REMEMBERED = 100_000


class HookAuth:
    def __init__(self, mode: str, secret: str):
        self.mode, self.secret = mode, secret
        self.seen: OrderedDict[str, float] = OrderedDict()  # signature → when it expires

    def precheck(self, headers) -> None:
        """What can be checked before the body is read (cheap refusals first)."""
        if self.mode == "none":
            return
        if self.mode == "token":
            given = headers.get("authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {self.secret}".encode()):
                raise Unauthorized("hook deliveries need 'Authorization: Bearer <hook "
                                   "secret>' on this host (hook_auth = token)")
            return
        stamp = headers.get(TIMESTAMP_HEADER.lower())
        if not stamp or not headers.get(SIGNATURE_HEADER.lower()):
            raise Unauthorized(f"hook deliveries must be signed ({TIMESTAMP_HEADER}, "
                               f"{SIGNATURE_HEADER}: docs/integrations/koha-bridge.md)")
        try:
            skew = abs(time.time() - int(stamp))
        except ValueError:
            raise Unauthorized(f"{TIMESTAMP_HEADER}: not a Unix time") from None
        if skew > WINDOW:
            raise Unauthorized(f"{TIMESTAMP_HEADER}: {skew:.0f} s away from this host's "
                               f"clock (at most {WINDOW} s)")

    def verify(self, headers, method: str, path: str, body: bytes) -> None:
        if self.mode != "signed":
            return
        stamp = int(headers[TIMESTAMP_HEADER.lower()])
        given = headers[SIGNATURE_HEADER.lower()]
        expected = signature(self.secret, stamp, method, path, body)
        if not hmac.compare_digest(given.encode(), expected.encode()):
            raise Unauthorized("the hook delivery's signature is wrong (another secret, or "
                               "a changed body or path)")
        now = time.time()
        while self.seen and next(iter(self.seen.values())) < now:
            self.seen.popitem(last=False)
        if given in self.seen:
            raise Unauthorized("this hook delivery was already received (a replay)")
        self.seen[given] = stamp + WINDOW
        if len(self.seen) > MAX_REMEMBERED:
            self.seen.popitem(last=False)
