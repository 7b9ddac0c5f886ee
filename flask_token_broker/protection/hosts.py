"""Which ``Host`` the broker answers for, and which proxies' forwarding headers it believes.

Both are decided before routing, from ``BROKER_ALLOWED_HOSTS`` and ``BROKER_PROXY_HOPS``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from ..settings import Settings


def trust_hosts(app: Flask, settings: Settings) -> None:
    """``BROKER_ALLOWED_HOSTS`` becomes Flask's ``TRUSTED_HOSTS``, unless the app has its own.

    Werkzeug then refuses any other ``Host`` before routing, so no answer (a slash redirect's
    ``Location``, a URL built for a link) can reflect a Host the operator did not list.
    """
    if settings.protection.allowed_hosts and not app.config.get("TRUSTED_HOSTS"):
        app.config["TRUSTED_HOSTS"] = list(settings.protection.allowed_hosts)
        app.wsgi_app = LowerCaseHost(app.wsgi_app)  # type: ignore[method-assign]


class LowerCaseHost:
    """Host names compare case-insensitively (RFC 3986, 3.2.2); Werkzeug compares the
    ``Host`` as sent against ``TRUSTED_HOSTS``, which the settings hold in lower case.

    Applied inside ``ProxyFix`` (which wraps the app later), so a forwarded host is lowered
    too.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        host = environ.get("HTTP_HOST")
        if host:
            environ["HTTP_HOST"] = host.lower()
        result: Iterable[bytes] = self.app(environ, start_response)
        return result


def trust_proxies(app: Flask, hops: int) -> None:
    """Believe ``X-Forwarded-For/-Proto/-Host/-Port`` from exactly ``hops`` proxies.

    With 0 (the default) the client address is the socket peer: a client could otherwise
    claim any address and dodge the per-address rate limit.
    """
    if hops > 0:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops
        )
