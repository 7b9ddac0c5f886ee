"""TypingMind: ``GET /api/typingmind/authcode`` (JSON) and ``GET /typingmind/login`` (redirect).

Both sign an ``externalAuthCode`` for the signed-in user. The code is a credential: answers are
never cached, and the redirect, whose URL carries it, asks the browser not to pass it on in a
``Referer``.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from ..errors import InvalidIdentity
from ..observability import redaction, telemetry
from ..protection.cross_site import cross_site_navigation_allowed, token_routes
from ..state import Broker
from ..typingmind import AuthCode, TypingMindCodes, TypingMindIdentityError
from ..users import UserResolver
from .blueprint import broker_blueprint
from .tokens import no_store, signed_in_user


def _issue(codes: TypingMindCodes, resolve_user: UserResolver) -> AuthCode:
    user = signed_in_user(resolve_user)
    try:
        code = codes.issue(user)
    except TypingMindIdentityError as error:
        raise InvalidIdentity(
            str(error), log_hint="user without an email while TYPINGMIND_PAYLOAD=email"
        ) from error
    # The jti names the code in the log without revealing it; the code itself is masked.
    redaction.request_secret(code.token)
    telemetry.note(typingmind_jti=code.jti)
    telemetry.token_outcome("typingmind", "minted")
    return code


def typingmind_blueprint(broker: Broker, *, pipeline: bool) -> Blueprint:
    """TypingMind's routes on ``broker``'s app: the views hold the broker they serve."""

    def auth_code() -> Response:
        code = _issue(broker.typingmind_codes(), broker.resolve_user)
        return no_store(jsonify(externalAuthCode=code.token, expiresAt=code.expires_at_iso))

    @cross_site_navigation_allowed
    def login() -> Response:
        codes = broker.typingmind_codes()
        location = codes.login_url(_issue(codes, broker.resolve_user))
        # The code rides in the URL: no Referer may carry it on from wherever the user lands.
        return no_store(
            Response(status=302, headers={"Location": location, "Referrer-Policy": "no-referrer"})
        )

    typingmind = token_routes(broker_blueprint("broker_typingmind", __name__, pipeline=pipeline))
    typingmind.add_url_rule("/api/typingmind/authcode", view_func=auth_code, methods=["GET"])
    typingmind.add_url_rule("/typingmind/login", view_func=login, methods=["GET"])
    return typingmind
