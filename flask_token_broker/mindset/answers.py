"""What a vendor answer means: a refused redirect, a body read within bounds, the token in it.

Only a 2xx answer's body is read, in single socket reads each given only the time left and at
most :data:`MAX_BODY_BYTES` in all; the token must be a short printable string.
"""

from __future__ import annotations

import json
import time

import requests

from ..redirects import redirect_target
from .deadline import AttemptOverrun
from .errors import MindsetBadResponse, error_for_status
from .transport import response_socket

# A token is a short credential; anything longer is not one.
MAX_TOKEN_LENGTH = 16_384
# A token answer is small; a body beyond this is not one, and is not read to its end.
MAX_BODY_BYTES = 64 * 1024


def token_in(response: requests.Response, deadline: float) -> str:
    """The token of a 2xx answer, or the ``MindsetError`` the answer means.

    No answer but a 2xx is read: the others' bodies may be anything, of any size.
    """
    status = response.status_code
    if 300 <= status < 400:
        location = response.headers.get("Location")  # pragma: no mutate
        raise redirect_refused(status, location)
    # (A 300 never gets here: "<= 300" or "< 301" would be the same test.)
    if not 200 <= status < 300:  # pragma: no mutate
        # Any case of the name finds the header.
        retry_after = response.headers.get("Retry-After")  # pragma: no mutate
        raise error_for_status(status, retry_after)
    return token_from(status, bounded_body(response, deadline))


def redirect_refused(status: int, location: str | None) -> MindsetBadResponse:
    """A redirect is never followed: it would send the API key and the user to another host.

    The log names the target's host only (:mod:`flask_token_broker.redirects`).
    """
    return MindsetBadResponse(
        f"Mindset answered HTTP {status}, a redirect to {redirect_target(location)}, which "
        "the broker never follows; check MINDSET_API_HOST is the API host the Mindset team "
        "gave you",
        status=status,
    )


def bounded_body(response: requests.Response, deadline: float) -> bytes:
    """The response body, read in single socket reads each given only the time left, to the
    read that finds its end (for a complete ``Content-Length`` body urllib3 answers that one
    without touching the socket)."""
    raw = response.raw
    if raw is None:  # a transport that answers without urllib3 has already read it
        return response.content
    sock = response_socket(raw)
    chunks: list[bytes] = []
    size = 0
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AttemptOverrun()
        if sock is not None:
            sock.settimeout(remaining)
        chunk = raw.read1(MAX_BODY_BYTES + 1 - size)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise MindsetBadResponse(
                f"Mindset answered with a body over {MAX_BODY_BYTES} bytes; "
                "check MINDSET_API_HOST points at the Mindset API"
            )
        chunks.append(chunk)


def token_from(status: int, body: bytes) -> str:
    try:
        data = json.loads(body)
    except ValueError:
        raise MindsetBadResponse(
            f"Mindset answered HTTP {status} with a body that is not JSON; "
            "check MINDSET_API_HOST points at the Mindset API"
        ) from None
    token = data.get("authToken") if isinstance(data, dict) else None
    if not isinstance(token, str) or not 0 < len(token) <= MAX_TOKEN_LENGTH:
        raise MindsetBadResponse(f"Mindset answered HTTP {status} without a usable authToken")
    if not token.isprintable() or token != token.strip():
        raise MindsetBadResponse("Mindset's authToken holds unprintable characters")
    return token
