"""A Redis in trouble: unreachable, frozen, not accepting connections. Each request loses at
most ``BROKER_REDIS_TIMEOUT`` to it, the instance serves alone for ``retry_after`` seconds,
and operators get one warning a minute that names the error, then one line on recovery.

A real ``redis-server`` per module, frozen with ``CLIENT PAUSE`` (scripts and writes wait,
as on a Redis stuck on a slow disk or a long script); the broker's code runs in-process with
a clock of the test's own.

Careless changes these tests catch (``minting/shared_state.py``): a failed command retried
(one request would wait on Redis several times); a command or a connection without its
timeout; Redis asked again before ``retry_after`` has passed, or never again after it; the
warning repeated on every failure, or not once a minute, or not again after a recovery; a
warning or readiness detail that names no error, or the wrong one; a recovery line logged
on a healthy start or twice; a successful readiness ping that leaves the instance on its
own.
"""

from __future__ import annotations

import json
import logging
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from flask_token_broker.minting.shared_state import Flight, SharedState
from flask_token_broker.settings import RedisSettings
from harness.processes import free_port
from harness.redis_process import RedisProcess

from . import fake_secrets
from .conftest import LogLines
from .shared_state_support import FakeClock

pytestmark = pytest.mark.redis

KEY = "0123abcd"
TIMEOUT = 0.05
RETRY_AFTER = 7.0
# Far above TIMEOUT, far below what a missing timeout costs (redis-py's own 5 s, or forever).
PROMPTLY = 2.5


def unreachable_warning(error: str) -> str:
    return (
        f"Redis unreachable ({error}): serving with per-instance state (no token reuse or "
        "coalescing across instances) and retrying every 7 s; check BROKER_REDIS_URL and "
        "the Redis server"
    )


RECOVERED = "Redis reachable again: sharing state across instances"


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisProcess]:
    with RedisProcess() as server:
        yield server


@pytest.fixture
def observer(redis_server: RedisProcess) -> Iterator[redis.Redis]:
    client = redis_server.client()
    client.flushall()
    yield client
    client.client_unpause()
    client.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def logs(broker_logs: LogLines, caplog: pytest.LogCaptureFixture) -> LogLines:
    """The broker's lines, its info lines included."""
    caplog.set_level(logging.INFO, logger="broker.redis")
    return broker_logs


def messages(logs: LogLines) -> list[tuple[str, str]]:
    return [(json.loads(line)["level"], json.loads(line)["msg"]) for line in logs]


@pytest.fixture
def state(redis_server: RedisProcess, clock: FakeClock, observer: redis.Redis) -> Iterator[Any]:
    built: list[SharedState] = []

    def build(url: str = redis_server.url) -> SharedState:
        settings = RedisSettings(timeout=TIMEOUT, retry_after=RETRY_AFTER)
        shared = SharedState(url, settings, fake_secrets.SECRET_KEY, clock=clock)
        built.append(shared)
        return shared

    yield build
    for shared in built:
        shared.client.close()


def frozen_begin(shared: SharedState, observer: redis.Redis) -> Flight | None:
    """``begin`` while Redis answers nothing that writes; what it returned."""
    assert isinstance(shared.begin("warm-up", 10_000, reuse=True), Flight)  # connected
    connections = observer.info("stats")["total_connections_received"]
    observer.client_pause(10_000, all=False)
    started = time.monotonic()
    try:
        answer = shared.begin(KEY, 10_000, reuse=True)
    finally:
        observer.client_unpause()
    assert time.monotonic() - started < PROMPTLY
    # Asked once: the command that timed out was not sent again on a new connection.
    assert observer.info("stats")["total_connections_received"] == connections
    assert answer is None or isinstance(answer, Flight)
    return answer


def test_a_frozen_redis_costs_one_timeout_then_is_left_alone_for_retry_after(
    state: Any, clock: FakeClock, observer: redis.Redis, logs: LogLines
) -> None:
    shared = state()
    assert frozen_begin(shared, observer) is None
    assert messages(logs) == [("warning", unreachable_warning("TimeoutError"))]
    assert not shared.usable

    # Until retry_after has passed nothing is asked of Redis, though it answers again.
    clock.advance(RETRY_AFTER - 0.000001)
    assert shared.begin(KEY, 10_000, reuse=True) is None
    shared.put_token(KEY, "tok-ada", clock.time() + 60)
    assert not observer.exists(f"tokenbroker:token:{KEY}")
    assert shared.await_flight(Flight(KEY, "00", leader=False), 1.0) is None
    assert clock.slept == [0.002]

    clock.advance(0.000001)
    assert shared.usable
    assert isinstance(shared.begin(KEY, 10_000, reuse=True), Flight)
    assert isinstance(shared.begin("another", 10_000, reuse=True), Flight)
    assert messages(logs) == [
        ("warning", unreachable_warning("TimeoutError")),
        ("info", RECOVERED),
    ]


def test_while_redis_stays_down_the_warning_repeats_once_a_minute(
    state: Any, clock: FakeClock, logs: LogLines
) -> None:
    shared = state(f"redis://127.0.0.1:{free_port()}/0")
    warnings_at = []
    # Every second listed is retry_after or more after the one before: Redis is asked again.
    for second in (0, 7, 14, 53, 60, 67, 113, 120):
        clock.advance(second - clock.monotonic())
        before = len(logs)
        assert shared.begin(KEY, 10_000, reuse=True) is None
        if len(logs) > before:
            warnings_at.append(second)
    assert warnings_at == [0, 60, 120]
    assert set(messages(logs)) == {("warning", unreachable_warning("ConnectionError"))}


def test_after_a_recovery_the_next_outage_is_reported_at_once(
    state: Any, clock: FakeClock, observer: redis.Redis, logs: LogLines
) -> None:
    shared = state()
    assert frozen_begin(shared, observer) is None
    clock.advance(RETRY_AFTER)
    assert isinstance(shared.begin(KEY, 10_000, reuse=True), Flight)
    assert frozen_begin(shared, observer) is None
    assert messages(logs) == [
        ("warning", unreachable_warning("TimeoutError")),
        ("info", RECOVERED),
        ("warning", unreachable_warning("TimeoutError")),
    ]


def test_a_healthy_start_logs_nothing(state: Any, logs: LogLines) -> None:
    shared = state()
    assert isinstance(shared.begin(KEY, 10_000, reuse=True), Flight)
    assert shared.readiness() == ("ok", {})
    assert logs == []


def test_readiness_names_the_error_and_a_good_ping_ends_the_fallback_early(
    state: Any, observer: redis.Redis, logs: LogLines
) -> None:
    down = state(f"redis://127.0.0.1:{free_port()}/0")
    assert down.readiness() == (
        "degraded",
        {"error": "ConnectionError", "fallback": "per-instance state"},
    )
    assert messages(logs) == [("warning", unreachable_warning("ConnectionError"))]

    shared = state()
    assert frozen_begin(shared, observer) is None
    assert not shared.usable
    assert shared.readiness() == ("ok", {})
    assert shared.usable
    assert messages(logs)[-1] == ("info", RECOVERED)


def test_a_redis_that_accepts_no_connection_costs_one_connect_timeout(
    state: Any, logs: LogLines
) -> None:
    # A listener whose one-connection queue is full: further connections are never accepted.
    with socket.socket() as listener, socket.socket() as queued:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        queued.connect(listener.getsockname())
        shared = state(f"redis://127.0.0.1:{listener.getsockname()[1]}/0")
        started = time.monotonic()
        assert shared.begin(KEY, 10_000, reuse=True) is None
        assert time.monotonic() - started < PROMPTLY
    assert messages(logs) == [("warning", unreachable_warning("TimeoutError"))]
