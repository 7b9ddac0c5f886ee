"""Headers on every answer, request ids, and the session cookie's flags."""

from __future__ import annotations

from typing import Any

import pytest
import responses
from flask.testing import FlaskClient

from flask_token_broker.errors import BrokerError, broker_error_response
from flask_token_broker.routes.pipeline import JSON_CSP

from .conftest import AUTH_URL, build_app, mindset_settings, sign_in


@pytest.fixture
def settings() -> dict[str, str]:
    return mindset_settings(BROKER_DEMO_LOGIN="1", BROKER_RATE_LIMIT="3/minute")


@pytest.fixture
def vendor() -> Any:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.post(AUTH_URL, json={"authToken": "tok-headers"})
        yield mock


def every_kind_of_answer(client: FlaskClient) -> list[Any]:
    answers = [
        client.get("/api/getusertoken"),  # 401
        client.get("/nope"),  # 404
        client.delete("/api/getusertoken"),  # 405
        client.get("/api/getusertoken", headers={"Sec-Fetch-Site": "cross-site"}),  # 403
        client.get("/openapi.json"),
        client.post("/demo/login", data={}),  # 400
        client.options("/api/getusertoken"),
    ]
    sign_in(client, "ada")
    answers += [client.get("/api/getusertoken") for _ in range(4)]  # 200 x3, then 429
    return answers


def test_every_answer_carries_the_security_headers(client: FlaskClient, vendor: Any) -> None:
    answers = every_kind_of_answer(client)
    assert {a.status_code for a in answers} >= {200, 400, 401, 403, 404, 405, 429}
    for answer in answers:
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
        assert answer.headers["Referrer-Policy"] == "no-referrer"
        assert answer.headers["X-Frame-Options"] == "DENY"
        assert answer.headers["X-Request-ID"]
        if answer.is_json:
            assert answer.headers["Content-Security-Policy"] == JSON_CSP


def test_every_retryable_answer_carries_retry_after(client: FlaskClient, vendor: Any) -> None:
    for answer in every_kind_of_answer(client):
        if answer.is_json and answer.status_code >= 400:
            body = answer.get_json()
            assert body["retryable"] is ("Retry-After" in answer.headers)
            assert body["request_id"] == answer.headers["X-Request-ID"]


@pytest.mark.parametrize(
    ("incoming", "kept"),
    [
        ("abc-123", True),
        ("lb:1700000000.123_x", True),
        ("a" * 128, True),
        ("a" * 129, False),
        ("", False),
        ("has space", False),
        ("semi;colon", False),
        ("<script>", False),
        ("ünïcode", False),
    ],
)
def test_an_incoming_request_id_is_kept_only_when_plausible(
    client: FlaskClient, incoming: str, kept: bool
) -> None:
    response = client.get("/api/getusertoken", headers={"X-Request-ID": incoming})
    assert (response.headers["X-Request-ID"] == incoming) is kept
    assert response.get_json()["request_id"] == response.headers["X-Request-ID"]


@pytest.mark.parametrize(("env", "secure"), [("development", False), ("production", True)])
def test_the_session_cookie_is_httponly_lax_and_secure_in_production(
    env: str, secure: bool
) -> None:
    client = build_app(mindset_settings(BROKER_ENV=env, BROKER_DEMO_LOGIN="1")).test_client()
    response = client.post("/demo/login", data={"external_id": "ada"})
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert ("Secure" in cookie) is secure


def all_subclasses(cls: type) -> list[type]:
    found: list[type] = []
    direct: list[type] = cls.__subclasses__()
    for sub in direct:
        found += [sub, *all_subclasses(sub)]
    return found


@pytest.mark.parametrize("error_class", all_subclasses(BrokerError), ids=lambda c: c.__name__)
def test_every_error_of_the_tree_says_retryable_exactly_when_it_sends_retry_after(
    app: Any, error_class: type[BrokerError]
) -> None:
    with app.test_request_context("/api/getusertoken"):
        response = broker_error_response(error_class())
    body = response.get_json()
    assert body["retryable"] is error_class.retryable
    assert ("Retry-After" in response.headers) is error_class.retryable
