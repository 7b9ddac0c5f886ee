"""Cross-site protection and CORS on the token routes and the demo login."""

from __future__ import annotations

from typing import Any

import pytest
import responses
from flask.testing import FlaskClient

from .conftest import AUTH_URL, build_app, mindset_settings, sign_in

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
        ({"Origin": LISTED}, 200),
        ({"Origin": "HTTPS://APP.EXAMPLE.COM"}, 200),
        ({"Sec-Fetch-Site": "same-site"}, 200),
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
