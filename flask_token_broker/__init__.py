"""Flask-Token-Broker: per-user tokens for embedded AI agents (Mindset AI, TypingMind), minted
for the signed-in users of a Flask app.

Add it to an app::

    from flask_token_broker import TokenBroker

    TokenBroker(app, resolver=lambda: {"id": current_user.id} if current_user else None)

The public names are listed in ``__all__``; everything else in the package may change
between releases. They are imported on first use: a server's master process imports
:func:`load_settings` to check a configuration before it starts workers, and must not import
Flask, ``requests`` or ``prometheus_client`` on the way (its workers patch or set them up
after they fork).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .version import VERSION

if TYPE_CHECKING:
    from .commands import diagnosis_requested, diagnostics_app
    from .extension import TokenBroker
    from .observability.logs import configure_logging
    from .observability.redaction import register_secret, request_secret
    from .protection.cross_site import cross_site_navigation_allowed, token_routes
    from .protection.rate_limits import rate_limited
    from .ready_line import log_ready
    from .routes.blueprint import broker_blueprint
    from .settings import (
        SETTING_NAMES,
        ConfigError,
        Settings,
        load_settings,
        parse_log_level,
        with_secret_files_read,
    )
    from .users import CurrentUser
    from .users.import_check import check_resolver_imports

__version__ = VERSION

__all__ = [
    "SETTING_NAMES",
    "ConfigError",
    "CurrentUser",
    "Settings",
    "TokenBroker",
    "__version__",
    "broker_blueprint",
    "check_resolver_imports",
    "configure_logging",
    "cross_site_navigation_allowed",
    "diagnosis_requested",
    "diagnostics_app",
    "load_settings",
    "log_ready",
    "parse_log_level",
    "rate_limited",
    "register_secret",
    "request_secret",
    "token_routes",
    "with_secret_files_read",
]

# Each public name's module, imported when the name is first used.
_MODULES = {
    ".commands": ("diagnosis_requested", "diagnostics_app"),
    ".extension": ("TokenBroker",),
    ".observability.logs": ("configure_logging",),
    ".observability.redaction": ("register_secret", "request_secret"),
    ".protection.cross_site": ("cross_site_navigation_allowed", "token_routes"),
    ".protection.rate_limits": ("rate_limited",),
    ".ready_line": ("log_ready",),
    ".routes.blueprint": ("broker_blueprint",),
    ".settings": (
        "SETTING_NAMES",
        "ConfigError",
        "Settings",
        "load_settings",
        "parse_log_level",
        "with_secret_files_read",
    ),
    ".users": ("CurrentUser",),
    ".users.import_check": ("check_resolver_imports",),
}
_HOMES = {name: module for module, names in _MODULES.items() for name in names}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
