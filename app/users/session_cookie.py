"""Flask's signed-cookie sessions, with the signing serializer built once, not per request.

Flask's ``SecureCookieSessionInterface`` builds a new ``URLSafeTimedSerializer`` (and checks its
serializer's type) for every request that opens or saves a session: a few percent of a
worker's CPU on the token route. The standalone broker keeps the one for its current keys and
builds another only when ``SECRET_KEY`` or ``SECRET_KEY_FALLBACKS`` change. Cookies are read
and written exactly as Flask's own interface does; a host app that mounts the broker keeps
its own session interface.
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import URLSafeTimedSerializer


class CachedSerializerSessionInterface(SecureCookieSessionInterface):
    def __init__(self) -> None:
        # (the keys it was built for, the serializer), replaced whole so threads never mix them.
        self._cached: tuple[Any, URLSafeTimedSerializer | None] | None = None

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        keys = (app.secret_key, tuple(app.config.get("SECRET_KEY_FALLBACKS") or ()))
        cached = self._cached
        if cached is None or cached[0] != keys:
            cached = (keys, super().get_signing_serializer(app))
            self._cached = cached
        return cached[1]
