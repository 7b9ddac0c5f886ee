"""``GET /api/getusertoken``: a fresh Mindset token for whoever the host app says is signed in."""

from __future__ import annotations

from flask import Response, jsonify

from ..broker import current_broker
from ..errors import FlowNotConfigured, NotSignedIn
from ..protection.cross_site import token_routes
from ..users import CurrentUser
from . import broker_blueprint

tokens = token_routes(broker_blueprint("broker_tokens", __name__))


def signed_in_user() -> CurrentUser:
    """The host app's signed-in user; only the configured resolver is ever consulted."""
    user = current_broker().resolve_user()
    if user is None:
        raise NotSignedIn()
    return user


def no_store(response: Response) -> Response:
    """Tokens are credentials: no browser, proxy or CDN may keep a copy."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


@tokens.get("/api/getusertoken")
def get_user_token() -> Response:
    broker = current_broker()
    if broker.mindset is None:
        raise FlowNotConfigured(
            "Mindset is not configured on this broker.",
            log_hint="set MINDSET_API_HOST, MINDSET_API_KEY and MINDSET_APP_UID",
        )
    token = broker.mindset.mint(signed_in_user())
    return no_store(jsonify(authToken=token))
