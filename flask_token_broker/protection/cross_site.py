"""Cross-site protection and CORS for the routes that hand out credentials.

The browser's session cookie authenticates a token request, so a page on another site must
not be able to make the user's browser ask for one and read (or use) the answer. Rules, in
order:

- an ``Origin`` listed in ``BROKER_CORS_ORIGINS`` (exact ``scheme://host[:port]``): allowed
  with CORS, whatever ``Sec-Fetch-Site`` says (``same-site`` or ``cross-site``): the operator
  listed it, and a single-page app on another site using bearer tokens needs exactly that;
- a view marked :func:`cross_site_navigation_allowed` also takes top-level ``GET``
  navigations from other sites (a link on TypingMind to ``/typingmind/login``);
- ``Sec-Fetch-Site: same-origin`` or ``none`` (typed URL, bookmark): allowed;
- ``Sec-Fetch-Site: same-site`` (an unlisted sibling subdomain, which the ``SameSite=Lax``
  cookie does reach), ``cross-site``, or any value the browser standard does not define:
  ``403 cross_site``; an unknown value fails closed;
- no ``Sec-Fetch-Site`` and an ``Origin`` that is neither the broker's own nor listed:
  ``403 cross_site``;
- neither header (curl, server-to-server): allowed; those callers carry no victim's cookie.

Listed origins get CORS with credentials: the exact origin echoed (never ``*``),
``Access-Control-Allow-Credentials: true``, preflights answered, and ``Vary: Origin`` on every
answer so no cache hands one origin's answer to another. The session cookie is
``SameSite=Lax``, so browsers send it only to same-site origins: list sibling hosts such as
``https://app.example.com`` for a broker on ``https://auth.example.com``; a front end on
another site reaches the broker with the ``jwt`` resolver's bearer token instead.

A blueprint opts in with :func:`token_routes`, which also applies the rate limits.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Blueprint, Response, current_app, request
from werkzeug.datastructures import HeaderSet

from ..errors import clipped, error_response
from ..state import current_broker
from .rate_limits import rate_limited

log = logging.getLogger("broker.cross_site")

ALLOWED_SITES = frozenset({"same-origin", "none"})
# Every value the Fetch Metadata standard defines; anything else is refused, not guessed at.
KNOWN_SITES = frozenset({"same-origin", "none", "same-site", "cross-site"})
# Request headers a listed origin may send on token routes; Authorization carries the ``jwt``
# resolver's bearer token, the one way a front end on another site can sign in.
ALLOWED_HEADERS = frozenset({"authorization", "content-type", "x-request-id"})
# Response headers a cross-origin caller may read: when to retry, and the id for bug reports.
EXPOSED_HEADERS = ("Retry-After", "X-Request-ID")
PREFLIGHT_MAX_AGE = 600
_NAVIGATION_MARK = "_broker_cross_site_navigation"

View = TypeVar("View", bound=Callable[..., Any])


def cross_site_navigation_allowed(view: View) -> View:
    """Let other sites send the browser to this route by a top-level ``GET`` navigation.

    For redirects into another service (``/typingmind/login``): the other service links users
    here, a navigation cannot read the answer, and fetches from other sites stay refused.
    """
    setattr(view, _NAVIGATION_MARK, True)
    return view


def _navigation_allowed() -> bool:
    # A blueprint's hooks run only for its matched routes, so the endpoint is never None here.
    endpoint = request.endpoint or ""  # pragma: no mutate
    view = current_app.view_functions.get(endpoint)
    # Header names are case-insensitive: the other spellings of these literals name them too.
    mode = request.headers.get("Sec-Fetch-Mode")  # pragma: no mutate
    dest = request.headers.get("Sec-Fetch-Dest")  # pragma: no mutate
    return (
        view is not None
        and vars(view).get(_NAVIGATION_MARK) is True
        and request.method == "GET"
        and mode is not None
        and mode.lower() == "navigate"
        # Browsers that send no Sec-Fetch-Dest send no Fetch Metadata at all; with it, only a
        # document (not an iframe, image or script) is a top-level navigation.
        and (dest is None or dest.lower() == "document")
    )


def token_routes(blueprint: Blueprint) -> Blueprint:
    """Protect every route of ``blueprint``: cross-site refusal, CORS and the rate limits.

    Call it right after creating the blueprint, before it is registered on an app.
    """
    blueprint.before_request(refuse_cross_site)
    blueprint.after_request(add_cors_headers)
    return rate_limited(blueprint)


def _vary_on_origin(response: Response) -> None:
    """``Vary: Origin`` added to what the answer varies on (``response.vary.add``, without
    parsing the header into a set on every answer that has none yet)."""
    # Header names are case-insensitive (Werkzeug and HTTP): their case is not behaviour.
    vary = response.headers.get("Vary")  # pragma: no mutate (name case only)
    if vary is None:
        response.headers["Vary"] = "Origin"  # pragma: no mutate (name case only)
    elif "origin" not in {part.strip().lower() for part in vary.split(",")}:
        response.headers["Vary"] = f"{vary}, Origin"  # pragma: no mutate (name case only)


def _own_origin() -> str:
    return f"{request.scheme}://{request.host}".lower()


def _listed_origins() -> tuple[str, ...]:
    return current_broker().settings.protection.cors_origins


def _origin() -> str | None:
    origin = request.origin
    return _normalized(origin) if origin is not None else None


def _normalized(origin: str) -> str:
    return origin.strip().lower()


def _listed(origin: str | None) -> bool:
    return origin is not None and origin != _own_origin() and origin in _listed_origins()


def refuse_cross_site() -> Response | None:
    """``before_request``: 403 for cross-site callers, the answer to an allowed preflight."""
    raw_site = request.headers.get("Sec-Fetch-Site")  # pragma: no mutate (names ignore case)
    site = None if raw_site is None else raw_site.strip().lower()
    origin = _origin()
    if site is not None and site not in KNOWN_SITES:
        return _refuse("an unknown Sec-Fetch-Site value", origin)
    if _listed(origin):
        return _preflight() if request.method == "OPTIONS" else None
    if _navigation_allowed() or site in ALLOWED_SITES:
        return None
    if site is not None:
        # same-site without a listed Origin: a sibling subdomain the operator did not list
        # (a no-cors request sends no Origin, yet carries the Lax cookie); or cross-site.
        return _refuse(f"Sec-Fetch-Site {site}", origin)
    if origin is not None and origin != _own_origin():
        return _refuse("an origin that is not allowed", origin)
    return None


def _refuse(why: str, origin: str | None) -> Response:
    log.info(
        "cross_site: refused a request with %s (Origin %s); list the origin in "
        "BROKER_CORS_ORIGINS if it is the host app's",
        why,
        clipped(origin),
        extra={"error_code": "cross_site", "status": 403},
    )
    return error_response(
        403,
        "cross_site",
        "This endpoint answers only pages of the host application's own site.",
    )


def _preflight() -> Response:
    response = current_app.make_default_options_response()
    response.status_code = 204
    # Werkzeug's typed CORS properties spell the header names; the values are what is decided.
    wanted = request.access_control_request_headers or ()
    allowed = [name for name in wanted if name.lower() in ALLOWED_HEADERS]
    response.access_control_allow_methods = response.allow
    if allowed:
        response.access_control_allow_headers = HeaderSet(allowed)
    response.access_control_max_age = PREFLIGHT_MAX_AGE
    return response


def add_cors_headers(response: Response) -> Response:
    """``after_request``: CORS for listed origins; ``Vary: Origin`` on every answer."""
    _vary_on_origin(response)
    sent = request.origin
    if sent is not None and _listed(_normalized(sent)) and response.status_code != 403:
        response.access_control_allow_origin = sent.strip()
        response.access_control_allow_credentials = True
        response.access_control_expose_headers = HeaderSet(EXPOSED_HEADERS)
    return response
