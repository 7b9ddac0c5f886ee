"""How broker instances sharing Redis obtain a user's token: one instance calls the vendor and
the others wait for its outcome, a reusable token minted anywhere is handed out everywhere,
and any Redis trouble leaves each instance minting on its own.

Each instance is the production :class:`MindsetTokens` with its own vendor connection, local
store, coalescer and :class:`SharedState`; they share a real ``redis-server`` (one per module,
emptied before each test) while all their code runs in this process. The test reads what is
stored with a Redis client of its own (opening sealed values as another instance would), and
sees what each instance asks of Redis, or holds it, by wrapping its ``SharedState`` methods.

Careless changes these tests catch (``minting/tokens.py``): an instance ignoring Redis, or
using it while it is down; instances deriving different keys for one request, or a key
needing a secret that a lone instance lacks; a leader that does not publish its token or its
failure, or never releases its flight lock, so the others wait it out; a waiting instance
that turns the leader's failure into another error, or loses its ``Retry-After``, or gives
up on a leader that answers and calls the vendor again; a waiting instance left hanging, or
crashing, when its leader vanished; a token found in Redis not kept locally, or written back
by every instance that read it; the flight lock living shorter than a vendor call; telemetry
naming the wrong vendor or outcome (``minted``, ``coalesced``, ``reused``).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from flask_token_broker.errors import (
    BrokerError,
    VendorRejected,
    VendorUnavailable,
    broker_error_response,
)
from flask_token_broker.minting.shared_state import Clock, Flight, Kept, SharedState
from flask_token_broker.minting.tokens import MindsetTokens
from flask_token_broker.observability import telemetry
from flask_token_broker.state import current_broker
from flask_token_broker.users import CurrentUser
from harness.redis_process import RedisProcess

from .conftest import LogLines, build_app, mindset_settings
from .gated_vendor import WAIT, GatedVendor, attach, jwt_with_exp, wait_until
from .shared_state_support import FakeClock, opened

pytestmark = pytest.mark.redis

ADA = CurrentUser("ada", name="Ada")
PREFIX = "tokenbroker"  # BROKER_REDIS_PREFIX's default


def kind_of(answer: Kept | Flight | None) -> str:
    """What ``SharedState.begin`` told an instance to do."""
    if answer is None:
        return "unanswered"  # Redis failed, or is not asked while it is thought down
    if isinstance(answer, Kept):
        return "token"
    if not answer.shared:
        return "alone"  # Redis's token was unreadable: mint outside any flight
    return "lead" if answer.leader else "follow"


class SharedRedis:
    """The ``redis-server`` the test's instances share, and what they asked of it."""

    def __init__(self, server: RedisProcess) -> None:
        self.server = server
        self.client = server.client()
        self._lock = threading.Lock()
        self.begun: list[str] = []  # every instance's begin, in order: see kind_of
        self.locks_taken: list[int] = []  # how long each flight lock was taken for, in ms
        self.token_writes: list[str] = []  # the key of each token kept in Redis
        self.waits = 0  # followers polling Redis for a flight's outcome
        self.begin_gate = threading.Event()  # cleared: begin waits for the test
        self.begin_gate.set()
        self._states: list[SharedState] = []

    # -- what the test sees and does ---------------------------------------------------------

    def keys(self, kind: str) -> list[str]:
        """The live keys of one kind (``token``, ``flight``, ``outcome``)."""
        found: list[bytes] = self.client.keys(f"{PREFIX}:{kind}:*")  # type: ignore[assignment]
        return sorted(key.decode() for key in found)

    def store(self, key: str, value: bytes) -> None:
        self.client.set(key, value, px=60_000)

    def forget(self, key: str) -> None:
        """The key is gone now (its holder crashed, its time ran out, Redis evicted it)."""
        self.client.delete(key)

    def wait_begun(self, count: int) -> None:
        wait_until(lambda: len(self.begun) >= count, f"{count} instances began")

    # -- the instances' side -----------------------------------------------------------------

    def shared_state(self, instance: Instance, clock: Clock) -> SharedState:
        """A :class:`SharedState` on this server, as ``instance``'s settings build it."""
        config = instance.config
        shared = SharedState(self.server.url, config.redis, config.secret_key, clock=clock)
        self._states.append(shared)
        begin, put_token, await_flight = shared.begin, shared.put_token, shared.await_flight

        def begin_seen(key: str, bound_ms: int, *, reuse: bool) -> Kept | Flight | None:
            if not self.begin_gate.wait(WAIT):
                raise AssertionError("the test never let the instance begin")
            answer = begin(key, bound_ms, reuse=reuse)
            with self._lock:
                self.begun.append(kind_of(answer))
                if isinstance(answer, Flight) and answer.leader:
                    self.locks_taken.append(bound_ms)
            return answer

        def put_token_seen(key: str, token: str, until: float) -> None:
            with self._lock:
                self.token_writes.append(f"{shared.prefix}:token:{key}")
            put_token(key, token, until)

        def await_flight_seen(flight: Flight, max_wait: float) -> dict[str, Any] | None:
            with self._lock:
                self.waits += 1
            return await_flight(flight, max_wait)

        shared.begin = begin_seen  # type: ignore[method-assign]
        shared.put_token = put_token_seen  # type: ignore[method-assign]
        shared.await_flight = await_flight_seen  # type: ignore[method-assign]
        return shared

    def close(self) -> None:
        for shared in self._states:
            shared.client.close()
        self.client.close()


class Instance:
    """One broker instance: the app's own token machinery, with Redis shared through ``redis``."""

    def __init__(
        self, redis: SharedRedis, vendor: GatedVendor, *, clock: Clock = time, **settings: str
    ) -> None:
        self.app = app = build_app(mindset_settings(**settings))
        attach(app, vendor)
        with app.app_context():
            broker = current_broker()
        own = broker.mindset
        assert own is not None
        self.config = broker.settings
        self.tokens = MindsetTokens(
            own.client,
            own.settings,
            own.resilience,
            shared=redis.shared_state(self, clock),
            key_secret=own.key_secret,
        )

    def mint(self) -> str:
        return self.tokens.mint(ADA)

    def key(self, kind: str) -> str:
        return f"{PREFIX}:{kind}:{self.tokens.key_for(self.tokens.request_for(ADA))}"


class HeaderVendor(GatedVendor):
    """A vendor answering with extra headers (``Retry-After`` on a refusal)."""

    def __init__(self, headers: dict[str, str]) -> None:
        super().__init__()
        self.extra_headers = headers

    def send(
        self, request: requests.PreparedRequest, *options: Any, **named: Any
    ) -> requests.Response:
        response = super().send(request, *options, **named)
        response.headers.update(self.extra_headers)
        return response


@pytest.fixture(scope="module")
def module_redis() -> Iterator[RedisProcess]:
    with RedisProcess() as server:
        yield server


@pytest.fixture
def redis(module_redis: RedisProcess) -> Iterator[SharedRedis]:
    """The module's redis-server, emptied: each test starts with nothing shared."""
    shared = SharedRedis(module_redis)
    shared.client.flushall()
    yield shared
    shared.close()


@pytest.fixture
def stoppable_redis() -> Iterator[SharedRedis]:
    """A redis-server of the test's own, which it may stop and start again."""
    with RedisProcess() as server:
        shared = SharedRedis(server)
        yield shared
        shared.close()


@pytest.fixture
def vendor() -> GatedVendor:
    return GatedVendor()


@pytest.fixture
def reusable(vendor: GatedVendor) -> GatedVendor:
    """The vendor answers JWTs valid for an hour: reusable under the default settings."""
    vendor.make_token = lambda n, body: jwt_with_exp(time.time() + 3600, sub=f"mint-{n}")
    return vendor


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(4) as executor:
        yield executor


@pytest.fixture
def outcomes(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The fields of every ``token`` telemetry event, in order."""
    seen: list[dict[str, Any]] = []

    def listener(event: str, fields: dict[str, Any]) -> None:
        if event == "token":
            seen.append(dict(fields))

    monkeypatch.setattr(telemetry, "_listeners", [listener])
    return seen


def told(*outcomes: str) -> list[dict[str, Any]]:
    return [{"vendor": "mindset", "outcome": outcome} for outcome in outcomes]


def test_a_second_instance_waits_for_the_first_ones_vendor_call_and_hands_out_its_token(
    redis: SharedRedis,
    vendor: GatedVendor,
    pool: ThreadPoolExecutor,
    outcomes: list[dict[str, Any]],
) -> None:
    a, b = Instance(redis, vendor), Instance(redis, vendor)
    vendor.hold()
    leading = pool.submit(a.mint)
    vendor.wait_in_flight(1)
    following = pool.submit(b.mint)
    redis.wait_begun(2)
    vendor.release()

    assert (leading.result(WAIT), following.result(WAIT)) == ("tok-1", "tok-1")
    assert redis.begun == ["lead", "follow"]
    assert len(vendor.calls) == 1
    assert outcomes == told("minted", "coalesced")
    assert redis.keys("flight") == []  # released as soon as the call was over
    # An opaque token is not reusable by default: it is not kept in Redis.
    assert redis.token_writes == []
    assert redis.keys("token") == []


@pytest.mark.parametrize("deadline", [2.5, 8.0])
def test_the_flight_lock_lasts_the_vendor_deadline_and_one_second_more(
    redis: SharedRedis, vendor: GatedVendor, deadline: float
) -> None:
    a = Instance(redis, vendor, BROKER_DEADLINE=str(deadline))
    bound = int((deadline + 1) * 1000)
    vendor.hold()
    with ThreadPoolExecutor(1) as pool:
        minting = pool.submit(a.mint)
        vendor.wait_in_flight(1)
        assert redis.keys("flight") == [a.key("flight")]
        # Redis holds the lock for that long (less the moments since it was taken).
        assert bound - 1000 < redis.client.pttl(a.key("flight")) <= bound
        vendor.release()
        assert minting.result(WAIT) == "tok-1"
    assert redis.locks_taken == [bound]


@pytest.mark.parametrize(
    ("status", "headers", "error", "retry_after"),
    [
        pytest.param(503, {"Retry-After": "7"}, VendorUnavailable, 7.0, id="unavailable"),
        pytest.param(401, {}, VendorRejected, None, id="rejected"),
    ],
)
def test_the_leaders_failure_reaches_the_waiting_instance_as_the_same_error(
    redis: SharedRedis,
    pool: ThreadPoolExecutor,
    outcomes: list[dict[str, Any]],
    status: int,
    headers: dict[str, str],
    error: type[BrokerError],
    retry_after: float | None,
    broker_logs: LogLines,
) -> None:
    vendor = HeaderVendor(headers)
    vendor.status = status
    a = Instance(redis, vendor, BROKER_RETRY_ATTEMPTS="1")
    b = Instance(redis, vendor, BROKER_RETRY_ATTEMPTS="1")
    vendor.hold()
    leading = pool.submit(a.mint)
    vendor.wait_in_flight(1)
    following = pool.submit(b.mint)
    redis.wait_begun(2)
    vendor.release()

    leader_error, follower_error = leading.exception(WAIT), following.exception(WAIT)
    assert type(leader_error) is error
    assert type(follower_error) is error
    assert isinstance(leader_error, BrokerError)
    assert isinstance(follower_error, BrokerError)
    assert leader_error.retry_after == follower_error.retry_after == retry_after
    assert follower_error is not leader_error
    # The operator reading the waiting instance's log is sent to the leader's.
    with b.app.test_request_context():
        broker_error_response(follower_error)
    assert json.loads(broker_logs[-1])["msg"] == (
        f"{error.code}: the vendor call made for this user by another broker instance failed; "
        "its log line says why"
    )
    assert len(vendor.calls) == 1  # the waiting instance did not call the vendor again
    assert outcomes == []
    assert redis.keys("flight") == []


def test_a_leader_ended_by_a_bug_lets_the_waiting_instance_call_the_vendor_at_once(
    redis: SharedRedis,
    vendor: GatedVendor,
    pool: ThreadPoolExecutor,
    outcomes: list[dict[str, Any]],
) -> None:
    def answer(number: int, body: dict[str, Any]) -> str:
        if number == 1:
            raise RuntimeError("a bug on the leading instance")
        return f"tok-{number}"

    vendor.make_token = answer
    a, b = Instance(redis, vendor), Instance(redis, vendor)
    vendor.hold()
    leading = pool.submit(a.mint)
    vendor.wait_in_flight(1)
    following = pool.submit(b.mint)
    redis.wait_begun(2)
    vendor.release()

    assert isinstance(leading.exception(WAIT), RuntimeError)
    # The lock is released with the failure, so the waiting instance need not wait it out.
    assert redis.keys("flight") == []
    assert following.result(WAIT) == "tok-2"
    assert outcomes == told("minted")


def test_an_instance_whose_leader_vanished_calls_the_vendor_itself_without_a_flight(
    redis: SharedRedis,
    vendor: GatedVendor,
    pool: ThreadPoolExecutor,
    outcomes: list[dict[str, Any]],
) -> None:
    b = Instance(redis, vendor)
    redis.store(b.key("flight"), b"the-flight-of-a-crashed-instance")
    following = pool.submit(b.mint)
    redis.wait_begun(1)
    redis.forget(b.key("flight"))  # its lock expired

    assert following.result(WAIT) == "tok-1"
    assert redis.begun == ["follow"]
    assert outcomes == told("minted")
    # Nobody waits on it: it publishes nothing and takes no lock.
    assert redis.keys("outcome") == []
    assert redis.keys("flight") == []
    assert redis.locks_taken == []


def test_with_redis_unreachable_each_instance_mints_on_its_own(
    stoppable_redis: SharedRedis, vendor: GatedVendor, outcomes: list[dict[str, Any]]
) -> None:
    # A clock that stands still: every mint below is within BROKER_REDIS's retry delay.
    a = Instance(stoppable_redis, vendor, clock=FakeClock())
    stoppable_redis.server.stop()
    assert a.mint() == "tok-1"
    assert a.mint() == "tok-2"
    assert outcomes == told("minted", "minted")
    stoppable_redis.server.start_again()
    assert a.mint() == "tok-3"  # within BROKER_REDIS's retry delay, Redis is not asked
    # Asked once, by the first mint; the later ones did not try Redis again.
    assert stoppable_redis.begun == ["unanswered"]
    assert stoppable_redis.keys("flight") == []


def test_a_reusable_token_minted_by_one_instance_is_reused_by_another_then_kept_locally(
    redis: SharedRedis, reusable: GatedVendor, outcomes: list[dict[str, Any]]
) -> None:
    a, b = Instance(redis, reusable), Instance(redis, reusable)
    token = a.mint()
    assert redis.keys("token") == [a.key("token")]
    assert opened(redis.client, a.key("token"))["token"] == token
    assert b.mint() == token
    redis.forget(a.key("token"))  # b answers from its own store from now on
    assert b.mint() == token
    assert len(reusable.calls) == 1
    assert redis.begun == ["lead", "token"]
    assert outcomes == told("minted", "reused", "reused")
    assert redis.token_writes == [a.key("token")]


def test_an_instance_that_waited_for_a_reusable_token_keeps_it_without_writing_it_again(
    redis: SharedRedis,
    reusable: GatedVendor,
    pool: ThreadPoolExecutor,
    outcomes: list[dict[str, Any]],
) -> None:
    a, b = Instance(redis, reusable), Instance(redis, reusable)
    reusable.hold()
    leading = pool.submit(a.mint)
    reusable.wait_in_flight(1)
    following = pool.submit(b.mint)
    redis.wait_begun(2)
    reusable.release()
    token = leading.result(WAIT)
    assert following.result(WAIT) == token

    assert redis.token_writes == [a.key("token")]  # the leader's
    assert opened(redis.client, a.key("token"))["token"] == token
    redis.forget(a.key("token"))
    assert b.mint() == token
    assert len(reusable.calls) == 1
    assert redis.begun == ["lead", "follow"]
    assert outcomes == told("minted", "coalesced", "reused")


def test_an_unreadable_token_in_redis_is_minted_anew_outside_any_flight(
    redis: SharedRedis, vendor: GatedVendor, outcomes: list[dict[str, Any]]
) -> None:
    a = Instance(redis, vendor)
    redis.store(a.key("token"), b"not sealed with this SECRET_KEY")
    assert a.mint() == "tok-1"
    assert outcomes == told("minted")
    # It mints at once: it neither leads a flight nor waits for anyone's.
    assert redis.begun == ["alone"]
    assert redis.waits == 0
    assert redis.locks_taken == []
    assert redis.keys("flight") == []
    assert redis.keys("outcome") == []


def test_requests_sharing_an_in_process_call_that_found_a_token_in_redis_count_as_reused(
    redis: SharedRedis,
    reusable: GatedVendor,
    pool: ThreadPoolExecutor,
    outcomes: list[dict[str, Any]],
) -> None:
    a, b = Instance(redis, reusable), Instance(redis, reusable)
    token = a.mint()
    key = b.tokens.key_for(b.tokens.request_for(ADA))
    redis.begin_gate.clear()
    first, second = pool.submit(b.mint), pool.submit(b.mint)
    wait_until(lambda: b.tokens.coalescer.waiting(key) == 1, "a request joined the call")
    redis.begin_gate.set()

    assert (first.result(WAIT), second.result(WAIT)) == (token, token)
    assert redis.begun == ["lead", "token"]
    assert outcomes == told("minted", "reused", "reused")


def test_without_a_key_secret_an_instance_still_reuses_its_own_tokens(
    reusable: GatedVendor, outcomes: list[dict[str, Any]]
) -> None:
    app = build_app(mindset_settings())
    attach(app, reusable)
    with app.app_context():
        own = current_broker().mindset
    assert own is not None
    alone = MindsetTokens(own.client, own.settings)
    token = alone.mint(ADA)
    assert alone.mint(ADA) == token
    assert len(reusable.calls) == 1
    assert outcomes == told("minted", "reused")
    # Each such instance draws its own secret: its keys cannot be computed elsewhere.
    request = alone.request_for(ADA)
    assert alone.key_for(request) != MindsetTokens(own.client, own.settings).key_for(request)
