"""The retry policy: what is repeated, how long it waits, and that the deadline always wins."""

from __future__ import annotations

from typing import Any

import pytest
import requests
import responses
from flask.testing import FlaskClient
from responses.registries import OrderedRegistry

from flask_token_broker.mindset.errors import (
    MindsetBadResponse,
    MindsetError,
    MindsetRejected,
    MindsetTimeout,
    MindsetUnavailable,
)
from flask_token_broker.resilience import retries
from flask_token_broker.resilience.retries import RetryPolicy, call_with_retries

from .conftest import AUTH_URL, build_app, mindset_settings, sign_in
from .vendor_defaults import POLICY_OPTIONS

# The policy as the broker builds it with the settings at their defaults.
DEFAULT_POLICY = RetryPolicy(**POLICY_OPTIONS)


class FakeTime:
    """A clock that moves only when the code under test sleeps or an attempt takes time."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def failing(*errors: MindsetError, result: str = "token", cost: float = 0.0, time: FakeTime):
    queue = list(errors)
    deadlines: list[float] = []

    def attempt(deadline: float) -> str:
        deadlines.append(deadline)
        time.now += cost
        if queue:
            raise queue.pop(0)
        return result

    return attempt, deadlines


UNAVAILABLE_503 = MindsetUnavailable("503", status=503)


@pytest.mark.parametrize(
    "error",
    [
        MindsetUnavailable("refused"),
        MindsetUnavailable("429", status=429),
        MindsetUnavailable("502", status=502),
        UNAVAILABLE_503,
        MindsetUnavailable("504", status=504),
        MindsetTimeout("connect", phase="connect"),
    ],
)
def test_transient_failures_are_retried(error: MindsetError) -> None:
    time = FakeTime()
    attempt, deadlines = failing(error, time=time)
    result = call_with_retries(attempt, DEFAULT_POLICY, 108.0, clock=time.clock, sleep=time.sleep)
    assert result == "token"
    assert len(deadlines) == 2


@pytest.mark.parametrize(
    "error",
    [
        MindsetUnavailable("500", status=500),
        MindsetTimeout("read", phase="read"),
        MindsetTimeout("deadline", phase="deadline"),
        MindsetRejected("400", status=400),
        MindsetRejected("401", status=401),
        MindsetRejected("403", status=403),
        MindsetRejected("404", status=404),
        MindsetRejected("tls", status=0),
        MindsetBadResponse("garbage"),
    ],
)
def test_final_or_slow_failures_are_not_retried(error: MindsetError) -> None:
    time = FakeTime()
    attempt, deadlines = failing(error, time=time)
    with pytest.raises(type(error)):
        call_with_retries(attempt, DEFAULT_POLICY, 108.0, clock=time.clock, sleep=time.sleep)
    assert len(deadlines) == 1


def test_attempts_are_capped_and_the_last_failure_is_raised() -> None:
    time = FakeTime()
    last = MindsetUnavailable("third", status=502)
    attempt, deadlines = failing(UNAVAILABLE_503, UNAVAILABLE_503, last, time=time)
    with pytest.raises(MindsetUnavailable) as raised:
        call_with_retries(
            attempt,
            RetryPolicy(attempts=3, retry_after_cap=2.0),
            108.0,
            clock=time.clock,
            sleep=time.sleep,
        )
    assert raised.value is last
    assert len(deadlines) == 3


def test_backoff_is_exponential_with_full_jitter(monkeypatch: pytest.MonkeyPatch) -> None:
    ceilings: list[tuple[float, float]] = []

    def uniform(low: float, high: float) -> float:
        ceilings.append((low, high))
        return high / 2

    monkeypatch.setattr("flask_token_broker.resilience.retries.random.uniform", uniform)
    policy = RetryPolicy(attempts=5, retry_after_cap=2.0, base_delay=0.1, max_delay=0.3)
    waits = [policy.wait_before_retry(UNAVAILABLE_503, n) for n in (1, 2, 3, 4)]
    assert ceilings == [(0, 0.1), (0, 0.2), (0, 0.3), (0, 0.3)]
    assert waits == [0.05, 0.1, 0.15, 0.15]


def test_a_short_retry_after_is_waited_out() -> None:
    time = FakeTime()
    attempt, deadlines = failing(MindsetUnavailable("429", status=429, retry_after=1.5), time=time)
    call_with_retries(attempt, DEFAULT_POLICY, 108.0, clock=time.clock, sleep=time.sleep)
    assert time.sleeps == [1.5]
    assert len(deadlines) == 2


def test_a_retry_after_beyond_the_cap_is_passed_on_unretried() -> None:
    time = FakeTime()
    error = MindsetUnavailable("503", status=503, retry_after=30.0)
    attempt, deadlines = failing(error, time=time)
    with pytest.raises(MindsetUnavailable) as raised:
        call_with_retries(
            attempt,
            RetryPolicy(attempts=3, retry_after_cap=2.0),
            108.0,
            clock=time.clock,
            sleep=time.sleep,
        )
    assert raised.value.retry_after == 30.0
    assert time.sleeps == []
    assert len(deadlines) == 1


def test_no_wait_runs_past_the_deadline() -> None:
    time = FakeTime()
    # Each attempt burns 3 s of an 8 s deadline; a 2 s Retry-After then leaves no room.
    error = MindsetUnavailable("503", status=503, retry_after=2.0)
    attempt, deadlines = failing(error, error, error, cost=3.0, time=time)
    with pytest.raises(MindsetUnavailable):
        call_with_retries(attempt, DEFAULT_POLICY, 108.0, clock=time.clock, sleep=time.sleep)
    assert len(deadlines) == 2
    assert time.now <= 108.0
    assert set(deadlines) == {108.0}


# Through the route, with the vendor mocked: what the caller sees and how often the vendor
# is asked.


@pytest.fixture
def no_waiting(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    waits: list[float] = []
    monkeypatch.setattr(retries, "pause", waits.append)
    return waits


def vendor_sequence(*answers: dict[str, Any]) -> responses.RequestsMock:
    mock = responses.RequestsMock(assert_all_requests_are_fired=True, registry=OrderedRegistry)
    for answer in answers:
        mock.post(AUTH_URL, **answer)
    return mock


@pytest.mark.parametrize(
    ("answers", "status", "calls"),
    [
        ([{"status": 503}, {"json": {"authToken": "t"}}], 200, 2),
        ([{"status": 502}, {"status": 504}, {"json": {"authToken": "t"}}], 200, 3),
        ([{"body": requests.ConnectionError()}, {"json": {"authToken": "t"}}], 200, 2),
        ([{"body": requests.ConnectTimeout()}, {"json": {"authToken": "t"}}], 200, 2),
        ([{"status": 429, "headers": {"Retry-After": "1"}}, {"json": {"authToken": "t"}}], 200, 2),
        ([{"status": 503}, {"status": 503}, {"status": 503}], 503, 3),
        ([{"status": 429, "headers": {"Retry-After": "30"}}], 503, 1),
        ([{"status": 500}], 503, 1),
        ([{"status": 400}], 502, 1),
        ([{"status": 401}], 502, 1),
        ([{"status": 403}], 502, 1),
        ([{"body": requests.exceptions.SSLError()}], 502, 1),
        ([{"body": requests.ReadTimeout()}], 504, 1),
    ],
)
def test_the_route_retries_only_what_helps(
    client: FlaskClient,
    no_waiting: list[float],
    answers: list[dict[str, Any]],
    status: int,
    calls: int,
) -> None:
    sign_in(client, "ada")
    with vendor_sequence(*answers) as vendor:
        response = client.get("/api/getusertoken")
        assert response.status_code == status
        assert len(vendor.calls) == calls


def test_the_attempt_limit_is_configurable(no_waiting: list[float]) -> None:
    client = build_app(mindset_settings(BROKER_RETRY_ATTEMPTS="1")).test_client()
    sign_in(client, "ada")
    with vendor_sequence({"status": 503}) as vendor:
        assert client.get("/api/getusertoken").status_code == 503
        assert len(vendor.calls) == 1


def test_every_attempt_gets_at_most_the_time_left(no_waiting: list[float]) -> None:
    settings = mindset_settings(
        BROKER_DEADLINE="1.5", MINDSET_CONNECT_TIMEOUT="3", MINDSET_READ_TIMEOUT="30"
    )
    client = build_app(settings).test_client()
    sign_in(client, "ada")
    with vendor_sequence({"status": 503}, {"json": {"authToken": "t"}}) as vendor:
        assert client.get("/api/getusertoken").status_code == 200
        for call in vendor.calls:
            connect, read = call.request.req_kwargs["timeout"]  # type: ignore[attr-defined]
            assert 0 < connect <= 1.5
            assert 0 < read <= 1.5
