"""Hostile or broken input never produces a 500: every answer is a documented JSON one."""

from __future__ import annotations

from typing import Any

import pytest
import responses
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .conftest import AUTH_URL, build_app, mindset_settings, sign_in

ROUTES = ("/api/getusertoken", "/demo/login", "/demo/logout", "/openapi.json")


@pytest.fixture
def settings_() -> dict[str, str]:
    return mindset_settings(BROKER_DEMO_LOGIN="1", BROKER_RATE_LIMIT_PER_IP="100000/minute")


@pytest.fixture
def hostile_client(settings_: dict[str, str]) -> FlaskClient:
    return build_app(settings_).test_client()


@pytest.fixture(autouse=True)
def vendor() -> Any:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.post(AUTH_URL, json={"authToken": "tok-hostile"})
        yield mock


def assert_documented(response: Any) -> None:
    assert response.status_code < 500, response.get_data(as_text=True)[:300]
    if response.status_code >= 400 and response.request.method != "HEAD":
        body = response.get_json()
        assert set(body) == {"error", "message", "request_id", "retryable"}


@pytest.mark.parametrize(
    "cookie",
    [
        "x" * 5000,
        "not-base64!!!.sig",
        ".eJwFwsENgCAQBMBe.broken",
        "eyJ1c2VyX2lkIjoiZXZlIn0",
        "\xff\xfe",
        '"quoted"',
        '"unterminated',
        "a" * 100 + "." * 100,
    ],
    ids=["huge", "bad-base64", "bad-zlib", "unsigned", "latin1", "quoted", "open-quote", "dots"],
)
def test_malformed_session_cookies_are_no_session(hostile_client: FlaskClient, cookie: str) -> None:
    response = hostile_client.get("/api/getusertoken", headers={"Cookie": f"session={cookie}"})
    assert response.status_code == 401
    assert_documented(response)


@pytest.mark.parametrize(
    "headers",
    [
        {"Cookie": "session=" + "A" * 20_000},
        {"Cookie": "=;=;;;session"},
        {"Origin": "\x00\x01"},
        {"Origin": "https://" + "a" * 5000},
        {"Sec-Fetch-Site": "\u00ff" * 10},
        {"X-Request-ID": "\x7f\x00id"},
        {"X-Forwarded-For": "not an address, ::::, 999.1.1.1"},
        {"Content-Type": "application/json; charset=invalid-charset"},
        {"Accept-Encoding": "gzip;q=abc"},
        {"Host": "evil.example:99999"},
        {"Content-Length": "abc"},
    ],
    ids=lambda headers: next(iter(headers)),
)
@pytest.mark.parametrize("path", ROUTES)
def test_odd_headers_get_documented_answers(
    hostile_client: FlaskClient, headers: dict[str, str], path: str
) -> None:
    for method in ("GET", "POST"):
        assert_documented(hostile_client.open(path, method=method, headers=headers))


@pytest.mark.parametrize(
    "query",
    [
        "a=" + "x" * 10_000,
        "%ff%fe=%c3%28",
        "user_id=eve&user_id=mallory",
        "&&&==&=",
        "%",
        "a[b][c]=1",
    ],
    ids=["huge", "bad-utf8", "repeated", "empty-pairs", "lone-percent", "brackets"],
)
def test_odd_query_strings_change_nothing(hostile_client: FlaskClient, query: str) -> None:
    sign_in(hostile_client, "ada")
    response = hostile_client.get(f"/api/getusertoken?{query}")
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b"\xff\xfe\xfd", "application/json", 400),
        (b'{"external_id": "\xff"}', "application/json", 400),
        (b"{", "application/json", 400),
        (b"[]", "application/json", 400),
        (b"null", "application/json", 400),
        (b'{"external_id": ["x"]}', "application/json", 400),
        (b'{"external_id": "' + b"x" * 2000 + b'"}', "application/json", 400),
        (b"external_id=%ff%fe", "application/x-www-form-urlencoded", 200),
        (b"x" * (70 * 1024), "application/octet-stream", 413),
        (b"x" * (70 * 1024), "application/x-www-form-urlencoded", 413),
        (b"--b\r\nbroken", "multipart/form-data; boundary=b", 400),
    ],
    ids=[
        "bad-utf8-json",
        "bad-utf8-in-string",
        "truncated-json",
        "json-list",
        "json-null",
        "non-string-field",
        "overlong-field",
        "bad-utf8-form",
        "oversized-raw",
        "oversized-form",
        "broken-multipart",
    ],
)
def test_odd_bodies_get_documented_answers(
    hostile_client: FlaskClient, body: bytes, content_type: str, status: int
) -> None:
    response = hostile_client.post("/demo/login", data=body, content_type=content_type)
    assert_documented(response)
    assert response.status_code == status


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE", "TRACE", "PROPFIND", "BREW"])
def test_unexpected_methods_are_a_json_405(hostile_client: FlaskClient, method: str) -> None:
    response = hostile_client.open("/api/getusertoken", method=method)
    assert response.status_code == 405
    assert response.get_json()["error"] == "method_not_allowed"
    assert "GET" in response.headers["Allow"]


@pytest.mark.parametrize(
    "path",
    ["/api/nope", "/api/getusertoken/extra", "/%ff", "/api/" + "a" * 5000, "/..%2f..%2fetc/passwd"],
    ids=["unknown", "extra-segment", "bad-utf8", "huge", "traversal"],
)
def test_unknown_paths_are_a_json_404(hostile_client: FlaskClient, path: str) -> None:
    response = hostile_client.get(path)
    assert response.status_code == 404
    assert response.get_json()["error"] == "not_found"


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    path=st.sampled_from(ROUTES),
    method=st.sampled_from(["GET", "POST", "OPTIONS", "HEAD", "PUT"]),
    cookie=st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0xFF), max_size=300),
    header=st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=200),
    body=st.binary(max_size=2000),
)
def test_random_input_never_breaks_the_broker(
    hostile_client: FlaskClient, path: str, method: str, cookie: str, header: str, body: bytes
) -> None:
    response = hostile_client.open(
        path,
        method=method,
        data=body,
        headers={
            "Cookie": f"session={cookie}",
            "Origin": header,
            "X-Request-ID": header,
            "Content-Type": "application/json",
        },
    )
    assert_documented(response)
