"""The standalone token broker: a Flask app that is nothing but the broker.

Built on the extension's public names only (:mod:`flask_token_broker`); what it adds is where
the settings come from (:mod:`config`: the environment, its dotenv file and secret files) and
how the process stops when they cannot work.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask

from config import accepted_server_configuration, broker_config, read_environment
from flask_token_broker import (
    ConfigError,
    TokenBroker,
    configure_logging,
    diagnosis_requested,
    diagnostics_app,
    parse_log_level,
)

from .cli_environment import operator_environment


def create_app(overrides: Mapping[str, Any] | None = None) -> Flask:
    """Build the standalone broker from the environment (and ``.env``), plus ``overrides``.

    Invalid configuration stops the process with one line naming the variable, except under
    ``flask ... config check`` and ``broker version``, which must run to diagnose it.
    """
    # Under gunicorn, the configuration its master checked and accepted (gunicorn.conf.py).
    # Otherwise one precedence for every entry point: environment > BROKER_ENV_FILE, never
    # Flask's .env.
    accepted = accepted_server_configuration()
    if accepted is None:
        accepted = read_environment(environ=operator_environment())
    source = broker_config({**accepted, **(overrides or {})})
    # Static files are the extension's own, served under /broker/ by its assets blueprint.
    app = Flask(__name__, static_folder=None)
    app.config.from_mapping(source)
    try:
        configure_logging(parse_log_level(source.get("BROKER_LOG_LEVEL")))
        # The standalone broker serves everything, at the root as it always has.
        TokenBroker(app, ops=True, demo=True, prefix="", standalone=True)
    except ConfigError as error:
        if diagnosis_requested():
            return diagnostics_app(source, error)
        raise SystemExit(f"broker configuration error: {error}") from None
    return app
