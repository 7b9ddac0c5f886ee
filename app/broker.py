"""The broker as a Flask extension: built once per process, kept on the app (:mod:`app.state`).

:func:`init_broker` is how the broker joins an app, the standalone one built by
:func:`app.create_app` or a host's own Flask app: it builds the vendor clients once per
process, picks the user resolver and registers the blueprints and commands. It is the top of
the import layers: it assembles everything and nothing imports it but the factory and hosts.
"""

from __future__ import annotations

import logging

from flask import Flask

from config import (
    RESOLVER_CUSTOM,
    RESOLVER_HEADERS,
    RESOLVER_JWT,
    RESOLVER_SESSION,
    ConfigError,
    Settings,
    UserResolverSettings,
    load_settings,
)

from .commands import typingmind_cli
from .mindset.client import MindsetClient
from .mindset.sandbox import mount_sandbox
from .minting.sealing import derive_key
from .minting.shared_state import SharedState
from .minting.tokens import MindsetTokens
from .observability import redaction, telemetry
from .protection.hosts import trust_hosts
from .protection.rate_limits import init_rate_limits
from .routes import register_blueprints
from .startup_warnings import startup_warnings
from .state import EXTENSION, Broker, Mount
from .typingmind import TypingMindCodes
from .users import UserResolver
from .users.custom import HostResolver, custom_resolver, import_callable
from .users.headers import headers_resolver
from .users.jwt import jwt_resolver
from .users.per_request import once_per_request
from .users.session import session_resolver

log = logging.getLogger("broker")


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
        demo_login=settings.demo_login and resolver_name == RESOLVER_SESSION,
    )
    if broker.mindset is not None:
        broker.readiness_checks["mindset_circuit"] = broker.mindset.guarded_call.readiness
    if shared is not None:
        broker.readiness_checks["redis"] = shared.readiness
    return broker


def shared_state_for(settings: Settings) -> SharedState | None:
    """Redis-backed state shared by instances, when ``BROKER_REDIS_URL`` is set."""
    if settings.redis_url is None:
        return None
    return SharedState(settings.redis_url, settings.redis, settings.secret_key)


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
    app: Flask,
    settings: Settings | None = None,
    *,
    resolver: HostResolver | None = None,
    ops: bool = False,
    demo: bool = False,
    prefix: str = "/broker",
) -> Broker:
    """Attach the broker to ``app`` and register its routes and ``flask typingmind`` commands.

    A host app mounting the broker calls ``init_broker(app)``: the settings are then read from
    ``app.config`` (the same ``MINDSET_*``, ``TYPINGMIND_*``, ``BROKER_*`` names and its
    ``SECRET_KEY``), and ``resolver``, a callable returning ``{"id", "email", "name"}`` or
    ``None``, lets the host say who is signed in its own way (e.g. Flask-Login's
    ``current_user``). The host gets the token routes, TypingMind's sign-in and the
    ``/broker/`` front-end files; ``ops=True`` adds ``/healthz``, ``/readyz``, ``/metrics``
    and ``/openapi.json``, ``demo=True`` the demo (when ``BROKER_DEMO_LOGIN`` is on), both
    under ``prefix``. Invalid configuration, or a broker route that clashes with one the app
    already has, raises ``ConfigError``.
    """
    if prefix and (not prefix.startswith("/") or prefix.endswith("/")):
        raise ConfigError(
            f"init_broker prefix={prefix!r}: give a path such as '/broker' (a leading slash, "
            "no trailing one), or '' for the root"
        )
    if settings is None:
        settings = load_settings(app.config)
    redaction.register_settings_secrets(settings)
    trust_hosts(app, settings)
    broker = build_broker(settings, resolver=resolver)
    broker.mount = Mount(ops=ops, demo=demo, prefix=prefix)
    app.extensions[EXTENSION] = broker
    init_rate_limits(app, broker)
    register_blueprints(app, broker)
    app.cli.add_command(typingmind_cli)
    _log_startup(broker, hosts_checked=bool(app.config.get("TRUSTED_HOSTS")))
    return broker


def _log_startup(broker: Broker, *, hosts_checked: bool) -> None:
    settings = broker.settings
    for level, message in startup_warnings(
        settings,
        hosts_checked=hosts_checked,
        resolver_name=broker.resolver_name,
        demo_login=broker.demo_login,
    ):
        log.log(level, "%s", message)
