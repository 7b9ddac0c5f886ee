"""Headers on every answer that tell browsers how little they may do with it.

The broker answers JSON (tokens, errors): nothing in it should ever be rendered, framed,
sniffed into a script, or leak the page address it was called from.
"""

from __future__ import annotations

from flask import Response

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
