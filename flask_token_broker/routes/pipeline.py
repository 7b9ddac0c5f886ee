"""Every request's first and last step, one hook each.

In: the request's clock and its id. Out: the id echoed, the security headers set and the one
access line written. Both are registered on the standalone app (so a 404 outside any route is
answered the same way) and on every broker blueprint (so a host app that mounts the broker
gets them on the broker's routes only); whichever runs first does the work, the other returns
at once. One hook instead of a chain of five: Flask's per-hook dispatch was a visible share of
a request's cost.
"""

from __future__ import annotations

from flask import Blueprint, Flask, Response, g

from ..observability.logs import log_request, start_clock
from ..observability.request_ids import assign_request_id, echo_request_id
from ..protection.security_headers import add_security_headers


def begin_request() -> None:
    start_clock()
    assign_request_id()


def finish_response(response: Response) -> Response:
    if g.get("_finished"):
        return response
    g._finished = True
    add_security_headers(response)
    echo_request_id(response)
    log_request(response)
    return response


def register_request_pipeline(target: Flask | Blueprint) -> None:
    target.before_request(begin_request)
    target.after_request(finish_response)
