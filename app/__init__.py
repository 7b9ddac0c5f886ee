"""The token broker: a Flask app that mints vendor tokens for a host app's signed-in users."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask

from config import (
    ConfigError,
    Settings,
    accepted_server_configuration,
    load_settings,
    parse_log_level,
    read_environment,
)

from .broker import init_broker
from .cli_environment import operator_environment
from .commands import diagnosis_requested, register_commands, unconfigured_app
from .errors import register_app_error_handlers
from .observability.logs import configure_logging
from .protection.hosts import trust_proxies
from .ready_line import log_ready_when_dev_server_listens
from .routes.pipeline import register_request_pipeline
from .users.session_cookie import CachedSerializerSessionInterface


def create_app(overrides: Mapping[str, Any] | None = None) -> Flask:
    """Build the standalone broker from the environment (and ``.env``), plus ``overrides``.

    Invalid configuration stops the process with one line naming the variable; a host app
    mounting the broker with :func:`app.broker.init_broker` gets the ``ConfigError`` instead.
    """
    # Under gunicorn, the configuration its master checked and accepted (gunicorn.conf.py).
    # Otherwise one precedence for every entry point: environment > BROKER_ENV_FILE, never
    # Flask's .env.
    accepted = accepted_server_configuration()
    if accepted is None:
        accepted = read_environment(environ=operator_environment())
    source = {**accepted, **(overrides or {})}
    try:
        configure_logging(parse_log_level(source.get("BROKER_LOG_LEVEL")))
        settings = load_settings(source)
    except ConfigError as error:
        if diagnosis_requested():
            return unconfigured_app(source)
        raise SystemExit(f"broker configuration error: {error}") from None
    # app/static is served under /broker/ by the assets blueprint, also inside a host app.
    app = Flask(__name__, static_folder=None)
    configure_flask(app, settings)
    trust_proxies(app, settings.protection.proxy_hops)
    register_request_pipeline(app)
    register_app_error_handlers(app)
    try:
        # Building the broker may still refuse configuration (an unimportable resolver).
        # The standalone broker serves everything, at the root as it always has.
        init_broker(app, settings, ops=True, demo=True, prefix="")
    except ConfigError as error:
        if diagnosis_requested():
            return unconfigured_app(source, error)
        raise SystemExit(f"broker configuration error: {error}") from None
    register_commands(app, source)
    log_ready_when_dev_server_listens(app)
    return app


def configure_flask(app: Flask, settings: Settings) -> None:
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
