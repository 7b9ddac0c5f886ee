"""Demo sign-in, so the flow can be tried without a host app (``BROKER_DEMO_LOGIN=1``).

It writes the same session keys a host app would; the token route cannot tell the
difference, which is the point. Registered only when the setting is on: otherwise the
routes do not exist (404).
"""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request, session

from ..broker import current_broker
from ..cross_site import token_routes
from ..errors import error_response
from ..users import MAX_FIELD_LENGTH
from . import broker_blueprint

demo = token_routes(broker_blueprint("broker_demo", __name__, url_prefix="/demo"))

FIELDS = ("external_id", "email", "name")


def _submitted() -> dict[str, Any]:
    if request.is_json:
        data = request.get_json(silent=True)
        return data if isinstance(data, dict) else {}
    return request.form.to_dict()


@demo.post("/login")
def login() -> Response:
    data = _submitted()
    values: dict[str, str | None] = {}
    for field in FIELDS:
        value = data.get(field)
        if value is not None and not isinstance(value, str):
            return error_response(400, "invalid_field", f"{field} must be a string.")
        value = (value or "").strip()
        if len(value) > MAX_FIELD_LENGTH:
            return error_response(
                400, "invalid_field", f"{field} is longer than {MAX_FIELD_LENGTH} characters."
            )
        values[field] = value or None
    if values["external_id"] is None:
        return error_response(
            400, "missing_field", "external_id is required: the demo user's id in the host app."
        )
    keys = current_broker().settings.session
    session.clear()
    session[keys.user_id_key] = values["external_id"]
    for key, field in ((keys.user_email_key, "email"), (keys.user_name_key, "name")):
        if values[field] is not None:
            session[key] = values[field]
    return jsonify(
        signedIn={"id": values["external_id"], "email": values["email"], "name": values["name"]}
    )


@demo.post("/logout")
def logout() -> Response:
    session.clear()
    return jsonify(signedIn=None)
