"""What a working configuration still gets wrong: the warnings of start-up and ``config check``.

One list for both, so the operator reads the same words in the server's log and in the
check's JSON. Each warning has the log level start-up uses; a few of them (demo login in
production) are also problems that ``config check`` refuses (:func:`config.find_problems`).
"""

from __future__ import annotations

import logging
from typing import NamedTuple

from .settings import (
    DEMO_LOGIN_IN_PRODUCTION,
    JWT_WITHOUT_AUDIENCE,
    RESOLVER_HEADERS,
    RESOLVER_JWT,
    RESOLVER_SESSION,
    Settings,
    plaintext_vendor_host,
    weak_secret_key,
)


class StartupWarning(NamedTuple):
    level: int
    message: str


def startup_warnings(
    settings: Settings,
    *,
    hosts_checked: bool,
    resolver_name: str | None = None,
    demo_login: bool | None = None,
) -> list[StartupWarning]:
    """Every warning for ``settings``; ``hosts_checked``: a Host allow-list is in force;
    ``resolver_name``: the resolver in use (a host's own wins over ``BROKER_USER_RESOLVER``);
    ``demo_login``: whether the demo login is really on (by default, ``BROKER_DEMO_LOGIN``
    while users come from the session, the only place it can sign them in)."""
    found: list[StartupWarning] = []
    resolver = settings.users.kind if resolver_name is None else resolver_name
    if demo_login is None:
        demo_login = settings.demo_login and resolver == RESOLVER_SESSION

    def warn(message: str, level: int = logging.WARNING) -> None:
        found.append(StartupWarning(level, message))

    if settings.sandbox:
        warn(
            "SANDBOX MODE: no vendor settings found, tokens come from a built-in fake Mindset "
            "API and are worthless elsewhere; set MINDSET_API_HOST, MINDSET_API_KEY and "
            "MINDSET_APP_UID to use your real app"
        )
    # Only when the operator asked for it: the sandbox's default asks for nothing.
    if settings.demo_login and settings.demo_login_set and not demo_login:
        warn(
            "BROKER_DEMO_LOGIN is on but the demo login is off: it signs users into the "
            f"session, and user_resolver={resolver} does not read the session, so it could "
            "sign nobody in; unset BROKER_DEMO_LOGIN, or use the session resolver to try the demo"
        )
    if demo_login and settings.is_production:
        # An error, not a warning: config check refuses it, and it must stand out in any log.
        warn(f"DEMO LOGIN IS ON IN PRODUCTION: {DEMO_LOGIN_IN_PRODUCTION}", logging.ERROR)
    elif demo_login and not settings.sandbox:
        warn(
            "BROKER_DEMO_LOGIN is on: POST /demo/login signs anyone in as anyone; "
            "for demonstrations only, never in front of real users"
        )
    if settings.secret_key_generated:
        warn(
            "SECRET_KEY is not set: using a random one, so sessions end at restart and are "
            "not shared with the host app or other instances; set SECRET_KEY"
        )
    elif not settings.is_production:  # production refuses a weak one (config._secret_key)
        weakness = weak_secret_key(settings.secret_key)
        if weakness is not None:
            warn(f"SECRET_KEY is weak ({weakness}): production refuses it; use a long random one")
    if demo_login and settings.demo.sdk_url is None and not settings.sandbox:
        warn(
            "MINDSET_SDK_URL is not set: the demo page uses the broker's stand-in SDK, "
            "which only understands stand-in tokens"
            if not settings.is_production
            else "MINDSET_SDK_URL is not set: the demo page cannot load the agent SDK"
        )
    if settings.is_production and not hosts_checked:
        warn(
            "BROKER_ALLOWED_HOSTS is not set in production: the broker answers for any Host "
            "header; list the names it is served under, e.g. broker.example.com"
        )
    if plaintext_vendor_host(settings):
        warn(
            "MINDSET_ALLOW_PLAINTEXT_HOST is on: the Mindset API key, users' identities and "
            "their tokens travel to MINDSET_API_HOST over plain http, readable and alterable "
            "by anyone on the path; use https:// unless that path is private and protected"
        )
    jwt = settings.users.jwt
    if resolver == RESOLVER_JWT and jwt is not None and jwt.audience is None:
        warn(JWT_WITHOUT_AUDIENCE)  # production refuses it (settings.resolvers)
    if resolver == RESOLVER_HEADERS and not settings.users.headers.trusted_proxies:
        warn(
            "BROKER_USER_RESOLVER=headers with no BROKER_TRUSTED_PROXIES: identity headers are "
            "ignored from every peer, so nobody can sign in; list your proxy's addresses"
        )
    if settings.is_production and settings.ops.metrics_token is None:
        warn("BROKER_METRICS_TOKEN is not set: GET /metrics answers 404")
    return found
