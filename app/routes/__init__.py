"""The broker's routes, the top layer: every blueprint, and how they join an app.

:func:`broker_blueprint` is public: a host adds a route of its own to the broker's family
with it (and :func:`app.protection.cross_site.token_routes` for the token routes' guards).
"""

from __future__ import annotations

from flask import Flask

from ..state import Broker
from .assets import assets
from .blueprint import broker_blueprint
from .demo import demo
from .openapi import openapi
from .ops import ops
from .tokens import tokens
from .typingmind import typingmind

__all__ = ["broker_blueprint", "register_blueprints"]


def register_blueprints(app: Flask, broker: Broker) -> None:
    app.register_blueprint(tokens)
    app.register_blueprint(openapi)
    app.register_blueprint(ops)
    app.register_blueprint(assets)
    # Always registered: an unconfigured flow answers a JSON 404 naming what to set.
    app.register_blueprint(typingmind)
    if broker.settings.demo_login:
        app.register_blueprint(demo)
