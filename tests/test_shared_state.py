"""Two broker instances sharing a real ``redis-server``: coalescing and reuse across instances,
nothing readable in Redis, and no lost request when Redis goes away.

Careless changes these tests catch (``minting/shared_state.py``, ``minting/sealing.py``, with
``test_invariants.py``): a token or a failure stored readable; a sealed value opening under
another key or moved to another user's key; a nonce reused; a late leader releasing the lock
another instance now holds; a failure kept and served after its flight; a Redis outage
failing requests instead of falling back to this instance alone.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from flask_token_broker.minting.sealing import Sealer, derive_key
from flask_token_broker.minting.shared_state import Flight, SharedState
from flask_token_broker.minting.tokens import MindsetTokens
from flask_token_broker.settings import RedisSettings
from flask_token_broker.state import current_broker
from flask_token_broker.users import CurrentUser
from harness.processes import free_port
from harness.redis_process import RedisProcess

from . import fake_secrets
from .conftest import LogLines, build_app, mindset_settings, sign_in
from .gated_vendor import WAIT, GatedVendor, attach, jwt_with_exp, wait_until

pytestmark = pytest.mark.redis


@pytest.fixture(scope="module")
def module_redis() -> Iterator[RedisProcess]:
    with RedisProcess() as server:
        yield server


@pytest.fixture
def redis_server(module_redis: RedisProcess) -> RedisProcess:
    """The module's redis-server, emptied: each test starts with nothing shared."""
    client = module_redis.client()
    client.flushall()
    client.close()
    return module_redis


@pytest.fixture
def stoppable_redis() -> Iterator[RedisProcess]:
    """A redis-server of the test's own, which it may stop and start again."""
    with RedisProcess() as server:
        yield server


class Instance:
    """One broker instance: its own app, coalescer, local store and vendor connection."""

    def __init__(self, redis_url: str, **settings: str) -> None:
        self.app = build_app(mindset_settings(BROKER_REDIS_URL=redis_url, **settings))
        self.vendor = attach(self.app, GatedVendor())
        with self.app.app_context():
            broker = current_broker()
            assert broker.mindset is not None
            self.tokens: MindsetTokens = broker.mindset
            self.readiness = broker.readiness_checks["redis"]
        assert self.tokens.shared is not None
        self.shared: SharedState = self.tokens.shared
        self.following = threading.Event()
        following, real = self.following, self.shared.await_flight

        def await_flight(*args: Any, **kwargs: Any) -> Any:
            following.set()
            return real(*args, **kwargs)

        self.shared.await_flight = await_flight  # type: ignore[method-assign]

    def get(self, user_id: str = "ada") -> tuple[int, Any]:
        client = self.app.test_client()
        sign_in(client, user_id)
        response = client.get("/api/getusertoken")
        return response.status_code, response.get_json()


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(8) as executor:
        yield executor


def test_two_instances_sharing_redis_coalesce_one_users_requests(
    redis_server: RedisProcess, pool: ThreadPoolExecutor
) -> None:
    a, b = Instance(redis_server.url), Instance(redis_server.url)
    a.vendor.hold()
    first = pool.submit(a.get)
    a.vendor.wait_in_flight(1)
    others = [pool.submit(b.get) for _ in range(3)]
    assert b.following.wait(WAIT)
    # The other two wait on b's own call before a's flight lands: one arriving later would
    # find nothing in flight anywhere and rightly mint for itself.
    key = b.tokens.key_for(b.tokens.request_for(CurrentUser("ada")))
    wait_until(lambda: b.tokens.coalescer.waiting(key) == 2, "b's requests wait on one call")

    a.vendor.release()

    assert first.result(WAIT) == (200, {"authToken": "tok-1"})
    assert [other.result(WAIT) for other in others] == [(200, {"authToken": "tok-1"})] * 3
    assert (len(a.vendor.calls), len(b.vendor.calls)) == (1, 0)


def test_a_failure_reaches_the_other_instance_and_is_not_kept(
    redis_server: RedisProcess, pool: ThreadPoolExecutor
) -> None:
    a, b = Instance(redis_server.url), Instance(redis_server.url)
    a.vendor.status = 503
    a.vendor.hold()
    first = pool.submit(a.get)
    a.vendor.wait_in_flight(1)
    waiting = pool.submit(b.get)
    assert b.following.wait(WAIT)
    a.vendor.release()

    assert first.result(WAIT)[0] == 503
    status, body = waiting.result(WAIT)
    assert (status, body["error"]) == (503, "vendor_unavailable")
    assert len(b.vendor.calls) == 0
    assert b.get() == (200, {"authToken": "tok-1"})
    assert len(b.vendor.calls) == 1


def test_a_reusable_token_minted_by_one_instance_is_reused_by_the_other(
    redis_server: RedisProcess,
) -> None:
    a, b = Instance(redis_server.url), Instance(redis_server.url)
    a.vendor.make_token = lambda n, body: jwt_with_exp(time.time() + 3600, body["externalId"])

    status, body = a.get()
    assert status == 200
    assert b.get() == (200, body)
    assert (len(a.vendor.calls), len(b.vendor.calls)) == (1, 0)


def test_redis_holds_only_sealed_expiring_values(redis_server: RedisProcess) -> None:
    a = Instance(redis_server.url, BROKER_REDIS_PREFIX="acme-broker")
    a.vendor.make_token = lambda n, body: jwt_with_exp(time.time() + 3600, body["externalId"])
    # An id with letters outside hex, so it cannot turn up by chance inside a digest.
    token = a.get("lovelace")[1]["authToken"]

    client = redis_server.client()
    # Only the broker's own keys: the rate limiter keeps its counters under its own prefix.
    keys: list[bytes] = list(client.keys("acme-broker:*"))  # type: ignore[arg-type]
    assert keys
    assert not client.keys("tokenbroker:*")
    for key in keys:
        assert re.fullmatch(rb"acme-broker:(token|flight|outcome):[0-9a-f]+(:[0-9a-f]+)?", key)
        assert b"lovelace" not in key
        assert client.pttl(key) > 0
        value = client.get(key)
        assert value is not None
        assert token.encode() not in value
        assert token.split(".")[1].encode() not in value
    client.close()


def test_a_value_moved_to_another_key_does_not_open(redis_server: RedisProcess) -> None:
    a = Instance(redis_server.url)
    a.vendor.make_token = lambda n, body: jwt_with_exp(time.time() + 3600, body["externalId"])
    a.get("ada")
    client = redis_server.client()
    (ada_key,) = client.keys("*:token:*")
    bob = a.tokens.request_for(CurrentUser(id="bob", email=None, name=None))
    bob_key = f"tokenbroker:token:{a.tokens.key_for(bob)}"
    client.set(bob_key, client.get(ada_key) or b"", px=60_000)
    client.close()

    b = Instance(redis_server.url)
    b.vendor.make_token = lambda n, body: f"fresh-{body['externalId']}"
    assert b.get("bob") == (200, {"authToken": "fresh-bob"})


def test_stopping_redis_mid_run_loses_no_request(
    stoppable_redis: RedisProcess, pool: ThreadPoolExecutor, broker_logs: LogLines
) -> None:
    a, b = Instance(stoppable_redis.url), Instance(stoppable_redis.url)
    assert a.get("warm-up")[0] == 200
    a.vendor.hold()
    first = pool.submit(a.get)
    a.vendor.wait_in_flight(1)
    waiting = pool.submit(b.get)
    assert b.following.wait(WAIT)

    stoppable_redis.stop()
    a.vendor.release()

    assert first.result(WAIT)[0] == 200
    assert waiting.result(WAIT)[0] == 200
    # B's wait on Redis failed, so B minted the token itself instead of failing the request.
    assert len(b.vendor.calls) == 1
    later = [pool.submit(instance.get, f"user{n}") for n in range(6) for instance in (a, b)]
    assert [answer.result(WAIT)[0] for answer in later] == [200] * 12
    assert a.readiness()[0] == "degraded"
    warnings = [line for line in broker_logs if "Redis unreachable" in line]
    assert 1 <= len(warnings) <= 2
    assert all(json.loads(line)["level"] == "warning" for line in warnings)


def test_an_unreachable_redis_degrades_readiness_but_serves_tokens() -> None:
    a = Instance(f"redis://127.0.0.1:{free_port()}/0")
    assert [a.get(f"user{n}")[0] for n in range(3)] == [200] * 3
    status, details = a.readiness()
    assert status == "degraded"
    assert details["fallback"] == "per-instance state"


def test_redis_is_used_again_once_it_is_back(stoppable_redis: RedisProcess) -> None:
    a = Instance(stoppable_redis.url)
    a.shared.retry_after = 0.0
    a.vendor.make_token = lambda n, body: jwt_with_exp(time.time() + 3600, body["externalId"])
    stoppable_redis.stop()
    assert a.get("ada")[0] == 200
    assert a.readiness()[0] == "degraded"

    stoppable_redis.start_again()
    wait_until(lambda: a.readiness()[0] == "ok", "Redis usable again")
    assert a.get("bob")[0] == 200
    client = stoppable_redis.client()
    assert len(client.keys("*:token:*")) == 1
    client.close()


def test_sealed_values_open_only_with_the_same_key_and_context() -> None:
    sealer = Sealer(derive_key("secret-one", "redis-values"))
    sealed = sealer.seal(b"token", b"key-a")
    assert sealer.open(sealed, b"key-a") == b"token"
    assert sealer.open(sealed, b"key-b") is None
    assert Sealer(derive_key("secret-two", "redis-values")).open(sealed, b"key-a") is None
    assert sealer.open(sealed[:-1] + bytes([sealed[-1] ^ 1]), b"key-a") is None
    assert sealer.open(b"short", b"key-a") is None


def test_a_late_leader_never_releases_the_flight_another_instance_now_leads(
    redis_server: RedisProcess,
) -> None:
    shared = SharedState(redis_server.url, RedisSettings(), fake_secrets.SECRET_KEY)
    try:
        late = shared.begin("ada-key", 100, reuse=False)  # a flight bounded to 100 ms
        assert isinstance(late, Flight)
        assert late.leader
        time.sleep(0.3)  # its lock has expired: the leader overran its bound
        current = shared.begin("ada-key", 10_000, reuse=False)
        assert isinstance(current, Flight)
        assert current.leader
        shared.finish_flight(late, {"token": "tok-late"})
        # The late finisher published its outcome, but the lock is still the current leader's.
        follower = shared.begin("ada-key", 10_000, reuse=False)
        assert isinstance(follower, Flight)
        assert not follower.leader
        assert follower.flight_id == current.flight_id
    finally:
        shared.client.close()
