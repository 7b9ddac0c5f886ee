"""The demo: a page and a sign-in, so the flow can be tried without a host app
(``BROKER_DEMO_LOGIN=1``).

The sign-in writes the same session keys a host app would; the token route cannot tell the
difference, which is the point. ``GET /demo/`` runs the real front-end flow against it: the
agent SDK (``MINDSET_SDK_URL``, or in development the broker's stand-in SDK), one
``mindset.init`` and the front-end helper as ``fetchAuthentication``. Registered only when
the setting is on: otherwise the routes do not exist (404).
"""

from __future__ import annotations

from typing import Any, cast
from urllib.parse import urljoin, urlsplit

from flask import (
    Blueprint,
    Response,
    current_app,
    jsonify,
    render_template,
    request,
    session,
    url_for,
)

from ..errors import error_response
from ..observability import telemetry
from ..protection.cross_site import token_routes
from ..state import MINDSET_SETTINGS, Broker, current_broker
from ..typingmind import TypingMindIdentityError
from ..users import MAX_FIELD_LENGTH, CurrentUser
from .assets import ASSETS
from .blueprint import broker_blueprint

FIELDS = ("external_id", "email", "name")
# Agents shown with the stand-in SDK when BROKER_DEMO_AGENT_UIDS is unset: two, because
# several agents asking at once for a token is the case the front-end helper is built for.
STANDIN_AGENT_UIDS = ("demo-agent-1", "demo-agent-2")


def _submitted() -> dict[str, Any]:
    if request.is_json:
        data = request.get_json(silent=True)
        return data if isinstance(data, dict) else {}
    return request.form.to_dict()


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


def logout() -> Response:
    session.clear()
    return jsonify(signedIn=None)


def page() -> Response:
    broker = current_broker()
    settings = broker.settings
    user = broker.resolve_user()
    sdk_url = settings.demo.sdk_url
    standin_sdk = sdk_url is None and not settings.is_production
    if standin_sdk:
        sdk_url = url_for(".sandbox_sdk")
    agent_uids = settings.demo.agent_uids or (STANDIN_AGENT_UIDS if standin_sdk else ())
    mindset_on = broker.mindset is not None
    problem = _page_problem(mindset_on, sdk_url, agent_uids)
    if not mindset_on and broker.typingmind is not None:
        # A TypingMind-only broker: no Mindset steps, no SDK, nothing to say is missing.
        problem, sdk_url, standin_sdk = None, None, False
    config = {
        "appUid": settings.mindset.app_uid if settings.mindset else None,
        "sdkUrl": None if problem else sdk_url,
        "tokenUrl": url_for("broker_tokens.get_user_token"),
        "loginUrl": url_for(".login"),
        "logoutUrl": url_for(".logout"),
    }
    widget = _typingmind_widget(broker, user)
    html = render_template(
        "broker_demo.html",
        mindset=mindset_on,
        typingmind=widget,
        typingmind_login_url=url_for("broker_typingmind.login") if widget else None,
        user=user,
        sandbox=settings.sandbox,
        standin_sdk=standin_sdk,
        sdk_url=sdk_url,
        agent_uids=agent_uids,
        problem=problem,
        token_url=config["tokenUrl"],
        config=config,
    )
    response = Response(html, content_type="text/html; charset=utf-8")
    response.headers["Content-Security-Policy"] = content_security_policy(
        None if standin_sdk else sdk_url,
        widget["origin"] if widget else None,
    )
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _page_problem(mindset_on: bool, sdk_url: str | None, agent_uids: tuple[str, ...]) -> str | None:
    """Why the page cannot show agents, said so an operator knows which setting to set."""
    if not mindset_on:
        return f"Mindset is not configured on this broker: set {MINDSET_SETTINGS}."
    if sdk_url is None:
        return (
            "MINDSET_SDK_URL is not set: set it to the Mindset SDK script URL your Mindset team "
            "gave you (the broker's stand-in SDK is for development only)."
        )
    if not agent_uids:
        return (
            "BROKER_DEMO_AGENT_UIDS is not set: list the uids of the agents to show "
            "(comma-separated)."
        )
    return None


def _typingmind_widget(broker: Broker, user: CurrentUser | None) -> dict[str, str] | None:
    """The TypingMind widget tag's values, with a code freshly signed for this page load."""
    codes = broker.typingmind
    if codes is None:
        return None
    base = codes.settings.url
    widget = {"src": urljoin(base.rstrip("/") + "/", "widget.js"), "origin": _origin(base)}
    if user is None:
        return {**widget, "note": "Sign in to get a TypingMind code for the widget."}
    try:
        code = codes.issue(user)
    except TypingMindIdentityError as error:
        return {**widget, "note": str(error)}
    telemetry.note(typingmind_jti=code.jti)
    telemetry.token_outcome("typingmind", "minted")
    return {**widget, "code": code.token, "expires_at": code.expires_at_iso}


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def content_security_policy(sdk_url: str | None, widget_origin: str | None = None) -> str:
    """Scripts only from the broker, the SDK's and the widget's origins; no inline script.

    The stand-in SDK needs nothing else. Neither vendor documents what its script loads
    besides itself (styles, frames, API and socket connections), so with a real SDK or the
    TypingMind widget the other resource types are open to https while scripts stay pinned.
    """
    scripts = ["'self'"]
    if sdk_url is not None:
        scripts.append(_origin(sdk_url))
    if widget_origin is not None:
        scripts.append(widget_origin)
    if len(scripts) == 1:
        return (
            "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
            "img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
        )
    return (
        f"default-src 'none'; script-src {' '.join(scripts)}; "
        "style-src 'self' 'unsafe-inline' https:; "
        "connect-src 'self' https: wss:; img-src 'self' data: https:; "
        "font-src https: data:; frame-src https:; media-src https:; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )


def sandbox_sdk() -> Response:
    """The stand-in agent SDK (``static/sandbox-sdk.js``), at the path the page names."""
    # Flask types app.blueprints by the framework-neutral base; this app registered flask's.
    assets = cast(Blueprint, current_app.blueprints[ASSETS])
    return assets.send_static_file("sandbox-sdk.js")


def demo_blueprint(*, pipeline: bool) -> Blueprint:
    demo = token_routes(
        broker_blueprint(
            "broker_demo",
            __name__,
            pipeline=pipeline,
            url_prefix="/demo",
            template_folder="../templates",
        )
    )
    demo.add_url_rule("/login", view_func=login, methods=["POST"])
    demo.add_url_rule("/logout", view_func=logout, methods=["POST"])
    demo.add_url_rule("/", view_func=page, methods=["GET"])
    demo.add_url_rule("/sandbox-sdk.js", view_func=sandbox_sdk, methods=["GET"])
    return demo
