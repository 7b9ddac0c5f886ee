"""Flask's signed-cookie sessions, without repeating per request what the same cookie and the
same keys always give.

Flask's ``SecureCookieSessionInterface`` builds a new ``URLSafeTimedSerializer`` (and checks its
serializer's type) for every request that opens or saves a session, and verifies the cookie's
signature (an HMAC, base64 and JSON) on every request: together about a tenth of a worker's
CPU on the token route, where a signed-in user sends the same cookie with each request. The
standalone broker keeps:

- the serializer for its current keys, built again only when ``SECRET_KEY`` or
  ``SECRET_KEY_FALLBACKS`` change;
- the values of the cookies it has verified with that serializer (at most
  :data:`VERIFIED_COOKIES_KEPT`, oldest dropped first), keyed by the cookie's canonical text
  (:func:`canonical_cookie`). A kept cookie is still refused once it is older than the
  session lifetime, exactly when Flask would refuse it, and a key change discards them all:
  only a cookie whose signed bytes and signature are those the current keys accepted is ever
  taken without its signature checked again.

Cookies are read and written exactly as Flask's own interface does; a host app that mounts the
broker keeps its own session interface.
"""

from __future__ import annotations

import copy
import time
from threading import Lock
from typing import Any

from flask import Flask, Request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from itsdangerous import BadData, BadSignature, URLSafeTimedSerializer
from itsdangerous.encoding import base64_decode, base64_encode

# Sized for the signed-in users active on one worker at once; each entry is one cookie's text
# and its few values (well under a kilobyte).
VERIFIED_COOKIES_KEPT = 4096


def canonical_cookie(cookie: str) -> str:
    """The one text of every spelling of ``cookie`` that verifies the same way.

    The signature after the last ``.`` is base64, which itsdangerous decodes forgivingly:
    padding ``=`` and characters outside the alphabet are ignored, so one valid cookie has
    countless accepted spellings. Re-encoding the decoded signature gives them one text; the
    signed part before it is compared byte for byte by the signature, so it stays as sent.
    """
    signed, dot, signature = cookie.rpartition(".")
    if not dot:
        return cookie
    try:
        return f"{signed}.{base64_encode(base64_decode(signature)).decode()}"
    except BadData:  # not base64 at all: verifying it will refuse it
        return cookie


class CachedSerializerSessionInterface(SecureCookieSessionInterface):
    def __init__(self) -> None:
        # (the keys it was built for, the serializer), replaced whole so threads never mix them.
        self._cached: tuple[Any, URLSafeTimedSerializer | None] | None = None
        # cookie text -> (the serializer that verified it, when it was signed, its values)
        self._verified: dict[str, tuple[URLSafeTimedSerializer, int, dict[str, Any]]] = {}
        self._verified_lock = Lock()

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        keys = (app.secret_key, tuple(app.config.get("SECRET_KEY_FALLBACKS") or ()))
        cached = self._cached
        if cached is None or cached[0] != keys:
            cached = (keys, super().get_signing_serializer(app))
            self._cached = cached
        return cached[1]

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        serializer = self.get_signing_serializer(app)
        if serializer is None:
            return None
        cookie = request.cookies.get(self.get_cookie_name(app))
        if not cookie:
            return self.session_class()
        max_age = int(app.permanent_session_lifetime.total_seconds())
        # Keys are canonical, and Flask writes cookies in that form: the text as sent finds a
        # kept cookie at once; only another spelling pays for re-encoding its signature.
        known = self._verified.get(cookie)
        if known is None:
            cookie = canonical_cookie(cookie)
            known = self._verified.get(cookie)
        if known is None or known[0] is not serializer:
            try:
                values, signed = serializer.loads(cookie, max_age=max_age, return_timestamp=True)
            except BadSignature:
                return self.session_class()
            known = (serializer, int(signed.timestamp()), values)
            self._remember(cookie, known)
        else:
            # itsdangerous' own test: whole seconds since signing, within [0, max_age].
            age = int(time.time()) - known[1]
            if not 0 <= age <= max_age:
                return self.session_class()
        # A copy: a request that changes its session must not change the kept values.
        return self.session_class(copy.deepcopy(known[2]))

    def _remember(
        self, cookie: str, verified: tuple[URLSafeTimedSerializer, int, dict[str, Any]]
    ) -> None:
        with self._verified_lock:
            kept = self._verified
            if kept and next(iter(kept.values()))[0] is not verified[0]:
                kept.clear()  # verified with keys no longer in use
            while len(kept) >= VERIFIED_COOKIES_KEPT:
                del kept[next(iter(kept))]
            kept[cookie] = verified
