"""The identity metrics both services export (label ``service``: host or registry).
docs/operations/metrics.md lists each one."""

from __future__ import annotations

from prometheus_client import Counter

SIGNINS = Counter("identity_signins_total", "Sign-ins, by provider and outcome (ok, "
                  "refused)", ["service", "provider", "outcome"])
REFUSED = Counter("identity_refused_credentials_total", "Requests refused for their "
                  "credentials: an expired or revoked session (session), a bearer token "
                  "failing its checks (token), a used-up refresh token (refresh), a missing "
                  "role (role)", ["service", "reason"])
