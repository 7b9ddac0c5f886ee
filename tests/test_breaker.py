"""The circuit breaker on its own and in front of the vendor."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import responses
from flask import Flask

from flask_token_broker.observability import telemetry
from flask_token_broker.resilience import retries
from flask_token_broker.resilience.breaker import CLOSED, HALF_OPEN, OPEN, CircuitBreaker
from flask_token_broker.state import current_broker

from .conftest import AUTH_URL, build_app, mindset_settings, sign_in


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def breaker(clock: Clock, changes: list[tuple[str, str]] | None = None) -> CircuitBreaker:
    on_change = (lambda old, new: changes.append((old, new))) if changes is not None else None
    return CircuitBreaker(3, 30.0, clock=clock, on_change=on_change)


def test_it_opens_after_the_configured_consecutive_failures() -> None:
    changes: list[tuple[str, str]] = []
    circuit = breaker(Clock(), changes)
    for _ in range(2):
        circuit.record_failure()
        assert circuit.allow()
    circuit.record_failure()
    assert circuit.state == OPEN
    assert not circuit.allow()
    assert changes == [(CLOSED, OPEN)]


def test_a_success_resets_the_count() -> None:
    circuit = breaker(Clock())
    circuit.record_failure()
    circuit.record_failure()
    circuit.record_success()
    circuit.record_failure()
    circuit.record_failure()
    assert circuit.state == CLOSED


def test_retry_in_is_the_rest_of_the_cooldown() -> None:
    clock = Clock()
    circuit = breaker(clock)
    for _ in range(3):
        circuit.record_failure()
    clock.now += 12
    assert circuit.retry_in() == pytest.approx(18.0)
    assert circuit.snapshot()["retry_in_seconds"] == 18.0


def test_after_the_cooldown_exactly_one_probe_goes_through() -> None:
    clock = Clock()
    changes: list[tuple[str, str]] = []
    circuit = breaker(clock, changes)
    for _ in range(3):
        circuit.record_failure()
    clock.now += 30
    assert circuit.state == HALF_OPEN
    assert circuit.allow()
    assert not circuit.allow()
    assert circuit.retry_in() == 1.0
    circuit.record_success()
    assert circuit.state == CLOSED
    assert circuit.allow()
    assert changes == [(CLOSED, OPEN), (OPEN, HALF_OPEN), (HALF_OPEN, CLOSED)]


def test_a_failed_probe_reopens_for_a_fresh_cooldown() -> None:
    clock = Clock()
    circuit = breaker(clock)
    for _ in range(3):
        circuit.record_failure()
    clock.now += 30
    assert circuit.allow()
    circuit.record_failure()
    assert circuit.state == OPEN
    assert circuit.retry_in() == pytest.approx(30.0)


def test_a_probe_that_never_reports_back_does_not_wedge_the_circuit() -> None:
    clock = Clock()
    circuit = CircuitBreaker(1, 10.0, probe_timeout=5.0, clock=clock)
    circuit.record_failure()
    clock.now += 10
    assert circuit.allow()
    assert not circuit.allow()
    clock.now += 5
    assert circuit.allow()


def test_half_open_lets_one_probe_through_among_many_threads() -> None:
    clock = Clock()
    circuit = breaker(clock)
    for _ in range(3):
        circuit.record_failure()
    clock.now += 30
    start = threading.Barrier(16)
    allowed: list[bool] = []

    def ask() -> None:
        start.wait(timeout=10)
        allowed.append(circuit.allow())

    threads = [threading.Thread(target=ask) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert sorted(allowed) == [False] * 15 + [True]


@pytest.mark.parametrize(("failures", "cooldown"), [(0, 1.0), (1, 0.0)])
def test_nonsense_thresholds_are_refused(failures: int, cooldown: float) -> None:
    with pytest.raises(ValueError, match="failures"):
        CircuitBreaker(failures, cooldown)


# In front of the vendor.


@pytest.fixture
def circuit_app(monkeypatch: pytest.MonkeyPatch) -> Flask:
    monkeypatch.setattr(retries, "pause", lambda seconds: None)
    return build_app(
        mindset_settings(
            BROKER_BREAKER_FAILURES="2", BROKER_BREAKER_COOLDOWN="30", BROKER_RETRY_ATTEMPTS="1"
        )
    )


@pytest.fixture
def events() -> Any:
    seen: list[tuple[str, dict[str, Any]]] = []

    def listen(event: str, fields: dict[str, Any]) -> None:
        if event == "circuit":
            seen.append((event, fields))

    telemetry.subscribe(listen)
    yield seen
    telemetry._listeners.remove(listen)


def test_an_open_circuit_answers_503_at_once_without_calling_the_vendor(
    circuit_app: Flask, events: list[Any], broker_logs: Any
) -> None:
    client = circuit_app.test_client()
    sign_in(client, "ada")
    with responses.RequestsMock(assert_all_requests_are_fired=True) as vendor:
        vendor.post(AUTH_URL, status=503)
        assert client.get("/api/getusertoken").status_code == 503
        assert client.get("/api/getusertoken").status_code == 503
        assert len(vendor.calls) == 2

        refused = client.get("/api/getusertoken")

        assert len(vendor.calls) == 2
    assert refused.status_code == 503
    body = refused.get_json()
    assert body["error"] == "vendor_unavailable"
    assert body["retryable"] is True
    assert 28 <= int(refused.headers["Retry-After"]) <= 30
    assert events == [("circuit", {"vendor": "mindset", "state": "open"})]
    assert "mindset circuit closed -> open" in broker_logs.joined()


def test_readiness_degrades_while_open_and_recovers_after_a_probe(
    circuit_app: Flask, events: list[Any]
) -> None:
    client = circuit_app.test_client()
    sign_in(client, "ada")
    with circuit_app.app_context():
        broker = current_broker()
    check = broker.readiness_checks["mindset_circuit"]
    assert check()[0] == "ok"
    assert broker.mindset is not None
    clock = Clock()
    broker.mindset.guarded_call.breaker._clock = clock

    with responses.RequestsMock(assert_all_requests_are_fired=True) as vendor:
        vendor.post(AUTH_URL, status=502)
        client.get("/api/getusertoken")
        client.get("/api/getusertoken")
    status, details = check()
    assert status == "degraded"
    assert details["state"] == "open"

    clock.now += 30
    assert check()[0] == "degraded"  # half-open until a probe succeeds
    with responses.RequestsMock(assert_all_requests_are_fired=True) as vendor:
        vendor.post(AUTH_URL, json={"authToken": "tok-after"})
        assert client.get("/api/getusertoken").status_code == 200
    status, details = check()
    assert (status, details["state"], details["consecutive_failures"]) == ("ok", "closed", 0)
    assert [fields["state"] for _, fields in events] == ["open", "half_open", "closed"]


def test_a_vendor_refusal_does_not_count_towards_opening(circuit_app: Flask) -> None:
    client = circuit_app.test_client()
    sign_in(client, "ada")
    with responses.RequestsMock(assert_all_requests_are_fired=True) as vendor:
        vendor.post(AUTH_URL, status=403)
        for _ in range(4):
            assert client.get("/api/getusertoken").status_code == 502
        assert len(vendor.calls) == 4


def test_readyz_stays_200_but_degraded_while_the_circuit_is_open(circuit_app: Flask) -> None:
    client = circuit_app.test_client()
    sign_in(client, "ada")
    assert client.get("/readyz").get_json()["checks"]["mindset_circuit"]["state"] == "closed"
    with responses.RequestsMock(assert_all_requests_are_fired=True) as vendor:
        vendor.post(AUTH_URL, status=504)
        client.get("/api/getusertoken")
        client.get("/api/getusertoken")
    ready = client.get("/readyz")
    assert ready.status_code == 200
    body = ready.get_json()
    assert body["status"] == "degraded"
    assert body["checks"]["mindset_circuit"]["status"] == "degraded"
    assert body["checks"]["mindset_circuit"]["state"] == "open"
