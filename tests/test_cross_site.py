"""Cross-site protection and CORS on the token routes and the demo login.

Careless changes these tests catch (``protection/cross_site.py``): an unknown
``Sec-Fetch-Site`` value let through instead of refused; ``same-site`` taken as
``same-origin``; an Origin compared with its case or spacing as sent; ``Access-Control-Allow-
Origin: *`` or an echoed unlisted origin; credentials allowed without a listed origin; the
CORS headers set on a 403; ``Vary: Origin`` dropped from an answer, or added twice; a
navigation allowed on a view not marked for it, or for an iframe or a POST; a preflight that
lets through a header outside the list; the cross-site check run after the user lookup or the
rate limit.
"""

from __future__ import annotations

import json
import time
from typing import Any

import jwt
import pytest
import responses
from flask import Blueprint, Flask, Response
from flask.testing import FlaskClient

from flask_token_broker.protection import cross_site
from flask_token_broker.protection.cross_site import cross_site_navigation_allowed, token_routes

from .conftest import AUTH_URL, KNOWN_SECRETS, LogLines, build_app, mindset_settings, sign_in

LISTED = "https://app.example.com"
OWN = "http://localhost"


@pytest.fixture
def settings() -> dict[str, str]:
    return mindset_settings(BROKER_CORS_ORIGINS=f"{LISTED}, https://other.example.com:8443")


@pytest.fixture
def vendor() -> Any:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.post(AUTH_URL, json={"authToken": "tok-cors"})
        yield mock


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 200),
        ({"Sec-Fetch-Site": "same-origin"}, 200),
        ({"Sec-Fetch-Site": "none"}, 200),
        ({"Sec-Fetch-Site": "same-origin", "Origin": OWN}, 200),
        ({"Origin": OWN}, 200),
        ({"Origin": LISTED, "Sec-Fetch-Site": "same-site"}, 200),
        ({"Origin": LISTED, "Sec-Fetch-Site": "cross-site"}, 200),
        ({"Origin": LISTED}, 200),
        ({"Origin": "HTTPS://APP.EXAMPLE.COM"}, 200),
        # A no-cors request from an unlisted sibling subdomain: no Origin, the Lax cookie sent.
        ({"Sec-Fetch-Site": "same-site"}, 403),
        ({"Sec-Fetch-Site": "same-site", "Origin": OWN}, 403),
        # Values the standard does not define fail closed, with or without an Origin.
        ({"Sec-Fetch-Site": "same-sites"}, 403),
        ({"Sec-Fetch-Site": ""}, 403),
        ({"Sec-Fetch-Site": "whatever", "Origin": LISTED}, 403),
        ({"Sec-Fetch-Site": "cross-site"}, 403),
        ({"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}, 403),
        ({"Sec-Fetch-Site": "same-site", "Origin": "https://evil.example.com"}, 403),
        ({"Origin": "https://evil.example"}, 403),
        ({"Origin": "null"}, 403),
        ({"Origin": "https://app.example.com.evil.example"}, 403),
        ({"Origin": "http://app.example.com"}, 403),
        ({"Origin": "https://app.example.com:444"}, 403),
        ({"Origin": ""}, 403),
    ],
)
def test_who_may_ask_for_a_token(
    client: FlaskClient, vendor: Any, headers: dict[str, str], status: int
) -> None:
    sign_in(client, "ada")
    response = client.get("/api/getusertoken", headers=headers)
    assert response.status_code == status
    assert "Origin" in response.headers.get("Vary", "")
    if status == 403:
        body = response.get_json()
        assert body["error"] == "cross_site"
        assert body["retryable"] is False
        assert "Retry-After" not in response.headers
        assert "Access-Control-Allow-Origin" not in response.headers
        assert len(vendor.calls) == 0


def test_a_listed_origin_gets_credentialed_cors_for_exactly_itself(
    client: FlaskClient, vendor: Any
) -> None:
    sign_in(client, "ada")
    response = client.get("/api/getusertoken", headers={"Origin": LISTED})
    assert response.headers["Access-Control-Allow-Origin"] == LISTED
    assert response.headers["Access-Control-Allow-Credentials"] == "true"
    assert "Retry-After" in response.headers["Access-Control-Expose-Headers"]


@pytest.mark.parametrize("site", [None, "same-site", "cross-site"])
def test_a_listed_origin_gets_cors_whatever_sec_fetch_site_says(
    client: FlaskClient, vendor: Any, site: str | None
) -> None:
    # A single-page app on another site, signed in with a bearer token, sends cross-site.
    sign_in(client, "ada")
    headers = {"Origin": LISTED} | ({"Sec-Fetch-Site": site} if site else {})
    response = client.get("/api/getusertoken", headers=headers)
    assert response.status_code == 200
    assert response.get_json() == {"authToken": "tok-cors"}
    assert response.headers["Access-Control-Allow-Origin"] == LISTED
    assert response.headers["Access-Control-Allow-Credentials"] == "true"


def test_a_listed_origins_cross_site_preflight_is_answered(
    client: FlaskClient, vendor: Any
) -> None:
    response = client.options(
        "/api/getusertoken",
        headers={
            "Origin": LISTED,
            "Sec-Fetch-Site": "cross-site",
            "Access-Control-Request-Method": "GET",
        },
    )
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == LISTED


def test_a_cross_site_front_end_signs_in_with_a_jwt_bearer_token(vendor: Any) -> None:
    # The session cookie is SameSite=Lax and never reaches another site's fetch: a single-page
    # app there sends the jwt resolver's bearer token, which needs the preflight to allow it.
    secret = "a-jwt-secret-for-the-cross-site-front-end-0123456789"
    KNOWN_SECRETS.add(secret)
    client = build_app(
        mindset_settings(
            BROKER_CORS_ORIGINS=LISTED, BROKER_USER_RESOLVER="jwt", BROKER_JWT_SECRET=secret
        )
    ).test_client()
    cross_site = {"Origin": LISTED, "Sec-Fetch-Site": "cross-site"}
    preflight = client.options(
        "/api/getusertoken",
        headers={
            **cross_site,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        },
    )
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Headers"] == "authorization"
    token = jwt.encode({"sub": "ada", "exp": int(time.time()) + 60}, secret, algorithm="HS256")
    response = client.get(
        "/api/getusertoken", headers={**cross_site, "Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == LISTED


@pytest.mark.parametrize("origin", [None, OWN, "https://evil.example"])
def test_unlisted_or_own_origins_get_no_cors_headers(
    client: FlaskClient, vendor: Any, origin: str | None
) -> None:
    sign_in(client, "ada")
    headers = {"Origin": origin} if origin else {}
    response = client.get("/api/getusertoken", headers=headers)
    assert "Access-Control-Allow-Origin" not in response.headers
    assert "Access-Control-Allow-Credentials" not in response.headers


def test_error_answers_to_a_listed_origin_are_readable_by_it(
    client: FlaskClient, vendor: Any
) -> None:
    response = client.get("/api/getusertoken", headers={"Origin": LISTED})
    assert response.status_code == 401
    assert response.headers["Access-Control-Allow-Origin"] == LISTED


def test_a_listed_origins_preflight_is_answered(client: FlaskClient, vendor: Any) -> None:
    response = client.options(
        "/api/getusertoken",
        headers={
            "Origin": "https://other.example.com:8443",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "X-Request-ID, X-Evil",
        },
    )
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == "https://other.example.com:8443"
    assert response.headers["Access-Control-Allow-Credentials"] == "true"
    assert "GET" in response.headers["Access-Control-Allow-Methods"]
    assert response.headers["Access-Control-Allow-Headers"] == "X-Request-ID"
    assert "Origin" in response.headers["Vary"]
    assert len(vendor.calls) == 0


def test_an_unlisted_origins_preflight_is_refused(client: FlaskClient, vendor: Any) -> None:
    response = client.options(
        "/api/getusertoken",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
    )
    assert response.status_code == 403
    assert "Access-Control-Allow-Origin" not in response.headers


def test_no_wildcard_is_ever_answered(vendor: Any) -> None:
    client = build_app(mindset_settings()).test_client()
    for origin in (LISTED, "https://evil.example", "*"):
        response = client.get("/api/getusertoken", headers={"Origin": origin})
        assert response.headers.get("Access-Control-Allow-Origin") != "*"


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Sec-Fetch-Site": "cross-site"}, 403),
        ({"Origin": "https://evil.example"}, 403),
        ({"Sec-Fetch-Site": "same-origin", "Origin": OWN}, 200),
        ({}, 200),
    ],
)
def test_the_demo_login_is_protected_the_same_way(headers: dict[str, str], status: int) -> None:
    client = build_app(mindset_settings(BROKER_DEMO_LOGIN="1")).test_client()
    response = client.post("/demo/login", data={"external_id": "ada"}, headers=headers)
    assert response.status_code == status
    if status == 403:
        # Login CSRF: the refused request must not have signed anybody in.
        assert client.get_cookie("session") is None


def test_the_openapi_document_is_not_a_token_route(client: FlaskClient) -> None:
    response = client.get("/openapi.json", headers={"Sec-Fetch-Site": "cross-site"})
    assert response.status_code == 200


def test_a_10_kb_origin_is_cut_short_in_the_log_line(
    client: FlaskClient, vendor: Any, broker_logs: LogLines
) -> None:
    response = client.get("/api/getusertoken", headers={"Origin": "https://" + "o" * 10_000})
    assert response.status_code == 403
    (line,) = [line for line in broker_logs if "cross_site: refused" in line]
    assert "o" * 50 in line
    assert "o" * 65 not in line
    assert "more characters" in line


def probe_app(**extra: str) -> Flask:
    """An app with a blueprint made protected inside the test, not at import time.

    ``token_routes`` and ``cross_site_navigation_allowed`` run when a blueprint module is
    imported; calling them here checks what they do to a blueprint and a view of its own.
    """
    app = build_app(mindset_settings(BROKER_CORS_ORIGINS=LISTED, **extra))
    probe = token_routes(Blueprint("probe", __name__))

    @probe.route("/probe/navigation", methods=["GET", "POST"])
    @cross_site_navigation_allowed
    def navigation() -> str:
        return "navigated"

    @probe.get("/probe/fetch")
    def fetch() -> str:
        return "fetched"

    app.register_blueprint(probe)
    return app


NAVIGATE = {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate"}


@pytest.mark.parametrize(
    ("method", "path", "headers", "status"),
    [
        ("GET", "/probe/navigation", NAVIGATE, 200),
        ("GET", "/probe/navigation", {**NAVIGATE, "Sec-Fetch-Dest": "document"}, 200),
        ("GET", "/probe/navigation", {**NAVIGATE, "Sec-Fetch-Mode": "NAVIGATE"}, 200),
        ("GET", "/probe/navigation", {**NAVIGATE, "Sec-Fetch-Dest": "Document"}, 200),
        # Only a top-level document navigation: not a frame, not a fetch, not a form post.
        ("GET", "/probe/navigation", {**NAVIGATE, "Sec-Fetch-Dest": "iframe"}, 403),
        ("GET", "/probe/navigation", {**NAVIGATE, "Sec-Fetch-Mode": "cors"}, 403),
        ("GET", "/probe/navigation", {"Sec-Fetch-Site": "cross-site"}, 403),
        ("POST", "/probe/navigation", NAVIGATE, 403),
        # An unmarked view of the same blueprint takes no navigation from another site.
        ("GET", "/probe/fetch", NAVIGATE, 403),
        ("GET", "/probe/fetch", {"Sec-Fetch-Site": "same-origin"}, 200),
    ],
)
def test_only_a_marked_view_takes_top_level_navigations_from_other_sites(
    method: str, path: str, headers: dict[str, str], status: int
) -> None:
    response = probe_app().test_client().open(path, method=method, headers=headers)
    assert response.status_code == status
    if status == 403:
        assert response.get_json()["error"] == "cross_site"


def test_a_blueprint_made_a_token_route_gets_cors_and_the_rate_limits() -> None:
    client = probe_app(BROKER_RATE_LIMIT_PER_IP="2/minute").test_client()
    listed = client.get("/probe/fetch", headers={"Origin": LISTED, "Sec-Fetch-Site": "cross-site"})
    assert listed.status_code == 200
    assert listed.headers["Access-Control-Allow-Origin"] == LISTED
    assert client.get("/probe/fetch").status_code == 200
    limited = client.get("/probe/fetch")
    assert limited.status_code == 429
    assert limited.get_json()["error"] == "rate_limited"


@pytest.mark.parametrize(
    ("headers", "why"),
    [
        ({"Sec-Fetch-Site": "sideways"}, "an unknown Sec-Fetch-Site value"),
        ({"Sec-Fetch-Site": "same-site"}, "Sec-Fetch-Site same-site"),
        ({"Sec-Fetch-Site": "cross-site"}, "Sec-Fetch-Site cross-site"),
        ({}, "an origin that is not allowed"),
    ],
)
def test_a_refusal_is_logged_with_its_reason_the_origin_and_the_setting_to_fix(
    client: FlaskClient, vendor: Any, broker_logs: LogLines, headers: dict[str, str], why: str
) -> None:
    response = client.get(
        "/api/getusertoken", headers={"Origin": "https://evil.example", **headers}
    )
    assert response.status_code == 403
    assert response.get_json()["message"] == (
        "This endpoint answers only pages of the host application's own site."
    )
    (line,) = [json.loads(line) for line in broker_logs if "cross_site: refused" in line]
    assert line["msg"] == (
        f"cross_site: refused a request with {why} (Origin 'https://evil.example'); list the "
        "origin in BROKER_CORS_ORIGINS if it is the host app's"
    )
    assert (line["error_code"], line["status"]) == ("cross_site", 403)


def test_a_preflight_answers_the_methods_headers_and_how_long_to_keep_them(
    client: FlaskClient, vendor: Any
) -> None:
    response = client.options(
        "/api/getusertoken",
        headers={
            "Origin": LISTED,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "Authorization, content-type",
        },
    )
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Methods"] == response.headers["Allow"]
    assert {"GET", "OPTIONS"} <= set(response.headers["Allow"].split(", "))
    assert response.headers["Access-Control-Allow-Headers"] == "Authorization, content-type"
    assert response.headers["Access-Control-Max-Age"] == "600"


def test_a_preflight_asking_for_no_headers_is_allowed_none(
    client: FlaskClient, vendor: Any
) -> None:
    response = client.options(
        "/api/getusertoken",
        headers={"Origin": LISTED, "Access-Control-Request-Method": "GET"},
    )
    assert response.status_code == 204
    assert "Access-Control-Allow-Headers" not in response.headers


def test_a_listed_origin_may_read_exactly_the_retry_and_request_id_headers(
    client: FlaskClient, vendor: Any
) -> None:
    sign_in(client, "ada")
    response = client.get("/api/getusertoken", headers={"Origin": f" {LISTED} "})
    assert response.headers["Access-Control-Allow-Origin"] == LISTED
    assert response.headers["Access-Control-Expose-Headers"] == "Retry-After, X-Request-ID"
    assert "Origin" in response.headers["Vary"].split(", ")


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (None, "Origin"),
        ("Accept-Encoding", "Accept-Encoding, Origin"),
        ("Cookie, Accept-Encoding", "Cookie, Accept-Encoding, Origin"),
        ("accept-encoding, ORIGIN", "accept-encoding, ORIGIN"),
        ("origin,Cookie", "origin,Cookie"),
        ("Cookie ,  ORIGIN", "Cookie ,  ORIGIN"),
        ("Origins", "Origins, Origin"),
        ("*", "*, Origin"),
    ],
)
def test_origin_joins_what_an_answer_already_varies_on(before: str | None, after: str) -> None:
    response = Response()
    if before is not None:
        response.headers["Vary"] = before
    cross_site._vary_on_origin(response)
    assert response.headers.getlist("Vary") == [after]
