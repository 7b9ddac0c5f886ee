"""Identity headers from an authenticating reverse proxy (oauth2-proxy and the like).

The headers are believed only when the request's **direct peer** (the TCP connection, not any
``X-Forwarded-For`` claim) is one of ``BROKER_TRUSTED_PROXIES``; from anyone else they are
ignored, since any client can send them. With no trusted proxies, nobody is trusted.
"""

from __future__ import annotations

import ipaddress
import logging

from flask import request

from ..settings import HeaderResolverSettings
from . import CurrentUser, UserResolver, user_from_mapping

log = logging.getLogger("broker.users")


def direct_peer() -> str | None:
    """The address of the connection's other end.

    Werkzeug's ``ProxyFix`` rewrites ``REMOTE_ADDR`` from ``X-Forwarded-For`` and keeps the
    original under ``werkzeug.proxy_fix.orig``; trust must be decided on the original.
    """
    original = request.environ.get("werkzeug.proxy_fix.orig", {}).get("REMOTE_ADDR")
    peer = original or request.environ.get("REMOTE_ADDR")
    return peer if isinstance(peer, str) else None


def is_trusted(peer: str | None, settings: HeaderResolverSettings) -> bool:
    if peer is None:
        return False
    try:
        # A scoped IPv6 peer ("fe80::1%eth0") parses; its network ignores the scope.
        address = ipaddress.ip_address(peer)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in settings.trusted_proxies)


def headers_resolver(settings: HeaderResolverSettings) -> UserResolver:
    def resolve() -> CurrentUser | None:
        if not is_trusted(direct_peer(), settings):
            if request.headers.get(settings.id_header) is not None:
                log.warning(
                    "ignored %s from an untrusted peer; add the proxy's address to "
                    "BROKER_TRUSTED_PROXIES if it is yours",
                    settings.id_header,
                    extra={"peer": direct_peer()},
                )
            return None
        values = {
            "id": request.headers.get(settings.id_header),
            "email": request.headers.get(settings.email_header),
            "name": request.headers.get(settings.name_header),
        }
        return user_from_mapping(values, "id", "email", "name")

    return resolve
