"""The broker's state on an app: what a request reads, and nothing that builds it.

The routes, the guards and the commands import this module; it imports none of them, so no
module has to reach upward (or hide an import inside a function) to find the broker.
:func:`flask_token_broker.TokenBroker` builds a :class:`Broker` and stores it under
:data:`EXTENSION`, one per app.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, current_app

from .errors import FlowNotConfigured
from .minting.tokens import MindsetTokens
from .settings import FLAVOR_SDK3, Settings
from .typingmind import TypingMindCodes
from .users import UserResolver

EXTENSION = "token_broker"

# What turns each flow on, for every message that says it is off.
MINDSET_SETTINGS = "MINDSET_API_HOST, MINDSET_API_KEY and MINDSET_APP_UID"
TYPINGMIND_SETTINGS = "TYPINGMIND_JWT_SECRET and TYPINGMIND_URL"

# A readiness check answers (status, details); status is "ok", "degraded" (a dependency the
# broker can live without, such as the vendor or Redis, is failing) or "failed" (the broker
# itself cannot serve, so a load balancer should take this instance out).
ReadinessCheck = Callable[[], tuple[str, dict[str, Any]]]


@dataclass(frozen=True)
class Mount:
    """Which optional routes an app carries, and where: the standalone broker has them all
    at the root; a host app opts in (``TokenBroker(app, ops=True, demo=True, prefix=...)``)."""

    ops: bool = False
    demo: bool = False
    # Before the ops routes and the demo's /demo/: "" or a path such as "/broker".
    prefix: str = ""
    # The app runs the request pipeline for every request (the standalone broker), so the
    # broker's blueprints leave it out; in a host app they carry it for their routes only.
    app_pipeline: bool = False


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
    # BROKER_DEMO_LOGIN, and only while users come from the session: the demo login writes
    # the session, which no other resolver reads, so it could sign nobody in.
    demo_login: bool = False
    mount: Mount = field(default_factory=Mount)

    def flows(self) -> list[str]:
        flows = []
        if self.mindset is not None:
            flows.append("mindset-sandbox" if self.settings.sandbox else "mindset")
            if self.mindset.settings.flavor != FLAVOR_SDK3:
                flows[-1] += f"({self.mindset.settings.flavor})"
        if self.typingmind is not None:
            flows.append("typingmind")
        return flows

    def mindset_tokens(self) -> MindsetTokens:
        """The Mindset flow, or the ``404 not_configured`` that names the settings to set."""
        if self.mindset is None:
            raise FlowNotConfigured(
                "Mindset is not configured on this broker.", log_hint=f"set {MINDSET_SETTINGS}"
            )
        return self.mindset

    def typingmind_codes(self) -> TypingMindCodes:
        """The TypingMind flow, or the ``404 not_configured`` that names the settings to set."""
        if self.typingmind is None:
            raise FlowNotConfigured(
                "TypingMind is not configured on this broker.",
                log_hint=f"set {TYPINGMIND_SETTINGS}",
            )
        return self.typingmind


def current_broker() -> Broker:
    broker: Broker = current_app.extensions[EXTENSION]
    return broker


def broker_of(app: Flask) -> Broker | None:
    """The app's broker, or ``None`` on an app that has none (``config check`` of a bad config)."""
    broker: Broker | None = app.extensions.get(EXTENSION)
    return broker
