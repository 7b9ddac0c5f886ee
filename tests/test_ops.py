"""Health, readiness and metrics: what a load balancer and a scraper see."""

from __future__ import annotations

from typing import Any

import pytest
import responses
from flask import Flask
from flask.testing import FlaskClient

from flask_token_broker.observability import telemetry
from flask_token_broker.observability.telemetry import outcome_label, process_metrics
from flask_token_broker.state import current_broker
from flask_token_broker.version import VERSION

from .conftest import AUTH_URL, KNOWN_SECRETS, build_app, mindset_settings, sign_in

METRICS_TOKEN = "metrics-token-0123456789abcdef"
KNOWN_SECRETS.add(METRICS_TOKEN)
BEARER = {"Authorization": f"Bearer {METRICS_TOKEN}"}


@pytest.fixture
def settings() -> dict[str, str]:
    return mindset_settings(BROKER_METRICS_TOKEN=METRICS_TOKEN)


def sample(name: str, **labels: str) -> float:
    value = process_metrics().registry.get_sample_value(name, labels)
    return value or 0.0


def test_healthz_answers_without_consulting_anything(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "version": VERSION}
    assert response.headers["Cache-Control"] == "no-store"


def test_readyz_is_ok_with_a_flow_and_no_checks(client: FlaskClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok"
    assert body["flows"] == ["mindset"]
    assert body["checks"]["config"] == {"status": "ok"}


def _failing() -> tuple[str, dict[str, Any]]:
    raise RuntimeError("boom")


@pytest.mark.parametrize(
    ("checks", "http_status", "status"),
    [
        ({"mindset_circuit": lambda: ("ok", {"state": "closed"})}, 200, "ok"),
        ({"mindset_circuit": lambda: ("degraded", {"state": "open"})}, 200, "degraded"),
        ({"redis": lambda: ("degraded", {}), "x": lambda: ("ok", {})}, 200, "degraded"),
        (
            {"redis": lambda: ("failed", {"hint": "h"}), "y": lambda: ("degraded", {})},
            503,
            "failed",
        ),
        ({"broken": _failing}, 200, "degraded"),
        ({"odd": lambda: ("great", {})}, 200, "degraded"),
    ],
)
def test_readyz_fails_only_for_a_failed_check(
    app: Flask, client: FlaskClient, checks: dict[str, Any], http_status: int, status: str
) -> None:
    with app.app_context():
        current_broker().readiness_checks.update(checks)
    response = client.get("/readyz")
    assert response.status_code == http_status
    body = response.get_json()
    assert body["status"] == status
    assert set(checks) <= set(body["checks"])


def test_readyz_reports_check_details(app: Flask, client: FlaskClient) -> None:
    with app.app_context():
        current_broker().readiness_checks["mindset_circuit"] = lambda: (
            "degraded",
            {"state": "open", "retry_in_s": 4},
        )
    check = client.get("/readyz").get_json()["checks"]["mindset_circuit"]
    assert check == {"status": "degraded", "state": "open", "retry_in_s": 4}


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"Authorization": "Bearer wrong-token-0123456789"}, 401),
        ({"Authorization": METRICS_TOKEN}, 401),
        (BEARER, 200),
    ],
)
def test_metrics_need_the_bearer_token(
    client: FlaskClient, headers: dict[str, str], status: int
) -> None:
    response = client.get("/metrics", headers=headers)
    assert response.status_code == status
    if status == 401:
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert response.get_json()["error"] == "unauthorized"
    else:
        assert response.content_type.startswith("text/plain")
        assert "broker_http_requests_total" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("environ", "headers", "status"),
    [
        ({"REMOTE_ADDR": "127.0.0.1"}, {}, 200),
        ({"REMOTE_ADDR": "::1"}, {}, 200),
        ({"REMOTE_ADDR": "10.0.0.7"}, {}, 403),
        ({"REMOTE_ADDR": "127.0.0.1"}, {"X-Forwarded-For": "203.0.113.9"}, 403),
    ],
)
def test_metrics_without_a_token_are_for_loopback_in_development(
    environ: dict[str, str], headers: dict[str, str], status: int
) -> None:
    client = build_app(mindset_settings()).test_client()
    response = client.get("/metrics", environ_base=environ, headers=headers)
    assert response.status_code == status


def test_metrics_without_a_token_are_off_in_production() -> None:
    client = build_app(mindset_settings(BROKER_ENV="production")).test_client()
    response = client.get("/metrics", environ_base={"REMOTE_ADDR": "127.0.0.1"})
    assert response.status_code == 404
    assert response.get_json()["error"] == "not_configured"


def test_requests_are_counted_by_route_template_and_status(client: FlaskClient) -> None:
    labels = {"route": "/api/getusertoken", "method": "GET", "status": "401"}
    before = sample("broker_http_requests_total", **labels)
    unmatched = sample("broker_http_requests_total", route="unmatched", method="GET", status="404")
    client.get("/api/getusertoken")
    client.get("/api/getusertoken")
    client.get("/no/such/path")
    assert sample("broker_http_requests_total", **labels) == before + 2
    assert (
        sample("broker_http_requests_total", route="unmatched", method="GET", status="404")
        == unmatched + 1
    )
    assert sample("broker_http_request_duration_seconds_count", route="/api/getusertoken") >= 2


def test_vendor_calls_and_tokens_are_counted() -> None:
    # One attempt per token request, so each request is exactly one counted vendor call.
    client = build_app(mindset_settings(BROKER_RETRY_ATTEMPTS="1")).test_client()
    ok = {"vendor": "mindset", "outcome": "ok", "status": "200"}
    down = {"vendor": "mindset", "outcome": "unavailable", "status": "503"}
    minted = {"vendor": "mindset", "outcome": "minted"}
    before_ok = sample("broker_vendor_calls_total", **ok)
    before_down = sample("broker_vendor_calls_total", **down)
    before_minted = sample("broker_tokens_total", **minted)
    before_seconds = sample("broker_vendor_call_duration_seconds_count", vendor="mindset")
    sign_in(client, "ada")
    with responses.RequestsMock() as vendor:
        vendor.post(AUTH_URL, json={"authToken": "tok"})
        vendor.post(AUTH_URL, status=503)
        assert client.get("/api/getusertoken").status_code == 200
        assert client.get("/api/getusertoken").status_code == 503
    assert sample("broker_vendor_calls_total", **ok) == before_ok + 1
    assert sample("broker_vendor_calls_total", **down) == before_down + 1
    assert sample("broker_tokens_total", **minted) == before_minted + 1
    assert (
        sample("broker_vendor_call_duration_seconds_count", vendor="mindset") == before_seconds + 2
    )


@pytest.mark.parametrize("outcome", ["coalesced", "reused"])
def test_token_outcomes_from_telemetry_are_counted(app: Flask, outcome: str) -> None:
    process_metrics()
    before = sample("broker_tokens_total", vendor="mindset", outcome=outcome)
    telemetry.token_outcome("mindset", outcome)
    assert sample("broker_tokens_total", vendor="mindset", outcome=outcome) == before + 1


def test_rate_limits_and_circuit_state_are_reported(app: Flask) -> None:
    process_metrics()
    before = sample("broker_rate_limited_total", scope="user")
    telemetry.emit("rate_limited", scope="user")
    assert sample("broker_rate_limited_total", scope="user") == before + 1
    for state, value in [("open", 2), ("half-open", 1), ("half_open", 1), ("closed", 0)]:
        telemetry.emit("circuit", vendor="mindset", state=state)
        assert sample("broker_circuit_state", vendor="mindset") == value


@pytest.mark.parametrize(
    ("outcome", "label"),
    [
        ("ok", "ok"),
        ("MindsetTimeout", "timeout"),
        ("MindsetUnavailable", "unavailable"),
        ("MindsetBadResponse", "bad_response"),
        ("circuit-open", "circuit_open"),
    ],
)
def test_vendor_outcomes_become_short_labels(outcome: str, label: str) -> None:
    assert outcome_label("mindset", outcome) == label


def test_events_before_the_first_request_are_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    # A fresh process: no metrics yet, nobody listening.
    monkeypatch.setattr("flask_token_broker.observability.telemetry._metrics", None)
    monkeypatch.setattr("flask_token_broker.observability.telemetry._listeners", [])
    build_app(mindset_settings())
    telemetry.token_outcome("mindset", "minted")
    assert sample("broker_tokens_total", vendor="mindset", outcome="minted") == 1
