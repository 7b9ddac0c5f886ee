"""The blueprint every broker route lives on: request ids, security headers, JSON errors."""

from __future__ import annotations

from flask import Blueprint

from ..errors import register_blueprint_error_handlers
from .pipeline import register_request_pipeline


def broker_blueprint(
    name: str, import_name: str, *, pipeline: bool = True, **options: str
) -> Blueprint:
    """A blueprint with the broker's request ids and JSON error answers.

    ``pipeline=False`` when the app runs the request pipeline itself for every request (the
    standalone broker), so that it runs once per request, not once for the app and again for
    the blueprint.
    """
    blueprint = Blueprint(name, import_name, **options)  # type: ignore[arg-type]
    if pipeline:
        register_request_pipeline(blueprint)
    register_blueprint_error_handlers(blueprint)
    return blueprint
