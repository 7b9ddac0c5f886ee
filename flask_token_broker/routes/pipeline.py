"""Every request's first and last step, one hook each.

In: the request's clock and its id. Out: the id echoed, the security headers set, the request
counted in the metrics (where the app serves them) and the one access line written.

The security headers tell browsers how little they may do with an
answer: the broker answers JSON (tokens, errors), and nothing in it should ever be rendered,
framed, sniffed into a script, or leak the page address it was called from.

The standalone broker registers the hooks on the app, so every request (a 404 outside any
route too) is answered the same way; in a host app they are on the broker's blueprints, so
they run for the broker's routes only. Either way they run once per request. One hook
instead of a chain of five: Flask's per-hook dispatch was a visible share of a request's cost.
"""

from __future__ import annotations

import time

from flask import Blueprint, Flask, Response, g

from ..observability.logs import REQUEST_ID_HEADER, assign_request_id
from ..observability.telemetry import finish_request

# For JSON answers: no content of any kind may load, and no page may frame them.
JSON_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
# JSON is read by fetch() with CORS; no page may pull it in as an image or script.
JSON_HEADERS = {
    "Content-Security-Policy": JSON_CSP,
    "Cross-Origin-Resource-Policy": "same-origin",
}
# (name, its lower-case form, value), worked out once: every answer goes through here.
# A JSON answer gets all five.
_ALWAYS = tuple((name, name.lower(), value) for name, value in HEADERS.items())
_FOR_JSON = _ALWAYS + tuple((name, name.lower(), value) for name, value in JSON_HEADERS.items())


def add_security_headers(response: Response) -> Response:
    """Set what a view has not set itself (an HTML page sets its own CSP).

    One pass over the answer's headers to see which are set, rather than a search of the
    header list for each of the five.
    """
    headers = response.headers
    present = {name.lower() for name in headers.keys()}  # noqa: SIM118 (Headers, not a dict)
    wanted = _FOR_JSON if response.is_json or response.status_code in (204, 304) else _ALWAYS
    for name, lower, value in wanted:
        if lower not in present:
            headers.add(name, value)
    return response


def begin_request() -> None:
    # When the request began, for the access line's duration_ms and the metrics.
    g.setdefault("_started", time.perf_counter())
    assign_request_id()


def finish_response(response: Response) -> Response:
    add_security_headers(response)
    if "request_id" in g:
        response.headers[REQUEST_ID_HEADER] = g.request_id
    finish_request(response)
    return response


def register_request_pipeline(target: Flask | Blueprint) -> None:
    target.before_request(begin_request)
    target.after_request(finish_response)
