"""Stand-in auth tokens: obviously fake, yet they say whom they were minted for.

Both formats have three dot-separated parts whose middle part is base64url JSON, so
:func:`token_claims` reads either one:

- opaque: ``standin-tok.<payload>.<random>``, payload ``{"sub", "via"}`` (``via`` names the
  endpoint, ``sdk3`` or ``legacy``);
- jwt: a syntactically valid HS256 JWT signed with :data:`JWT_SECRET` (a published, fixed
  stand-in secret: these tokens grant nothing), claims ``sub``, ``n``, ``via``, ``iss``,
  ``iat``, ``exp``. Signed with ``hmac`` from the standard library so the in-process sandbox
  needs no extra dependency.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import threading
import time
from typing import Any

OPAQUE = "opaque"
JWT = "jwt"
FORMATS = (OPAQUE, JWT)
OPAQUE_PREFIX = "standin-tok"
JWT_SECRET = b"mindset-standin-not-a-secret"
JWT_ISSUER = "mindset-standin"
_JWT_HEADER = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').rstrip(b"=")
# json.dumps builds a new encoder whenever it gets options; build the compact one once.
_COMPACT = json.JSONEncoder(separators=(",", ":"))


def check_format(name: str) -> str:
    if name not in FORMATS:
        raise ValueError(f"token_format must be one of {', '.join(FORMATS)}")
    return name


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def _claims_part(claims: dict[str, Any]) -> bytes:
    return _b64(_COMPACT.encode(claims).encode())


def opaque_prefix(subject: str, via: str) -> str:
    """An opaque token up to its random tail: the part that depends on the user only."""
    claims = _COMPACT.encode({"sub": subject, "via": via})
    return f"{OPAQUE_PREFIX}.{_b64(claims.encode()).decode()}."


class _NoncePool:
    """Random bytes drawn from the OS 4 KiB at a time: one syscall per ~450 tokens, not one each."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pool = b""
        self._at = 0

    def take(self, size: int) -> bytes:
        with self._lock:
            if self._at + size > len(self._pool):
                self._pool, self._at = os.urandom(4096), 0
            self._at += size
            return self._pool[self._at - size : self._at]


_nonces = _NoncePool()


def nonce() -> bytes:
    """The random tail: 9 bytes give 12 URL-safe characters, unguessable enough for a fake."""
    return base64.urlsafe_b64encode(_nonces.take(9))


def jwt_token(subject: str, serial: int, via: str, ttl: int, now: float | None = None) -> str:
    issued = int(time.time() if now is None else now)
    claims = {
        "sub": subject,
        "n": serial,
        "via": via,
        "iss": JWT_ISSUER,
        "iat": issued,
        "exp": issued + ttl,
    }
    signing_input = _JWT_HEADER + b"." + _claims_part(claims)
    signature = hmac.new(JWT_SECRET, signing_input, hashlib.sha256).digest()
    return (signing_input + b"." + _b64(signature)).decode()


def token_claims(token: str) -> dict[str, Any]:
    """The readable payload of a stand-in token of either format (no signature check)."""
    parts = token.split(".")
    if len(parts) != 3:
        raise ValueError("not a stand-in token")
    middle = parts[1]
    claims = json.loads(base64.urlsafe_b64decode(middle + "=" * (-len(middle) % 4)))
    if not isinstance(claims, dict):
        raise ValueError("not a stand-in token")
    return claims
