"""The broker as a Flask extension: its state lives on the app, reached via ``current_app``.

:func:`init_broker` is how the broker joins an app, the standalone one built by
:func:`app.create_app` or a host's own Flask app: it builds the vendor clients once per
process, picks the user resolver and registers the blueprints.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, current_app, g, has_request_context

from config import (
    DEMO_LOGIN_IN_PRODUCTION,
    FLAVOR_SDK3,
    RESOLVER_CUSTOM,
    RESOLVER_HEADERS,
    RESOLVER_JWT,
    Settings,
    UserResolverSettings,
    load_settings,
    plaintext_vendor_host,
)

from .mindset.client import MindsetClient
from .minting.sealing import derive_key
from .minting.shared_state import SharedState
from .minting.tokens import MindsetTokens
from .observability import redaction, telemetry
from .protection.rate_limits import init_rate_limits
from .typingmind import TypingMindCodes
from .users import CurrentUser, UserResolver
from .users.custom import HostResolver, custom_resolver, import_callable
from .users.headers import headers_resolver
from .users.jwt import jwt_resolver
from .users.session import session_resolver

EXTENSION = "token_broker"
log = logging.getLogger("broker")

# A readiness check answers (status, details); status is "ok", "degraded" (a dependency the
# broker can live without, such as the vendor or Redis, is failing) or "failed" (the broker
# itself cannot serve, so a load balancer should take this instance out).
ReadinessCheck = Callable[[], tuple[str, dict[str, Any]]]


@dataclass
class Broker:
    """Everything a request needs, built once per process."""

    settings: Settings
    resolve_user: UserResolver
    mindset: MindsetTokens | None
    readiness_checks: dict[str, ReadinessCheck] = field(default_factory=dict)
    typingmind: TypingMindCodes | None = None
    # How resolve_user knows the user, for the start-up log: "session", "jwt", a callable...
    resolver_name: str = "session"

    def flows(self) -> list[str]:
        flows = []
        if self.mindset is not None:
            flows.append("mindset-sandbox" if self.settings.sandbox else "mindset")
            if self.mindset.settings.flavor != FLAVOR_SDK3:
                flows[-1] += f"({self.mindset.settings.flavor})"
        if self.typingmind is not None:
            flows.append("typingmind")
        return flows


def current_broker() -> Broker:
    broker: Broker = current_app.extensions[EXTENSION]
    return broker


def build_broker(settings: Settings, *, resolver: HostResolver | None = None) -> Broker:
    """Build clients and the user resolver; ``resolver`` (a host's callable) wins over
    ``BROKER_USER_RESOLVER``. Raises ``ConfigError`` when the resolver cannot be imported."""
    if resolver is not None:
        label = getattr(resolver, "__qualname__", type(resolver).__name__)
        resolve_user, resolver_name = custom_resolver(resolver, label), f"host:{label}"
    else:
        resolve_user, resolver_name = _configured_resolver(settings)
    shared = shared_state_for(settings)
    broker = Broker(
        settings=settings,
        resolve_user=once_per_request(resolve_user),
        mindset=_mindset_tokens(settings, shared),
        typingmind=TypingMindCodes(settings.typingmind) if settings.typingmind else None,
        resolver_name=resolver_name,
    )
    if broker.mindset is not None:
        broker.readiness_checks["mindset_circuit"] = broker.mindset.readiness
    if shared is not None:
        broker.readiness_checks["redis"] = shared.readiness
    return broker


def shared_state_for(settings: Settings) -> SharedState | None:
    """Redis-backed state shared by instances, when ``BROKER_REDIS_URL`` is set."""
    if settings.redis_url is None:
        return None
    return SharedState(settings.redis_url, settings.redis, settings.secret_key)


def once_per_request(resolve: UserResolver) -> UserResolver:
    """Resolve the user at most once per request, its answer or its failure kept on ``g``.

    The rate limiter asks who is signed in before the view does; a JWT resolver fetching keys
    from a failing identity provider must not pay that timeout twice in one request.
    """

    def resolve_once() -> CurrentUser | None:
        if not has_request_context():
            return resolve()
        if "_broker_user" not in g:
            try:
                g._broker_user = (resolve(), None)
            except Exception as error:
                g._broker_user = (None, error)
        user, failure = g._broker_user
        if failure is not None:
            raise failure
        return user  # type: ignore[no-any-return]

    return resolve_once


def _configured_resolver(settings: Settings) -> tuple[UserResolver, str]:
    users: UserResolverSettings = settings.users
    if users.kind == RESOLVER_HEADERS:
        return headers_resolver(users.headers), users.kind
    if users.kind == RESOLVER_JWT and users.jwt is not None:
        return jwt_resolver(users.jwt), users.kind
    if users.kind == RESOLVER_CUSTOM and users.callable_path is not None:
        path = users.callable_path
        return custom_resolver(import_callable(path), path), path
    return session_resolver(settings.session), "session"


def _mindset_tokens(settings: Settings, shared: SharedState | None = None) -> MindsetTokens | None:
    mindset = settings.mindset
    if mindset is None:
        return None
    client = MindsetClient(
        mindset.base_url,
        mindset.api_key,
        mindset.app_uid,
        flavor=mindset.flavor,
        connect_timeout=mindset.connect_timeout,
        read_timeout=mindset.read_timeout,
        pool_size=mindset.pool_size,
        observer=_observe_mindset_attempt,
    )
    if settings.sandbox:
        from .mindset.sandbox import mount_sandbox

        mount_sandbox(client.session, mindset.base_url, mindset.api_key, mindset.app_uid)
    return MindsetTokens(
        client,
        mindset,
        settings.resilience,
        shared=shared,
        # Instances sharing Redis share SECRET_KEY, so they derive the same request keys.
        key_secret=derive_key(settings.secret_key, "request-keys"),
    )


def _observe_mindset_attempt(outcome: str, status: int | None, seconds: float) -> None:
    telemetry.vendor_attempt("mindset", outcome, status, seconds)


def init_broker(
    app: Flask, settings: Settings | None = None, *, resolver: HostResolver | None = None
) -> Broker:
    """Attach the broker to ``app`` and register its routes and ``flask typingmind`` commands.

    A host app mounting the broker calls ``init_broker(app)``: the settings are then read from
    ``app.config`` (the same ``MINDSET_*``, ``TYPINGMIND_*``, ``BROKER_*`` names and its
    ``SECRET_KEY``), and ``resolver``, a callable returning ``{"id", "email", "name"}`` or
    ``None``, lets the host say who is signed in its own way (e.g. Flask-Login's
    ``current_user``). Invalid configuration raises ``ConfigError``.
    """
    from .cli import typingmind_cli
    from .routes import register_blueprints

    if settings is None:
        settings = load_settings(app.config)
    redaction.register_settings_secrets(settings)
    trust_hosts(app, settings)
    broker = build_broker(settings, resolver=resolver)
    app.extensions[EXTENSION] = broker
    init_rate_limits(app, broker)
    register_blueprints(app, broker)
    app.cli.add_command(typingmind_cli)
    _log_startup(broker, hosts_checked=bool(app.config.get("TRUSTED_HOSTS")))
    return broker


def trust_hosts(app: Flask, settings: Settings) -> None:
    """``BROKER_ALLOWED_HOSTS`` becomes Flask's ``TRUSTED_HOSTS``, unless the app has its own.

    Werkzeug then refuses any other ``Host`` before routing, so no answer (a slash redirect's
    ``Location``, a URL built for a link) can reflect a Host the operator did not list.
    """
    if settings.protection.allowed_hosts and not app.config.get("TRUSTED_HOSTS"):
        app.config["TRUSTED_HOSTS"] = list(settings.protection.allowed_hosts)


def _log_startup(broker: Broker, *, hosts_checked: bool) -> None:
    settings = broker.settings
    if settings.sandbox:
        log.warning(
            "SANDBOX MODE: no vendor settings found, tokens come from a built-in fake Mindset "
            "API and are worthless elsewhere; set MINDSET_API_HOST, MINDSET_API_KEY and "
            "MINDSET_APP_UID to use your real app"
        )
    if settings.demo_login and settings.is_production:
        # An error, not a warning: config check refuses it, and it must stand out in any log.
        log.error("DEMO LOGIN IS ON IN PRODUCTION: %s", DEMO_LOGIN_IN_PRODUCTION)
    if settings.secret_key_generated:
        log.warning(
            "SECRET_KEY is not set: using a random one, so sessions end at restart and are "
            "not shared with the host app or other instances; set SECRET_KEY"
        )
    if settings.is_production and not hosts_checked:
        log.warning(
            "BROKER_ALLOWED_HOSTS is not set in production: the broker answers for any Host "
            "header; list the names it is served under, e.g. broker.example.com"
        )
    if plaintext_vendor_host(settings):
        log.warning(
            "MINDSET_ALLOW_PLAINTEXT_HOST is on: the Mindset API key, users' identities and "
            "their tokens travel to MINDSET_API_HOST over plain http, readable and alterable "
            "by anyone on the path; use https:// unless that path is private and protected"
        )
    users = settings.users
    if broker.resolver_name == RESOLVER_HEADERS and not users.headers.trusted_proxies:
        log.warning(
            "BROKER_USER_RESOLVER=headers with no BROKER_TRUSTED_PROXIES: identity headers are "
            "ignored from every peer, so nobody can sign in; list your proxy's addresses"
        )
    log.info(
        "broker ready: env=%s flows=%s user_resolver=%s demo_login=%s",
        settings.env,
        ",".join(broker.flows()) or "none",
        broker.resolver_name,
        "on" if settings.demo_login else "off",
        extra={"flows": broker.flows(), "user_resolver": broker.resolver_name},
    )
