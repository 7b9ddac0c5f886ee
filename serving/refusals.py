"""The server's own answers, for requests the broker never sees, in the broker's JSON shape.

The body has the four keys of ``flask_token_broker.errors.error_response``
(error, message, request_id,
retryable), built here without Flask since these answers are written by the server before any
app code runs. The request id is fresh and logged with the refusal, so a client's report
still leads to the log line.
"""

from __future__ import annotations

import json
import logging
import socket
import uuid
from typing import Any

from .overload import OVERLOAD_RETRY_AFTER, Overloaded

# Seconds a refusal's answer gets to leave before the connection is closed for good.
REFUSAL_LINGER = 1.0

log = logging.getLogger("broker.server")


class HeaderTimeout(Exception):
    """A request's line and headers did not all arrive within BROKER_HEADER_TIMEOUT."""


# status, reason, code (as the app names Werkzeug's errors), message
Refusal = tuple[int, str, str, str]
INTERNAL = (500, "Internal Server Error", "internal_error", "The broker failed unexpectedly.")
REQUEST_TIMEOUT = (
    408,
    "Request Timeout",
    "request_timeout",
    "The request's headers did not arrive in time; send the whole request at once.",
)
BAD_REQUEST = (
    400,
    "Bad Request",
    "bad_request",
    "The request is not valid HTTP/1.1 (request line, header or body framing).",
)
OVERLOADED = (
    503,
    "Service Unavailable",
    "overloaded",
    "The broker is busy with other requests; try again after Retry-After seconds.",
)
URI_TOO_LONG = (414, "URI Too Long", "request_uri_too_large", "The request line is too long.")
HEADERS_TOO_LARGE = (
    431,
    "Request Header Fields Too Large",
    "request_header_fields_too_large",
    "The request has too many headers, or a header that is too large.",
)
EXPECTATION_FAILED = (
    417,
    "Expectation Failed",
    "expectation_failed",
    "Only 'Expect: 100-continue' works.",
)
NOT_IMPLEMENTED = (
    501,
    "Not Implemented",
    "not_implemented",
    "This Transfer-Encoding is not supported.",
)
_OVERLOAD_HINT = (
    "the worker holds BROKER_MAX_IN_FLIGHT requests already; if this is the usual load, "
    "add workers or instances"
)


def refusal_bytes(status: int, reason: str, code: str, message: str, request_id: str) -> bytes:
    # Retryable answers carry Retry-After, as the app's error_response does.
    retryable = status == OVERLOADED[0]
    body = json.dumps(
        {"error": code, "message": message, "request_id": request_id, "retryable": retryable}
    ).encode()
    retry_after = f"Retry-After: {OVERLOAD_RETRY_AFTER}\r\n" if retryable else ""
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        "Connection: close\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Cache-Control: no-store\r\n"
        "X-Content-Type-Options: nosniff\r\n"
        f"X-Request-ID: {request_id}\r\n"
        f"{retry_after}"
        "\r\n"
    )
    return head.encode() + body  # the head is ASCII: our own status, reason and request id


def refuse(client: Any, error: BaseException, answer: Refusal) -> None:
    """Log the refusal of ``error`` and send ``answer``; the caller closes the connection.

    Only the error's type is logged: gunicorn's message would quote the client's request line,
    whose query string may carry a credential.
    """
    status, reason, code, message = answer
    request_id = uuid.uuid4().hex
    if status == 500:
        log.error(
            "server error %s before the app answered",
            type(error).__name__,
            exc_info=error,
            extra={"request_id": request_id, "status": status, "error_code": code},
        )
    else:
        log.info(
            "refused %s: %s",
            code,
            _OVERLOAD_HINT if isinstance(error, Overloaded) else type(error).__name__,
            extra={"request_id": request_id, "status": status, "error_code": code},
        )
    try:
        # A client that stops reading must not hold the worker: one non-blocking attempt.
        client.setblocking(False)
        client.send(refusal_bytes(status, reason, code, message, request_id))
    except (OSError, ValueError):
        log.debug("could not send the %s refusal", status)


def close_quietly(client: socket.socket) -> None:
    try:
        client.close()
    except OSError:
        log.debug("closing a refused connection failed")
