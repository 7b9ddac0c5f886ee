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

from flask import Flask, current_app

from config import Settings

from . import redaction, telemetry
from .mindset.client import MindsetClient
from .rate_limits import init_rate_limits
from .tokens import MindsetTokens
from .users import UserResolver
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

    def flows(self) -> list[str]:
        flows = []
        if self.mindset is not None:
            flows.append("mindset-sandbox" if self.settings.sandbox else "mindset")
        return flows


def current_broker() -> Broker:
    broker: Broker = current_app.extensions[EXTENSION]
    return broker


def build_broker(settings: Settings) -> Broker:
    broker = Broker(
        settings=settings,
        resolve_user=session_resolver(settings.session),
        mindset=_mindset_tokens(settings),
    )
    if broker.mindset is not None:
        broker.readiness_checks["mindset_circuit"] = broker.mindset.readiness
    return broker


def _mindset_tokens(settings: Settings) -> MindsetTokens | None:
    mindset = settings.mindset
    if mindset is None:
        return None
    client = MindsetClient(
        mindset.base_url,
        mindset.api_key,
        mindset.app_uid,
        connect_timeout=mindset.connect_timeout,
        read_timeout=mindset.read_timeout,
        pool_size=mindset.pool_size,
        observer=_observe_mindset_attempt,
    )
    if settings.sandbox:
        from .sandbox import mount_sandbox

        mount_sandbox(client.session, mindset.base_url, mindset.api_key, mindset.app_uid)
    return MindsetTokens(client, mindset, settings.resilience)


def _observe_mindset_attempt(outcome: str, status: int | None, seconds: float) -> None:
    telemetry.vendor_attempt("mindset", outcome, status, seconds)


def init_broker(app: Flask, settings: Settings) -> Broker:
    """Attach the broker to ``app`` and register its routes."""
    from .routes import register_blueprints

    redaction.register_settings_secrets(settings)
    broker = build_broker(settings)
    app.extensions[EXTENSION] = broker
    init_rate_limits(app, broker)
    register_blueprints(app, broker)
    _log_startup(broker)
    return broker


def _log_startup(broker: Broker) -> None:
    settings = broker.settings
    if settings.sandbox:
        log.warning(
            "SANDBOX MODE: no vendor settings found, tokens come from a built-in fake Mindset "
            "API and are worthless elsewhere; set MINDSET_API_HOST, MINDSET_API_KEY and "
            "MINDSET_APP_UID to use your real app"
        )
    if settings.secret_key_generated:
        log.warning(
            "SECRET_KEY is not set: using a random one, so sessions end at restart and are "
            "not shared with the host app or other instances; set SECRET_KEY"
        )
    log.info(
        "broker ready: env=%s flows=%s demo_login=%s",
        settings.env,
        ",".join(broker.flows()) or "none",
        "on" if settings.demo_login else "off",
    )
