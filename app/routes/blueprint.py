"""The blueprint every broker route lives on: request ids, security headers, JSON errors."""

from __future__ import annotations

from flask import Blueprint

from ..errors import register_blueprint_error_handlers
from ..observability.logs import register_access_log
from ..observability.request_ids import assign_request_id, echo_request_id
from ..protection.security_headers import register_security_headers


def broker_blueprint(name: str, import_name: str, **options: str) -> Blueprint:
    """A blueprint with the broker's request ids and JSON error answers."""
    blueprint = Blueprint(name, import_name, **options)  # type: ignore[arg-type]
    register_access_log(blueprint)
    blueprint.before_request(assign_request_id)
    blueprint.after_request(echo_request_id)
    register_security_headers(blueprint)
    register_blueprint_error_handlers(blueprint)
    return blueprint
