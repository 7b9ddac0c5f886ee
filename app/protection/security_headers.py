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


def add_security_headers(response: Response) -> Response:
    """``after_request``: set what a view has not set itself (an HTML page sets its own CSP)."""
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    if response.is_json or response.status_code in (204, 304):
        response.headers.setdefault("Content-Security-Policy", JSON_CSP)
        # JSON is read by fetch() with CORS; no page may pull it in as an image or script.
        response.headers.setdefault("Cross-Origin-Resource-Policy", "same-origin")
    return response
