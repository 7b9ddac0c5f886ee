"""When a minted token may be handed out again, and the per-process store of such tokens.

Mindset documents no token lifetime, so by default a token is never reused: each request
after the in-flight one mints afresh. Two exceptions:

* a token that states its own expiry, a JWT with a numeric ``exp``, may be reused until
  ``exp`` minus a safety margin (``MINDSET_TOKEN_REUSE_JWT``, ``MINDSET_TOKEN_REUSE_MARGIN``).
  The JWT is decoded without verifying its signature because only the vendor can verify it;
  the broker trusts it for nothing but "do not hand me out after this time", which at worst
  makes it mint more often;
* any token, for a fixed time, when the operator opts in (``MINDSET_TOKEN_REUSE_SECONDS``).

Tokens are kept per request key (:func:`request_key`), so a user only ever gets a token
minted from exactly the request the broker would have sent for them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterable

from ..mindset.vendor_api import AuthRequest
from ..settings import MAX_REUSE_SECONDS, MindsetSettings

# Entries kept per process; beyond it, expired ones go first, then the oldest.
DEFAULT_CAPACITY = 50_000
# JSON keeps field boundaries unambiguous whatever characters the values hold; compact and
# unescaped, so the keys (shared by instances through Redis) stay what they have always been.
_KEY_MATERIAL = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def request_key(secret: bytes, parts: Iterable[str], request: AuthRequest) -> str:
    """A keyed digest of everything that shapes the vendor request.

    ``parts`` names the vendor endpoint (flavor, base URL, app uid); ``request`` is the one
    value the client builds the body from (:meth:`MindsetClient.body_for
    <..mindset.client.MindsetClient.body_for>`), and its identifying field comes named as
    the body names it (:attr:`AuthRequest.identifier`), so the vendor's field names are
    spelled only in :mod:`..mindset.vendor_api`. The material is pinned: instances share
    tokens by these keys (Redis), across releases and during a rolling deploy. The name is
    included: the vendor ignores it for existing users, but a token is only ever shared
    between requests whose bodies would have been identical, which costs nothing (one
    session, one name) and leaves no case to reason about. Keyed with a secret so a reader
    of Redis keys cannot test guesses of user ids.
    """
    fields = [
        *parts,
        *request.identifier,
        request.name or "",
        *request.account_uids,
    ]
    # "surrogatepass" encodes a lone surrogate (JSON sessions and claims may carry one)
    # injectively instead of failing the request.
    material = _KEY_MATERIAL.encode(fields)
    encoded = material.encode(
        "utf-8",  # pragma: no mutate (codec names ignore case: "UTF-8" is this codec)
        "surrogatepass",
    )
    return hmac.new(secret, encoded, hashlib.sha256).hexdigest()


def jwt_expiry(token: str) -> float | None:
    """The ``exp`` claim of a JWT-shaped token, unverified, or ``None``."""
    pieces = token.split(".")
    if len(pieces) != 3:
        return None
    payload = pieces[1]
    try:
        # JWTs drop base64's padding; the decoder ignores padding beyond what is missing.
        claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    except (ValueError, binascii.Error):
        return None
    exp = claims.get("exp") if isinstance(claims, dict) else None
    if isinstance(exp, bool) or not isinstance(exp, int | float):
        return None
    return float(exp)


class ReusePolicy:
    """Until when a freshly minted token may be handed out again (epoch seconds), if at all."""

    def __init__(self, settings: MindsetSettings) -> None:
        self.jwt = settings.reuse_jwt
        self.margin = settings.reuse_margin
        self.fixed = settings.reuse_seconds
        self.enabled = self.jwt or self.fixed > 0

    def reusable_until(self, token: str, now: float) -> float | None:
        until: float | None = None
        exp = jwt_expiry(token) if self.jwt else None
        if exp is not None:
            until = exp - self.margin
        elif self.fixed:  # seconds, never negative (config.py)
            until = now + self.fixed
        if until is None or until <= now:
            return None
        return min(until, now + MAX_REUSE_SECONDS)


class LocalTokens:
    """Reusable tokens of this process, each dropped at its own reuse deadline."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self.capacity = capacity
        self._lock = threading.Lock()
        self._tokens: dict[str, tuple[str, float]] = {}

    def get(self, key: str, now: float | None = None) -> tuple[str, float] | None:
        entry = self._tokens.get(key)
        if entry is None:
            return None
        if entry[1] <= (time.time() if now is None else now):
            with self._lock:
                if self._tokens.get(key) is entry:
                    del self._tokens[key]
            return None
        return entry

    def put(self, key: str, token: str, until: float) -> None:
        with self._lock:
            self._tokens.pop(key, None)
            self._tokens[key] = (token, until)
            if len(self._tokens) > self.capacity:
                self._shrink()

    def __len__(self) -> int:
        return len(self._tokens)

    def _shrink(self) -> None:
        now = time.time()
        for key in [k for k, (_, until) in self._tokens.items() if until <= now]:
            del self._tokens[key]
        # Room for a tenth more before the next scan, so a full store does not scan per put.
        while len(self._tokens) * 10 > self.capacity * 9:
            del self._tokens[next(iter(self._tokens))]
