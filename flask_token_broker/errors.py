"""The broker's answers to everything that is not a token.

Every failure the caller sees has one JSON shape, built by :func:`error_response`::

    {"error": "<snake_case_code>", "message": "<what happened, what to do>",
     "request_id": "<also in the log line>", "retryable": true|false}

Retryable answers also carry a ``Retry-After`` header, so a browser knows when to try again
and, as importantly, a final answer (401, 403, 422, 502) tells it to stop.

Error tree::

    BrokerError
    ├── NotSignedIn          401 not_signed_in
    ├── FlowNotConfigured    404 not_configured
    ├── InvalidIdentity      422 invalid_identity
    ├── VendorRejected       502 vendor_rejected
    ├── VendorBadResponse    502 vendor_bad_response
    ├── VendorUnavailable    503 vendor_unavailable   (retryable)
    ├── VendorTimeout        504 vendor_timeout       (retryable)
    ├── UserResolverFailed   500 user_resolver_failed
    └── IdentityProviderUnavailable
                             503 identity_provider_unavailable (retryable)

A request for a Host not in ``BROKER_ALLOWED_HOSTS`` is ``400 invalid_host``.
"""

from __future__ import annotations

import logging
import math

from flask import Blueprint, Flask, Response, g, jsonify, request
from werkzeug.exceptions import HTTPException, SecurityError

log = logging.getLogger("broker.errors")

# How long a browser should wait after a vendor hiccup that came without its own Retry-After.
DEFAULT_RETRY_AFTER = 2.0


class BrokerError(Exception):
    """A failure with a documented status, code and message for the caller.

    ``message`` goes to the caller and must never contain secrets or vendor bodies;
    ``log_hint`` goes to the operator's log only and says which setting to check.
    """

    status = 500
    code = "internal_error"
    retryable = False
    default_message = "The broker failed unexpectedly; try again later."

    def __init__(
        self,
        message: str | None = None,
        *,
        log_hint: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.message = message or self.default_message
        self.log_hint = log_hint
        self.retry_after = retry_after
        super().__init__(self.message)


class NotSignedIn(BrokerError):
    status = 401
    code = "not_signed_in"
    default_message = "Nobody is signed in: sign in to the host application, then try again."


class FlowNotConfigured(BrokerError):
    status = 404
    code = "not_configured"
    default_message = "This flow is not configured on this broker."


class InvalidIdentity(BrokerError):
    status = 422
    code = "invalid_identity"
    default_message = "The signed-in user cannot be described to the vendor."


class VendorRejected(BrokerError):
    status = 502
    code = "vendor_rejected"
    default_message = (
        "The agent vendor refused the broker's credentials or request; "
        "the operator must fix the broker's configuration."
    )


class VendorBadResponse(BrokerError):
    status = 502
    code = "vendor_bad_response"
    default_message = "The agent vendor answered with something that is not a token."


class VendorUnavailable(BrokerError):
    status = 503
    code = "vendor_unavailable"
    retryable = True
    default_message = "The agent vendor is unavailable; try again after Retry-After seconds."


class VendorTimeout(BrokerError):
    status = 504
    code = "vendor_timeout"
    retryable = True
    default_message = "The agent vendor did not answer in time; try again shortly."


class UserResolverFailed(BrokerError):
    """The host's own resolver raised: the host app has a bug, the log line names it."""

    status = 500
    code = "user_resolver_failed"
    default_message = (
        "The broker could not work out who is signed in; the operator must check the "
        "host application's user resolver."
    )


class IdentityProviderUnavailable(BrokerError):
    """The identity provider's signing keys (JWKS) could not be fetched."""

    status = 503
    code = "identity_provider_unavailable"
    retryable = True
    default_message = (
        "The identity provider's signing keys could not be fetched; try again after "
        "Retry-After seconds."
    )


def request_id() -> str:
    """The current request's id, or ``-`` outside a request."""
    return str(g.get("request_id", "-")) if g else "-"


def error_response(
    status: int,
    code: str,
    message: str,
    *,
    retryable: bool = False,
    retry_after: float | None = None,
) -> Response:
    """The one JSON error shape. Every error path of the broker goes through here."""
    response = jsonify(error=code, message=message, request_id=request_id(), retryable=retryable)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    if retryable:
        wait = DEFAULT_RETRY_AFTER if retry_after is None else retry_after
        response.headers["Retry-After"] = str(max(1, math.ceil(wait)))
    return response


def broker_error_response(error: BrokerError) -> Response:
    level = logging.WARNING if error.status >= 500 else logging.INFO
    log.log(
        level,
        "%s: %s",
        error.code,
        error.log_hint or error.message,
        extra={"error_code": error.code, "status": error.status},
    )
    return error_response(
        error.status,
        error.code,
        error.message,
        retryable=error.retryable,
        retry_after=error.retry_after,
    )


def http_error_response(error: HTTPException) -> Response:
    """Werkzeug's 404/405/400... as JSON, keeping headers such as ``Allow``."""
    code = (error.name or "error").lower().replace(" ", "_").replace("'", "")
    response = error_response(error.code or 500, code, error.description or error.name)
    for name, value in error.get_headers():
        if name.lower() not in ("content-type", "content-length"):
            response.headers[name] = value
    return response


# Longest attacker-chosen value (a Host, a JWT kid) quoted in a log line.
MAX_LOGGED_VALUE = 64


def clipped(value: object, limit: int = MAX_LOGGED_VALUE) -> str:
    """``value`` for a log line: its ``repr``, cut to ``limit`` characters with a marker.

    For values a caller chooses: a 10 KB header must not become a 10 KB log line.
    """
    text = repr(value)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}...[{len(text) - limit} more characters]"


def invalid_host_response(error: SecurityError) -> Response:
    """Werkzeug refused the Host (``TRUSTED_HOSTS``); nothing of it goes back to the caller."""
    log.info(
        "invalid_host: refused a request for Host %s; add it to BROKER_ALLOWED_HOSTS if the "
        "broker is meant to answer for it",
        clipped(request.headers.get("Host", "")),
        extra={"error_code": "invalid_host", "status": 400},
    )
    return error_response(
        400,
        "invalid_host",
        "This server does not answer for that host name.",
    )


def unexpected_error_response(error: Exception) -> Response:
    # The exception's text may quote inputs; only its type reaches the log, with the traceback
    # going through the logging layer's redaction.
    log.exception("unexpected %s", type(error).__name__)
    return error_response(500, BrokerError.code, BrokerError.default_message)


def register_blueprint_error_handlers(blueprint: Blueprint) -> None:
    """On the broker's own blueprints only, so a host app's error pages stay untouched."""
    blueprint.register_error_handler(BrokerError, broker_error_response)
    blueprint.register_error_handler(HTTPException, http_error_response)
    blueprint.register_error_handler(Exception, unexpected_error_response)


def register_app_error_handlers(app: Flask) -> None:
    """For the standalone broker: routing errors (404, 405) and a refused Host (400) happen
    before any blueprint."""
    app.register_error_handler(SecurityError, invalid_host_response)
    app.register_error_handler(BrokerError, broker_error_response)
    app.register_error_handler(HTTPException, http_error_response)
    app.register_error_handler(Exception, unexpected_error_response)
