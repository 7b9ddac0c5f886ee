"""The TypingMind routes are token routes: cross-site refusal, rate limits, one resolution."""

from __future__ import annotations

import logging
from typing import Any

import pytest
import responses
from flask import Flask

from flask_token_broker import TokenBroker

from . import fake_secrets
from .conftest import AUTH_URL, build_app, mindset_settings, sign_in

TYPINGMIND = {
    "TYPINGMIND_JWT_SECRET": fake_secrets.TYPINGMIND_SECRET,
    "TYPINGMIND_URL": "https://chat.example.com",
}
NAVIGATION = {"Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document"}


def typingmind_app(**extra: str) -> Flask:
    return build_app(mindset_settings(**TYPINGMIND, **extra))


@pytest.mark.parametrize(
    ("path", "headers", "status"),
    [
        ("/api/typingmind/authcode", {"Sec-Fetch-Site": "same-origin"}, 200),
        ("/api/typingmind/authcode", {"Sec-Fetch-Site": "cross-site"}, 403),
        ("/api/typingmind/authcode", {"Origin": "https://evil.example"}, 403),
        ("/api/typingmind/authcode", {"Sec-Fetch-Site": "cross-site", **NAVIGATION}, 403),
        ("/typingmind/login", {"Sec-Fetch-Site": "same-site", **NAVIGATION}, 302),
        ("/typingmind/login", {"Sec-Fetch-Site": "none", **NAVIGATION}, 302),
        # TypingMind links users here from its own site: a navigation cannot read the answer.
        ("/typingmind/login", {"Sec-Fetch-Site": "cross-site", **NAVIGATION}, 302),
        ("/typingmind/login", {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "cors"}, 403),
        ("/typingmind/login", {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "no-cors"}, 403),
        (
            "/typingmind/login",
            {
                "Sec-Fetch-Site": "cross-site",
                "Sec-Fetch-Mode": "navigate",
                "Sec-Fetch-Dest": "iframe",
            },
            403,
        ),
    ],
)
def test_who_may_ask_for_a_typingmind_code(path: str, headers: dict[str, str], status: int) -> None:
    client = typingmind_app().test_client()
    sign_in(client, "ada")
    response = client.get(path, headers=headers)
    assert response.status_code == status
    if status == 403:
        assert response.get_json()["error"] == "cross_site"


def test_typingmind_and_mindset_share_the_per_user_budget() -> None:
    client = typingmind_app(BROKER_RATE_LIMIT="2/minute").test_client()
    sign_in(client, "ada")
    with responses.RequestsMock(assert_all_requests_are_fired=True) as vendor:
        vendor.post(AUTH_URL, json={"authToken": "tok-shared"})
        assert client.get("/api/getusertoken").status_code == 200
    assert client.get("/api/typingmind/authcode").status_code == 200
    response = client.get("/typingmind/login")
    assert response.status_code == 429
    assert response.get_json()["error"] == "rate_limited"
    assert "Location" not in response.headers


def test_the_user_is_resolved_once_per_request() -> None:
    calls: list[int] = []

    def host_user() -> dict[str, Any]:
        calls.append(1)
        return {"id": "ada"}

    app = Flask("host")
    app.config.update(SECRET_KEY=fake_secrets.SECRET_KEY, **TYPINGMIND)
    TokenBroker(app, resolver=host_user)
    client = app.test_client()
    assert client.get("/api/typingmind/authcode").status_code == 200
    assert client.get("/api/typingmind/authcode").status_code == 200
    assert len(calls) == 2


def test_a_failing_resolver_is_answered_by_the_view_not_mistaken_for_a_redis_outage() -> None:
    calls: list[int] = []

    def broken() -> dict[str, Any]:
        calls.append(1)
        raise RuntimeError("host bug")

    app = Flask("host")
    app.config.update(SECRET_KEY=fake_secrets.SECRET_KEY, **TYPINGMIND)
    TokenBroker(app, resolver=broken)
    response = app.test_client().get("/api/typingmind/authcode")
    assert response.status_code == 500
    assert response.get_json()["error"] == "user_resolver_failed"
    assert len(calls) == 1
    limits = app.extensions["broker_rate_limits"]
    assert not limits.storage_dead


def test_a_signed_code_is_masked_in_the_request_s_log_lines(broker_logs: Any) -> None:
    client = typingmind_app().test_client()
    sign_in(client, "ada")
    app = client.application

    @app.after_request
    def careless(response: Any) -> Any:
        logging.getLogger("broker.careless").warning("answer %s", response.get_data(as_text=True))
        return response

    code = client.get("/api/typingmind/authcode").get_json()["externalAuthCode"]
    assert code not in broker_logs.joined()
