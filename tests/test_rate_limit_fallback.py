"""Rate limits when their counter store fails: Redis out, Redis slow, the memory store broken.

No Redis server runs here: an unused loopback port refuses at once, a listener that never
accepts stalls a connect, and one whose queued connection is never served stalls an answer.
Time is frozen (``time.time``) to follow the back-off of the rechecks of an unreachable Redis.

Careless changes these tests catch (``protection/rate_limits.py``): counting on the memory
fallback forever, or asking Redis on every request; a back-off that starts late, grows by
another factor, stops at another step or never starts over; a request that waits on a
stalled Redis longer than a second; an operator not told, in the logs and the readiness
report, that counters are per process until Redis answers, or that they are shared again;
a failing in-memory store taking requests down, or reported as a Redis outage; closing the
limits leaving the Redis client's connections open.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from flask_token_broker.protection.rate_limits import RateLimits
from flask_token_broker.state import current_broker
from harness.processes import free_port

from .conftest import LogLines, build_app, mindset_settings
from .wall_clock import Clock, frozen_wall_clock

START = 1_800_000_000.0
# A stalled Redis must cost a request about REDIS_TIMEOUT_SECONDS (1 s); redis-py's own
# default would be 5 s, or no limit at all for an answer.
MOST_A_REQUEST_MAY_WAIT = 3.5
UNREACHABLE_HINT = "Redis at BROKER_REDIS_URL is unreachable; limits are per process meanwhile"


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    return frozen_wall_clock(monkeypatch, START)


def app_with_redis(url: str, **extra: str) -> Flask:
    return build_app(mindset_settings(BROKER_REDIS_URL=url, **extra))


def unreachable_redis_app(**extra: str) -> Flask:
    return app_with_redis(f"redis://127.0.0.1:{free_port()}/0", **extra)


def limits_of(app: Flask) -> RateLimits:
    limits: RateLimits = app.extensions["broker_rate_limits"]
    return limits


def readiness_of(app: Flask) -> Any:
    with app.app_context():
        return current_broker().readiness_checks["rate_limit_storage"]()


def messages(broker_logs: LogLines) -> list[tuple[str, str]]:
    entries = [json.loads(line) for line in broker_logs]
    return [(e["level"], e["msg"]) for e in entries if e["logger"] == "broker.rate_limits"]


def test_redis_out_is_logged_and_reported_as_degraded(broker_logs: LogLines) -> None:
    app = unreachable_redis_app()
    assert readiness_of(app) == ("ok", {"storage": "redis"})

    assert app.test_client().get("/api/getusertoken").status_code == 401

    assert messages(broker_logs) == [
        (
            "warning",
            "rate limit storage unreachable (BROKER_REDIS_URL): counting in memory, per "
            "process, until it answers again",
        )
    ]
    assert readiness_of(app) == (
        "degraded",
        {"storage": "memory (fallback)", "hint": UNREACHABLE_HINT},
    )


def test_an_unreachable_redis_is_asked_again_after_1_2_4_to_32_seconds_then_anew(
    clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = unreachable_redis_app()
    client = app.test_client()
    limits = limits_of(app)
    assert client.get("/api/getusertoken").status_code == 401
    assert limits.storage_dead
    asked_at: list[float] = []

    def still_out() -> bool:
        asked_at.append(clock.now - START)
        return False

    monkeypatch.setattr(limits.storage, "check", still_out)
    while clock.now < START + 70:
        clock.now += 0.5
        assert client.get("/api/getusertoken").status_code == 401

    # Each wait is more than 1, 2, 4 ... 32 s after the last ask; then 1 s again.
    assert asked_at == [1.5, 4.0, 8.5, 17.0, 33.5, 66.0, 67.5, 70.0]
    assert limits.storage_dead


def test_redis_answering_again_is_logged_and_counting_goes_back_to_it(
    clock: Clock, monkeypatch: pytest.MonkeyPatch, broker_logs: LogLines
) -> None:
    app = unreachable_redis_app()
    client = app.test_client()
    limits = limits_of(app)
    assert client.get("/api/getusertoken").status_code == 401
    counted_in_redis: list[str] = []

    def redis_counts(*args: Any, **kwargs: Any) -> bool:
        counted_in_redis.append(args[-1])
        return True

    monkeypatch.setattr(limits.storage, "check", lambda: True)
    monkeypatch.setattr(limits._counting, "hit", redis_counts)
    clock.now += 1.5
    assert client.get("/api/getusertoken").status_code == 401
    assert client.get("/api/getusertoken").status_code == 401

    assert counted_in_redis == ["ip", "ip"]
    assert limits.storage_dead is False
    assert messages(broker_logs)[-1] == (
        "info",
        "rate limit storage reachable again: counters are shared once more",
    )
    assert readiness_of(app) == ("ok", {"storage": "redis"})


def test_a_failing_memory_store_lets_requests_through_and_logs_the_error(
    monkeypatch: pytest.MonkeyPatch, broker_logs: LogLines
) -> None:
    app = build_app(mindset_settings(BROKER_RATE_LIMIT_PER_IP="1/minute"))
    limits = limits_of(app)

    def store_fails(*args: Any, **kwargs: Any) -> bool:
        raise MemoryError("no room for a counter")

    monkeypatch.setattr(limits._counting, "hit", store_fails)
    client = app.test_client()
    for _ in range(3):
        assert client.get("/api/getusertoken").status_code == 401

    # Not a Redis outage: nothing to fall back to, nothing to recheck.
    assert (
        messages(broker_logs)
        == [("error", "rate limits could not be checked; the request is let through")] * 3
    )
    assert limits.storage_dead is False


@pytest.fixture
def stalled_listener() -> Iterator[int]:
    """A port whose accept queue is full: a new connection's handshake is never answered."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    queued = []
    for _ in range(3):
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(("127.0.0.1", port))
        queued.append(filler)
    try:
        yield port
    finally:
        for filler in queued:
            filler.close()
        listener.close()


@pytest.fixture
def silent_listener() -> Iterator[int]:
    """A port that takes connections and never answers; closed after a while, so that a
    client without a read timeout fails the test instead of hanging it."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    closing = threading.Timer(MOST_A_REQUEST_MAY_WAIT + 2, listener.close)
    closing.start()
    try:
        yield listener.getsockname()[1]
    finally:
        closing.cancel()
        listener.close()


@pytest.mark.parametrize("listener", ["stalled_listener", "silent_listener"])
def test_a_stalled_redis_holds_a_request_about_a_second_then_counting_falls_back(
    listener: str, request: pytest.FixtureRequest
) -> None:
    port: int = request.getfixturevalue(listener)
    app = app_with_redis(f"redis://127.0.0.1:{port}/0", BROKER_RATE_LIMIT_PER_IP="1/minute")
    client = app.test_client()

    started = time.monotonic()
    assert client.get("/api/getusertoken").status_code == 401
    assert time.monotonic() - started < MOST_A_REQUEST_MAY_WAIT

    assert limits_of(app).storage_dead
    assert client.get("/api/getusertoken").status_code == 429


def test_closing_the_limits_closes_the_redis_client(monkeypatch: pytest.MonkeyPatch) -> None:
    limits = limits_of(unreachable_redis_app())
    closed: list[bool] = []
    redis_client = limits.storage.storage  # type: ignore[attr-defined]
    monkeypatch.setattr(redis_client, "close", lambda: closed.append(True))

    limits.close()

    assert closed == [True]
