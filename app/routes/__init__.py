"""The broker's blueprints and how they join an app."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Blueprint, Flask

from ..errors import register_blueprint_error_handlers
from ..observability.logs import register_access_log
from ..observability.request_ids import assign_request_id, echo_request_id
from ..protection.security_headers import register_security_headers

if TYPE_CHECKING:
    from ..broker import Broker


def broker_blueprint(name: str, import_name: str, **options: str) -> Blueprint:
    """A blueprint with the broker's request ids and JSON error answers."""
    blueprint = Blueprint(name, import_name, **options)  # type: ignore[arg-type]
    register_access_log(blueprint)
    blueprint.before_request(assign_request_id)
    blueprint.after_request(echo_request_id)
    register_security_headers(blueprint)
    register_blueprint_error_handlers(blueprint)
    return blueprint


def register_blueprints(app: Flask, broker: Broker) -> None:
    from .assets import assets
    from .demo import demo
    from .openapi import openapi
    from .ops import ops
    from .tokens import tokens
    from .typingmind import typingmind

    app.register_blueprint(tokens)
    app.register_blueprint(openapi)
    app.register_blueprint(ops)
    app.register_blueprint(assets)
    # Always registered: an unconfigured flow answers a JSON 404 naming what to set.
    app.register_blueprint(typingmind)
    if broker.settings.demo_login:
        app.register_blueprint(demo)
