"""Shared flights and kept tokens in a real ``redis-server``: who leads a key's vendor call, what
its followers receive and for how long they wait, and which kept tokens are handed out again.

Each test drives :class:`SharedState` in-process with a clock of its own against one
``redis-server`` per module, emptied before every test.

Careless changes these tests catch (``minting/shared_state.py``): a kept token handed out with
reuse switched off, at or after its deadline, or when its stored entry is garbled; a token
kept in Redis for longer than it has left, or written with an expiry Redis refuses (which
would switch the instance off Redis); values sealed with a key another instance of the
broker cannot derive; a follower giving up before a leader's outcome lands, waiting past its
bound or on a flight another instance now leads, or polling at another pace than the
documented 2 ms doubling to 20 ms; an outcome that is not an object passed on as one.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from flask_token_broker.minting.sealing import Sealer, derive_key
from flask_token_broker.minting.shared_state import (
    FLIGHT_ID_BYTES,
    OUTCOME_TTL_MS,
    Flight,
    Kept,
    SharedState,
)
from flask_token_broker.settings import RedisSettings
from harness.redis_process import RedisProcess

from . import fake_secrets
from .conftest import LogLines
from .shared_state_support import FakeClock, opened, seal

pytestmark = pytest.mark.redis

KEY = "0123abcd"
TOKEN_NAME = f"tokenbroker:token:{KEY}"
LOCK_NAME = f"tokenbroker:flight:{KEY}"


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisProcess]:
    with RedisProcess() as server:
        yield server


@pytest.fixture
def observer(redis_server: RedisProcess) -> Iterator[redis.Redis]:
    """Redis as an operator sees it, emptied for the test."""
    client = redis_server.client()
    client.flushall()
    client.config_resetstat()
    yield client
    client.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def new_state(redis_server: RedisProcess, clock: FakeClock, observer: redis.Redis) -> Iterator[Any]:
    """Builds broker instances sharing the module's Redis (emptied) and the test's clock."""
    built: list[SharedState] = []

    def build(secret_key: str = fake_secrets.SECRET_KEY) -> SharedState:
        state = SharedState(redis_server.url, RedisSettings(), secret_key, clock=clock)
        built.append(state)
        return state

    yield build
    for state in built:
        state.client.close()


def leads(flight: Kept | Flight | None, key: str = KEY) -> Flight:
    assert isinstance(flight, Flight)
    assert flight == Flight(key, flight.flight_id, leader=True, shared=True)
    assert len(bytes.fromhex(flight.flight_id)) == FLIGHT_ID_BYTES
    return flight


def mints_alone(flight: Kept | Flight | None) -> None:
    """Not Redis's token and no flight: this instance mints on its own."""
    assert isinstance(flight, Flight)
    assert flight == Flight(KEY, flight.flight_id, leader=False, shared=False)
    assert len(bytes.fromhex(flight.flight_id)) == FLIGHT_ID_BYTES


# --- who leads ---------------------------------------------------------------------------------


def test_the_first_instance_leads_and_the_others_follow_its_flight(new_state: Any) -> None:
    a, b = new_state(), new_state()
    first = leads(a.begin(KEY, 10_000, reuse=True))
    assert b.begin(KEY, 10_000, reuse=True) == Flight(KEY, first.flight_id, leader=False)
    # Every flight has an id of its own, so no instance can answer for another's.
    ids = {leads(a.begin(f"{n:04x}", 10_000, reuse=False), f"{n:04x}").flight_id for n in range(50)}
    assert len(ids) == 50


# --- kept tokens -------------------------------------------------------------------------------


def test_a_kept_token_is_handed_out_until_its_deadline(
    new_state: Any, clock: FakeClock, observer: redis.Redis
) -> None:
    a, b = new_state(), new_state()
    until = clock.time() + 30
    a.put_token(KEY, "tok-ada", until)

    assert 29_000 < observer.pttl(TOKEN_NAME) <= 30_000
    assert b.begin(KEY, 10_000, reuse=True) == Kept("tok-ada", until)
    clock.advance(30)  # exactly at its deadline: no longer
    mints_alone(b.begin(KEY, 10_000, reuse=True))


def test_with_reuse_off_a_kept_token_is_not_handed_out(new_state: Any, clock: FakeClock) -> None:
    a = new_state()
    a.put_token(KEY, "tok-ada", clock.time() + 30)
    leads(a.begin(KEY, 10_000, reuse=False))


def test_kept_values_open_with_the_key_every_instance_derives(
    new_state: Any, clock: FakeClock, observer: redis.Redis
) -> None:
    a = new_state()
    until = clock.time() + 30
    a.put_token(KEY, "tok-ada", until)
    assert opened(observer, TOKEN_NAME) == {"token": "tok-ada", "until": until}

    flight = leads(a.begin(KEY, 10_000, reuse=False))
    a.finish_flight(flight, {"token": "tok-ada"})
    outcome = f"tokenbroker:outcome:{KEY}:{flight.flight_id}"
    assert opened(observer, outcome) == {"token": "tok-ada"}
    assert OUTCOME_TTL_MS - 1_000 < observer.pttl(outcome) <= OUTCOME_TTL_MS
    assert not observer.exists(LOCK_NAME)


@pytest.mark.parametrize(
    "entry",
    [
        {"token": 123, "until": 1_800_000_000.0},
        {"token": "tok-ada", "until": "later"},
        {"token": "tok-ada"},
        ["tok-ada", 1_800_000_000.0],
    ],
    ids=["token-not-text", "until-not-a-time", "no-until", "not-an-object"],
)
def test_a_garbled_kept_entry_is_not_handed_out(
    new_state: Any, observer: redis.Redis, entry: Any
) -> None:
    observer.set(TOKEN_NAME, seal(TOKEN_NAME, entry), px=60_000)
    mints_alone(new_state().begin(KEY, 10_000, reuse=True))


def test_a_kept_token_sealed_with_another_secret_is_ignored_with_a_warning(
    new_state: Any, clock: FakeClock, broker_logs: LogLines
) -> None:
    new_state("another-secret-key-0123456789abcdef").put_token(KEY, "tok-x", clock.time() + 30)
    mints_alone(new_state().begin(KEY, 10_000, reuse=True))
    (line,) = broker_logs
    assert json.loads(line)["level"] == "warning"
    assert json.loads(line)["msg"] == (
        "a value in Redis could not be opened (written with another SECRET_KEY, or altered); "
        "ignoring it. Instances sharing BROKER_REDIS_URL must share SECRET_KEY"
    )


@pytest.mark.parametrize(
    ("seconds_left", "written"),
    [(0.0015, True), (0.0004, False), (-5.0, False)],
    ids=["a-millisecond-left", "under-a-millisecond", "expired"],
)
def test_a_token_is_kept_in_redis_only_while_it_has_a_millisecond_left(
    new_state: Any,
    clock: FakeClock,
    observer: redis.Redis,
    broker_logs: LogLines,
    seconds_left: float,
    written: bool,
) -> None:
    a = new_state()
    a.put_token(KEY, "tok-ada", clock.time() + seconds_left)
    # A one-millisecond value may be gone already: Redis's own count of the writes says it came.
    stats = observer.info("commandstats").get("cmdstat_set", {})
    assert (stats.get("calls", 0), stats.get("failed_calls", 0)) == (int(written), 0)
    # Never an expiry Redis refuses: that would switch this instance off Redis.
    assert a.usable
    assert broker_logs == []


# --- following a flight ------------------------------------------------------------------------


def test_a_follower_receives_the_outcome_published_while_it_waits(
    new_state: Any, clock: FakeClock
) -> None:
    a, b = new_state(), new_state()
    flight = leads(a.begin(KEY, 10_000, reuse=True))
    following = b.begin(KEY, 10_000, reuse=True)
    assert isinstance(following, Flight)

    def leader_answers() -> None:
        if len(clock.slept) == 3:
            a.finish_flight(flight, {"token": "tok-ada"})

    clock.on_sleep = leader_answers
    assert b.await_flight(following, 1.0) == {"token": "tok-ada"}
    assert clock.slept == [0.002, 0.004, 0.008]
    # The flight is over: the next request leads a new one.
    assert leads(b.begin(KEY, 10_000, reuse=False)).flight_id != flight.flight_id


def test_an_outcome_published_before_the_follower_looks_is_received(new_state: Any) -> None:
    a, b = new_state(), new_state()
    flight = leads(a.begin(KEY, 10_000, reuse=True))
    following = b.begin(KEY, 10_000, reuse=True)
    assert isinstance(following, Flight)
    a.finish_flight(flight, {"error": "VendorUnavailable", "retry_after": 3})
    assert b.await_flight(following, 1.0) == {"error": "VendorUnavailable", "retry_after": 3}


def test_a_follower_polls_from_2_ms_doubling_to_20_ms_and_gives_up_at_its_bound(
    new_state: Any, clock: FakeClock
) -> None:
    a, b = new_state(), new_state()
    leads(a.begin(KEY, 10_000, reuse=True))
    following = b.begin(KEY, 10_000, reuse=True)
    assert isinstance(following, Flight)
    assert b.await_flight(following, 0.07) is None
    assert clock.slept == [0.002, 0.004, 0.008, 0.016, 0.02, 0.02]
    assert clock.monotonic() == 0.07


def test_a_follower_stops_waiting_once_another_instance_leads_the_key(
    new_state: Any, clock: FakeClock, observer: redis.Redis
) -> None:
    a, b, c = new_state(), new_state(), new_state()
    leads(a.begin(KEY, 10_000, reuse=True))
    following = b.begin(KEY, 10_000, reuse=True)
    assert isinstance(following, Flight)
    observer.delete(LOCK_NAME)  # a's bound ran out before its vendor call did
    leads(c.begin(KEY, 10_000, reuse=True))

    assert b.await_flight(following, 1.0) is None
    assert clock.slept == [0.002]


def test_a_follower_stops_waiting_once_the_leader_vanished(
    new_state: Any, clock: FakeClock, observer: redis.Redis
) -> None:
    a, b = new_state(), new_state()
    leads(a.begin(KEY, 10_000, reuse=True))
    following = b.begin(KEY, 10_000, reuse=True)
    assert isinstance(following, Flight)
    observer.delete(LOCK_NAME)

    assert b.await_flight(following, 1.0) is None
    assert clock.slept == [0.002]


@pytest.mark.parametrize("outcome", [["tok-ada"], "tok-ada", 3])
def test_an_outcome_that_is_not_an_object_is_not_passed_on(
    new_state: Any, observer: redis.Redis, outcome: Any
) -> None:
    a, b = new_state(), new_state()
    flight = leads(a.begin(KEY, 10_000, reuse=True))
    following = b.begin(KEY, 10_000, reuse=True)
    assert isinstance(following, Flight)
    name = f"tokenbroker:outcome:{KEY}:{flight.flight_id}"
    observer.set(name, seal(name, outcome), px=60_000)
    assert b.await_flight(following, 1.0) is None


def test_an_outcome_sealed_for_another_flight_is_not_passed_on(
    new_state: Any, observer: redis.Redis
) -> None:
    a, b = new_state(), new_state()
    flight = leads(a.begin(KEY, 10_000, reuse=True))
    following = b.begin(KEY, 10_000, reuse=True)
    assert isinstance(following, Flight)
    name = f"tokenbroker:outcome:{KEY}:{flight.flight_id}"
    other = Sealer(derive_key(fake_secrets.SECRET_KEY, "redis-values"))
    observer.set(name, other.seal(b'{"token": "tok-bob"}', b"tokenbroker:token:bob"), px=60_000)
    assert b.await_flight(following, 1.0) is None
