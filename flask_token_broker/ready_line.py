"""The "broker ready" line: logged once the server is about to serve, never before.

Building the app is not being ready: ``config check`` and ``token mint`` build it and serve
nothing, and ``flask run`` builds it before binding its port, so a line logged at build time
would precede ``Address already in use``. The production server logs it from gunicorn's
``post_worker_init`` (each worker, its port already bound by the master, the app loaded); the
development server when Werkzeug says it runs (:func:`log_ready_when_dev_server_listens`).
"""

from __future__ import annotations

import logging

import click
from flask import Flask

from .state import broker_of
from .version import VERSION

log = logging.getLogger("broker")


def log_ready(app: Flask) -> None:
    """One line saying what this broker serves; nothing when ``app`` holds no broker."""
    broker = broker_of(app)
    if broker is None:
        return
    settings = broker.settings
    log.info(
        "broker ready: version=%s env=%s flows=%s user_resolver=%s demo_login=%s",
        VERSION,
        settings.env,
        ",".join(broker.flows()) or "none",
        broker.resolver_name,
        "on" if broker.demo_login else "off",
        extra={"version": VERSION, "flows": broker.flows(), "user_resolver": broker.resolver_name},
    )


class _WhenRunning(logging.Filter):
    """Logs the ready line with Werkzeug's "Press CTRL+C to quit", its last start-up line:
    the socket is bound and "Running on" printed by then (a filter runs before the record
    it sees is written, so matching "Running on" would print the ready line above it)."""

    def __init__(self, app: Flask) -> None:
        super().__init__()
        self.app: Flask | None = app

    def filter(self, record: logging.LogRecord) -> bool:
        if self.app is not None and "CTRL+C" in str(record.msg):
            app, self.app = self.app, None  # once
            log_ready(app)
        return True


def log_ready_when_dev_server_listens(app: Flask) -> None:
    """Under ``flask run`` only: Werkzeug's server has no hook, its start-up line is the sign."""
    context = click.get_current_context(silent=True)
    if context is not None and context.command.name == "run":
        logging.getLogger("werkzeug").addFilter(_WhenRunning(app))
