"""Request ids: one per request, in the response header, the error body and the log lines.

An incoming ``X-Request-ID`` from a load balancer is kept when it is a plausible id, so one
id follows a request across tiers; anything else is replaced, never echoed.
"""

from __future__ import annotations

import re
import uuid

from flask import Response, g, request

HEADER = "X-Request-ID"
VALID_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def assign_request_id() -> None:
    if "request_id" in g:
        return
    incoming = request.headers.get(HEADER, "")
    g.request_id = incoming if VALID_ID.fullmatch(incoming) else uuid.uuid4().hex


def echo_request_id(response: Response) -> Response:
    if "request_id" in g:
        response.headers[HEADER] = g.request_id
    return response
