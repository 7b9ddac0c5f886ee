"""The blueprint every broker route lives on: request ids, security headers, JSON errors."""

from __future__ import annotations

from flask import Blueprint

from ..errors import register_blueprint_error_handlers
from .pipeline import register_request_pipeline


def broker_blueprint(name: str, import_name: str, **options: str) -> Blueprint:
    """A blueprint with the broker's request ids and JSON error answers."""
    blueprint = Blueprint(name, import_name, **options)  # type: ignore[arg-type]
    register_request_pipeline(blueprint)
    register_blueprint_error_handlers(blueprint)
    return blueprint
