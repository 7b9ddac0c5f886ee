"""The broker as a Flask extension: :class:`TokenBroker`, and how it joins an app.

``TokenBroker(app)``, or ``broker = TokenBroker()`` then ``broker.init_app(app)`` in an
application factory, builds the vendor clients once per app, picks the user resolver and
registers the blueprints and commands. Everything it builds for an app is kept in
``app.extensions["token_broker"]`` (:mod:`.state`), never on the extension object, so one
``TokenBroker`` may serve several apps, each with its own settings. It is the top of the
import layers: it assembles everything and nothing imports it but the package's public names.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

from flask import Flask

from .commands import register_commands, typingmind_cli
from .errors import register_app_error_handlers
from .mindset.client import MindsetClient
from .mindset.sandbox import mount_sandbox
from .minting.sealing import derive_key
from .minting.shared_state import SharedState
from .minting.tokens import MindsetTokens
from .observability import redaction, telemetry
from .protection.hosts import trust_hosts, trust_proxies
from .protection.rate_limits import init_rate_limits
from .ready_line import log_ready_when_dev_server_listens
from .routes import register_blueprints
from .routes.pipeline import register_request_pipeline
from .settings import (
    RESOLVER_CUSTOM,
    RESOLVER_HEADERS,
    RESOLVER_JWT,
    RESOLVER_SESSION,
    SETTING_NAMES,
    ConfigError,
    Settings,
    UserResolverSettings,
    load_settings,
)
from .startup_warnings import startup_warnings
from .state import EXTENSION, Broker, Mount
from .typingmind import TypingMindCodes
from .users import UserResolver
from .users.custom import HostResolver, check_resolver_import, custom_resolver, import_callable
from .users.headers import headers_resolver
from .users.jwt import jwt_resolver
from .users.per_request import once_per_request
from .users.session import session_resolver
from .users.session_cookie import CachedSerializerSessionInterface

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
        # Told of every attempt; the request's log line adds up their time.
        observer=partial(telemetry.vendor_attempt, "mindset"),
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


def _settings_of(app: Flask, resolver: HostResolver | None) -> Settings:
    """``app``'s settings, or ConfigError naming every problem, an unimportable
    ``BROKER_USER_RESOLVER`` among them (unless the host gives its own resolver)."""
    checks = (check_resolver_import,) if resolver is None else ()
    return load_settings(app.config, checks=checks)


def attach_broker(
    app: Flask,
    settings: Settings | None = None,
    *,
    resolver: HostResolver | None,
    ops: bool,
    demo: bool,
    prefix: str,
    app_pipeline: bool = False,
) -> None:
    """Attach the broker to ``app``: :meth:`TokenBroker.init_app`'s work, with the options it
    chose (their defaults are :class:`TokenBroker`'s). What it builds is kept in
    ``app.extensions``.

    ``settings``: already read from ``app.config`` (the standalone app reads them first);
    read here otherwise. ``app_pipeline``: the app runs the request pipeline itself.
    """
    if prefix and (not prefix.startswith("/") or prefix.endswith("/")):
        raise ConfigError(
            f"TokenBroker prefix={prefix!r}: give a path such as '/broker' (a leading slash, "
            "no trailing one), or '' for the root"
        )
    if settings is None:
        settings = _settings_of(app, resolver)
    redaction.register_settings_secrets(settings)
    trust_hosts(app, settings)
    broker = build_broker(settings, resolver=resolver)
    broker.mount = Mount(ops=ops, demo=demo, prefix=prefix, app_pipeline=app_pipeline)
    app.extensions[EXTENSION] = broker
    init_rate_limits(app, broker)
    register_blueprints(app, broker)
    app.cli.add_command(typingmind_cli)
    _log_startup(broker, hosts_checked=bool(app.config.get("TRUSTED_HOSTS")))


def _log_startup(broker: Broker, *, hosts_checked: bool) -> None:
    settings = broker.settings
    for level, message in startup_warnings(
        settings,
        hosts_checked=hosts_checked,
        resolver_name=broker.resolver_name,
        demo_login=broker.demo_login,
    ):
        log.log(level, "%s", message)


class TokenBroker:
    """The token broker as a Flask extension.

    In a host app, ``TokenBroker(app, resolver=who_is_signed_in)``; in an application
    factory, ``broker = TokenBroker(resolver=...)`` at module level, then
    ``broker.init_app(app)``. Settings are read from ``app.config`` when :meth:`init_app`
    runs: the ``MINDSET_*``, ``TYPINGMIND_*`` and ``BROKER_*`` names and the app's own
    ``SECRET_KEY``. Every option may be given to the constructor, to :meth:`init_app`, or
    both (:meth:`init_app`'s wins):

    - ``resolver``: a callable run inside a request that returns the signed-in user
      (a :class:`~flask_token_broker.CurrentUser` or a mapping with ``id``, and optionally
      ``email`` and ``name``) or ``None``. Without one, ``BROKER_USER_RESOLVER`` picks
      (the session by default).
    - ``ops``: also serve ``/healthz``, ``/readyz``, ``/metrics`` and ``/openapi.json``
      under ``prefix``.
    - ``demo``: also serve the demo page under ``prefix + "/demo/"`` (when
      ``BROKER_DEMO_LOGIN`` is on).
    - ``prefix``: where the ops routes and the demo go: ``"/broker"`` by default, or
      ``""`` for the root.
    - ``standalone``: the app is the broker's own, as in the standalone service: the broker
      also sets the session cookie, trusts ``BROKER_PROXY_HOPS`` proxies, answers every
      error of the app (not only its routes') as JSON, and adds the ``config``, ``token`` and
      ``broker`` commands.

    Invalid configuration, an unimportable resolver, or a broker route that would clash with
    a route the app already has raises :class:`~flask_token_broker.ConfigError` naming what
    to change. Register the broker after the host's own routes so a clash is found.
    """

    def __init__(
        self,
        app: Flask | None = None,
        *,
        resolver: HostResolver | None = None,
        ops: bool = False,
        demo: bool = False,
        prefix: str = "/broker",
        standalone: bool = False,
    ) -> None:
        self._options: dict[str, Any] = {
            "resolver": resolver,
            "ops": ops,
            "demo": demo,
            "prefix": prefix,
            "standalone": standalone,
        }
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask, **options: Any) -> None:
        """Attach the broker to ``app``; ``options`` override the constructor's."""
        unknown = sorted(set(options) - set(self._options))
        if unknown:
            raise TypeError(f"TokenBroker.init_app() got unknown options: {', '.join(unknown)}")
        chosen = {**self._options, **options}
        standalone = bool(chosen.pop("standalone"))
        if not standalone:
            attach_broker(app, **chosen)
            return
        # The settings as given, before the broker adds its own (a generated SECRET_KEY):
        # what `config check` reports on.
        source = {name: app.config[name] for name in SETTING_NAMES if name in app.config}
        settings = _settings_of(app, chosen["resolver"])
        own_app(app, settings)
        attach_broker(app, settings, app_pipeline=True, **chosen)
        register_commands(app, source)
        log_ready_when_dev_server_listens(app)


def own_app(app: Flask, settings: Settings) -> None:
    """What the broker sets when the whole app is its own (``standalone=True``)."""
    app.session_interface = CachedSerializerSessionInterface()
    app.config.update(
        SECRET_KEY=settings.secret_key,
        SESSION_COOKIE_NAME=settings.session_cookie_name,
        SESSION_COOKIE_DOMAIN=settings.session_cookie_domain,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.is_production,
        # Token routes take no body; this bounds what a hostile client can make us buffer.
        MAX_CONTENT_LENGTH=64 * 1024,
    )
    trust_proxies(app, settings.protection.proxy_hops)
    register_request_pipeline(app)
    register_app_error_handlers(app)
