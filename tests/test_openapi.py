"""The OpenAPI description, and Schemathesis fuzzing the live broker against it.

A real HTTP server (Werkzeug, threaded, on a free loopback port) runs the broker with the
vendor mocked by ``responses``; Schemathesis generates requests from ``/openapi.json``, valid
and invalid, signed in and not, and checks every answer: no 5xx, documented statuses,
bodies and headers that match the description (``Retry-After`` on retryable errors included).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import responses
import schemathesis
from flask.testing import FlaskClient
from hypothesis import HealthCheck, settings
from werkzeug.serving import make_server

from flask_token_broker.routes.api_paths import ERRORS
from flask_token_broker.routes.openapi import document

from . import fake_secrets
from .conftest import AUTH_URL, assert_no_secret, build_app, mindset_settings


def test_the_description_is_served_and_lists_every_route(client: FlaskClient) -> None:
    spec = client.get("/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    # Flask's /broker/<path:filename> is OpenAPI's /broker/{filename}.
    rules = {
        re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        for rule in client.application.url_map.iter_rules()
        if rule.endpoint != "static"
    }
    assert set(spec["paths"]) == rules
    assert spec["components"]["schemas"]["Error"]["required"] == [
        "error",
        "message",
        "request_id",
        "retryable",
    ]


def test_the_demo_routes_are_all_described_when_on() -> None:
    client = build_app(mindset_settings(BROKER_DEMO_LOGIN="1")).test_client()
    spec = client.get("/openapi.json").get_json()
    demo_rules = {
        rule.rule
        for rule in client.application.url_map.iter_rules()
        if rule.rule.startswith("/demo")
    }
    assert demo_rules <= set(spec["paths"])


def test_the_demo_routes_are_described_only_when_on() -> None:
    assert "/demo/login" not in document(demo_login=False)["paths"]
    assert "/demo/login" in document(demo_login=True)["paths"]


def test_retryable_statuses_require_retry_after() -> None:
    operation = document(demo_login=False)["paths"]["/api/getusertoken"]["get"]
    for status in ERRORS:
        answer = operation["responses"].get(status)
        if answer is None:
            continue
        assert ("Retry-After" in answer["headers"]) is (status in {"429", "503", "504"})


@pytest.fixture(scope="module")
def live_broker() -> Iterator[str]:
    app = build_app(
        mindset_settings(
            BROKER_DEMO_LOGIN="1",
            TYPINGMIND_JWT_SECRET=fake_secrets.TYPINGMIND_SECRET,
            TYPINGMIND_URL="https://chat.example.com",
            BROKER_RATE_LIMIT="30/minute",
            BROKER_RATE_LIMIT_PER_IP="100000/minute",
        )
    )
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


@pytest.fixture
def vendor(live_broker: str) -> Iterator[Any]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add_passthru(live_broker)
        mock.post(AUTH_URL, json={"authToken": "tok-fuzzed"})
        yield mock


@pytest.fixture
def signed_in_session(live_broker: str, vendor: Any) -> Iterator[requests.Session]:
    session = requests.Session()
    login = session.post(f"{live_broker}/demo/login", data={"external_id": "fuzz"}, timeout=5)
    assert login.status_code == 200
    yield session
    session.close()


@pytest.fixture
def broker_schema(live_broker: str, vendor: Any) -> Any:
    return schemathesis.openapi.from_url(f"{live_broker}/openapi.json", timeout=10)


schema = schemathesis.pytest.from_fixture("broker_schema")


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_the_live_broker_matches_its_description(
    case: Any, signed_in_session: requests.Session
) -> None:
    # The login redirect points at TypingMind: check it, never follow it off the machine.
    response = case.call_and_validate(session=signed_in_session, timeout=10, allow_redirects=False)
    assert_no_secret(response.text, "a fuzzed response")
    assert_no_secret(str(response.headers), "a fuzzed response's headers")
