"""How a Koha event delivery is signed: the Koha bridge (and `plugin-host dev`, the
pytest fixture, tests) sign; the host checks (plugin_host/host/hook_auth.py).

    X-Koha-Hook-Timestamp: 1796262400
    X-Koha-Hook-Signature: v1=<hex HMAC-SHA256(secret, "TIMESTAMP.METHOD.PATH." + body)>

The timestamp must be within ``WINDOW`` seconds of the host's clock and a signature is
accepted once: a captured delivery cannot be replayed, nor moved to another event (the
path is signed) or given another body (docs/integrations/koha-bridge.md)."""

from __future__ import annotations

import hashlib
import hmac
import time

TIMESTAMP_HEADER = "X-Koha-Hook-Timestamp"
SIGNATURE_HEADER = "X-Koha-Hook-Signature"
WINDOW = 300
VERSION = "v1"


def signature(secret: str, timestamp: int, method: str, path: str, body: bytes) -> str:
    message = f"{timestamp}.{method.upper()}.{path}.".encode() + body
    return f"{VERSION}=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signed_headers(secret: str, path: str, body: bytes, method: str = "POST",
                   timestamp: int | None = None) -> dict[str, str]:
    """The headers of a signed delivery of ``body`` to ``path`` (e.g. /hooks/EVENT)."""
    ts = int(time.time()) if timestamp is None else timestamp
    return {TIMESTAMP_HEADER: str(ts), SIGNATURE_HEADER: signature(secret, ts, method, path,
                                                                   body),
            "Content-Type": "application/json"}
