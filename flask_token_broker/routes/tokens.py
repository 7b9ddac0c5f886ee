"""``GET /api/getusertoken``: a fresh Mindset token for whoever the host app says is signed in."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from ..errors import NotSignedIn
from ..protection.cross_site import token_routes
from ..state import Broker
from ..users import CurrentUser, UserResolver
from .blueprint import broker_blueprint


def signed_in_user(resolve_user: UserResolver) -> CurrentUser:
    """The host app's signed-in user; only the configured resolver is ever consulted."""
    user = resolve_user()
    if user is None:
        raise NotSignedIn()
    return user


def no_store(response: Response) -> Response:
    """Tokens are credentials: no browser, proxy or CDN may keep a copy."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


def tokens_blueprint(broker: Broker, *, pipeline: bool) -> Blueprint:
    """The token route of ``broker``'s app: the view holds the broker it serves."""

    def get_user_token() -> Response:
        # An unconfigured flow: mindset_tokens() raises the 404 that names its settings.
        mindset = broker.mindset or broker.mindset_tokens()
        token = mindset.mint(signed_in_user(broker.resolve_user))
        return no_store(jsonify(authToken=token))

    tokens = token_routes(broker_blueprint("broker_tokens", __name__, pipeline=pipeline))
    tokens.add_url_rule("/api/getusertoken", view_func=get_user_token, methods=["GET"])
    return tokens
