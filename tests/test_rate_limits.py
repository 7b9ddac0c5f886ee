"""Rate limits on the token routes: per signed-in user, per client address, shared or not.

Careless changes these tests catch (``protection/rate_limits.py``): one budget for all users,
or per request; an address or a user id written to the counter store; a forwarded address
believed without trusted proxies; an IPv6 client given a budget per address, or an
IPv4-mapped address counted apart from its IPv4 one; counting that stops when Redis fails
instead of falling back to memory, or never returns to Redis; a 429 without ``Retry-After``,
or after the vendor was called; the memory store swept by its 10 ms timer again.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from typing import Any

import pytest
import responses
from flask import Flask
from flask.testing import FlaskClient

from flask_token_broker.observability import telemetry
from flask_token_broker.state import current_broker
from harness.processes import free_port
from harness.redis_process import RedisProcess

from .conftest import AUTH_URL, build_app, mindset_settings, sign_in


@pytest.fixture
def vendor() -> Any:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.post(AUTH_URL, json={"authToken": "tok-limited"})
        yield mock


@pytest.fixture
def limited_events() -> Iterator[list[dict[str, Any]]]:
    seen: list[dict[str, Any]] = []

    def listen(event: str, fields: dict[str, Any]) -> None:
        if event == "rate_limited":
            seen.append(fields)

    telemetry.subscribe(listen)
    yield seen
    telemetry._listeners.remove(listen)


def limited_app(**extra: str) -> Flask:
    return build_app(mindset_settings(**extra))


def assert_rate_limited(response: Any) -> None:
    assert response.status_code == 429
    body = response.get_json()
    assert body["error"] == "rate_limited"
    assert body["retryable"] is True
    assert body["request_id"] == response.headers["X-Request-ID"]
    assert int(response.headers["Retry-After"]) >= 1


def test_a_user_over_the_limit_gets_429_and_the_vendor_is_not_called(
    vendor: Any, limited_events: list[dict[str, Any]]
) -> None:
    client = limited_app(BROKER_RATE_LIMIT="2/minute").test_client()
    sign_in(client, "ada")
    assert client.get("/api/getusertoken").status_code == 200
    assert client.get("/api/getusertoken").status_code == 200

    response = client.get("/api/getusertoken")

    assert_rate_limited(response)
    assert 1 <= int(response.headers["Retry-After"]) <= 61
    assert len(vendor.calls) == 2
    assert limited_events == [{"scope": "user"}]


def test_each_user_has_their_own_budget(vendor: Any) -> None:
    app = limited_app(BROKER_RATE_LIMIT="1/minute")
    ada, bob = app.test_client(), app.test_client()
    sign_in(ada, "ada")
    sign_in(bob, "bob")
    assert ada.get("/api/getusertoken").status_code == 200
    assert bob.get("/api/getusertoken").status_code == 200
    assert_rate_limited(ada.get("/api/getusertoken"))


def test_anonymous_requests_count_against_the_address(
    vendor: Any, limited_events: list[dict[str, Any]]
) -> None:
    client = limited_app(BROKER_RATE_LIMIT_PER_IP="3/minute").test_client()
    for _ in range(3):
        assert client.get("/api/getusertoken").status_code == 401
    assert_rate_limited(client.get("/api/getusertoken"))
    assert limited_events == [{"scope": "ip"}]


def test_the_address_limit_is_shared_by_all_token_routes_and_the_demo_login(vendor: Any) -> None:
    client = limited_app(BROKER_RATE_LIMIT_PER_IP="3/minute", BROKER_DEMO_LOGIN="1").test_client()
    assert client.post("/demo/login", data={"external_id": "ada"}).status_code == 200
    assert client.get("/api/getusertoken").status_code == 200
    assert client.post("/demo/logout").status_code == 200
    assert_rate_limited(client.post("/demo/login", data={"external_id": "ada"}))


def test_other_routes_are_not_limited(vendor: Any) -> None:
    client = limited_app(BROKER_RATE_LIMIT_PER_IP="1/minute").test_client()
    for _ in range(3):
        assert client.get("/openapi.json").status_code == 200


@pytest.mark.parametrize(
    ("hops", "separate_buckets"),
    [("0", False), ("1", True)],
)
def test_forwarded_addresses_count_only_behind_trusted_proxies(
    vendor: Any, hops: str, separate_buckets: bool
) -> None:
    client = limited_app(BROKER_RATE_LIMIT_PER_IP="1/minute", BROKER_PROXY_HOPS=hops).test_client()
    first = client.get("/api/getusertoken", headers={"X-Forwarded-For": "203.0.113.1"})
    second = client.get("/api/getusertoken", headers={"X-Forwarded-For": "203.0.113.2"})
    assert first.status_code == 401
    assert (second.status_code == 401) is separate_buckets


def test_a_spoofed_forwarded_chain_cannot_pick_a_fresh_address(vendor: Any) -> None:
    # One trusted proxy appends the real peer; only the last entry is believed.
    client = limited_app(BROKER_RATE_LIMIT_PER_IP="1/minute", BROKER_PROXY_HOPS="1").test_client()
    client.get("/api/getusertoken", headers={"X-Forwarded-For": "198.51.100.9, 203.0.113.1"})
    second = client.get(
        "/api/getusertoken", headers={"X-Forwarded-For": "198.51.100.10, 203.0.113.1"}
    )
    assert_rate_limited(second)


def test_with_redis_down_the_broker_keeps_serving_and_limiting_in_memory(vendor: Any) -> None:
    # A port nothing listens on: every Redis call fails at once.
    app = limited_app(
        BROKER_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0", BROKER_RATE_LIMIT="2/minute"
    )
    client = app.test_client()
    sign_in(client, "ada")
    with app.app_context():
        storage_check = current_broker().readiness_checks["rate_limit_storage"]
    assert storage_check()[0] == "ok"
    assert client.get("/api/getusertoken").status_code == 200
    assert client.get("/api/getusertoken").status_code == 200
    assert_rate_limited(client.get("/api/getusertoken"))
    assert storage_check()[0] == "degraded"


@pytest.fixture
def redis_url() -> Iterator[str]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (.ci/run installs it)")
    with RedisProcess() as redis_server:
        yield redis_server.url


@pytest.mark.network
def test_with_redis_instances_share_one_budget(vendor: Any, redis_url: str) -> None:
    settings = {"BROKER_REDIS_URL": redis_url, "BROKER_RATE_LIMIT": "2/minute"}
    first: FlaskClient = limited_app(**settings).test_client()
    second: FlaskClient = limited_app(**settings).test_client()
    sign_in(first, "ada")
    sign_in(second, "ada")
    assert first.get("/api/getusertoken").status_code == 200
    assert second.get("/api/getusertoken").status_code == 200
    assert_rate_limited(first.get("/api/getusertoken"))


def test_the_in_process_counter_store_sweeps_once_a_second_not_every_10_ms() -> None:
    from flask_token_broker.protection.limit_storage import SWEEP_INTERVAL, SweptMemoryStorage

    storage = SweptMemoryStorage("broker-memory://")
    storage.incr("short-lived", expiry=0.05)
    # No timer thread (a greenlet under gevent) runs the sweeps: nothing can keep a stopping
    # process alive, or be started again and again.
    assert not storage.timer.is_alive()
    updates = 0
    ends = time.monotonic() + SWEEP_INTERVAL * 1.5
    while time.monotonic() < ends:
        assert storage.incr("k", expiry=60) == updates + 1
        updates += 1
    assert updates > 1000
    assert storage.sweeps == 1
    # The sweep returned the expired counter's memory; the live one stays.
    assert "short-lived" not in storage.storage
    assert storage.get("k") == updates


def test_expired_counters_read_as_zero_before_any_sweep() -> None:
    from flask_token_broker.protection.limit_storage import SweptMemoryStorage

    storage = SweptMemoryStorage("broker-memory://")
    try:
        storage.incr("k", expiry=0.05)
        time.sleep(0.1)
        assert storage.get("k") == 0
    finally:
        storage.timer.cancel()


ADDRESS = "203.0.113.9"


def counter_keys(app: Flask) -> list[str]:
    storage = app.extensions["broker_rate_limits"].storage
    return [str(key) for key in storage.storage]


def test_counter_keys_hold_neither_the_address_nor_the_user_id(vendor: Any) -> None:
    app = limited_app()
    client = app.test_client()
    sign_in(client, "ada-4711")
    assert client.get("/api/getusertoken", environ_base={"REMOTE_ADDR": ADDRESS}).status_code == 200
    keys = counter_keys(app)
    # One counter per limit, each named by the limit's scope after the keyed hash.
    assert {key.split("/")[3] for key in keys} == {"user", "ip"}, keys
    for key in keys:
        assert ADDRESS not in key
        assert "ada-4711" not in key


def test_hashed_addresses_still_have_their_own_budgets(vendor: Any) -> None:
    client = limited_app(BROKER_RATE_LIMIT_PER_IP="1/minute").test_client()
    assert client.get("/api/getusertoken", environ_base={"REMOTE_ADDR": ADDRESS}).status_code == 401
    assert_rate_limited(client.get("/api/getusertoken", environ_base={"REMOTE_ADDR": ADDRESS}))
    other = client.get("/api/getusertoken", environ_base={"REMOTE_ADDR": "198.51.100.7"})
    assert other.status_code == 401


@pytest.mark.network
def test_redis_never_holds_a_client_address(vendor: Any, redis_url: str) -> None:
    import redis

    client = limited_app(BROKER_REDIS_URL=redis_url).test_client()
    sign_in(client, "ada-4711")
    assert client.get("/api/getusertoken", environ_base={"REMOTE_ADDR": ADDRESS}).status_code == 200
    keys = [str(key) for key in redis.Redis.from_url(redis_url, decode_responses=True).keys("*")]
    assert any("LIMITER" in key for key in keys), keys
    for key in keys:
        assert ADDRESS not in key
        assert "ada-4711" not in key


def test_counting_goes_back_to_redis_once_it_answers_again(vendor: Any) -> None:
    app = limited_app(
        BROKER_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0", BROKER_RATE_LIMIT="5/minute"
    )
    client = app.test_client()
    sign_in(client, "ada")
    limits = app.extensions["broker_rate_limits"]
    assert client.get("/api/getusertoken").status_code == 200
    assert limits.storage_dead
    # Still unreachable: not asked again before its back-off has passed.
    checks: list[bool] = []

    def redis_answers() -> bool:
        checks.append(True)
        return True

    limits.storage.check = redis_answers
    assert client.get("/api/getusertoken").status_code == 200
    assert checks == []
    assert limits.storage_dead
    # Back-off over, and Redis answers: the next request counts there again.
    limits._last_recheck -= 2
    limits._counting.hit = lambda *args, **kwargs: True
    with app.app_context():
        storage_check = current_broker().readiness_checks["rate_limit_storage"]
    client.get("/api/getusertoken")
    assert checks == [True]
    assert not limits.storage_dead
    assert storage_check()[0] == "ok"


@pytest.mark.parametrize(
    ("first", "second", "shared"),
    [
        ("2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:fffe", True),
        ("2001:db8:1:2::1", "2001:db8:1:3::1", False),
        ("::ffff:192.0.2.7", "192.0.2.7", True),
        ("192.0.2.7", "192.0.2.8", False),
    ],
)
def test_an_ipv6_network_shares_one_address_budget(
    vendor: Any, first: str, second: str, shared: bool
) -> None:
    client = limited_app(BROKER_RATE_LIMIT_PER_IP="1/minute").test_client()
    assert client.get("/api/getusertoken", environ_base={"REMOTE_ADDR": first}).status_code == 401
    again = client.get("/api/getusertoken", environ_base={"REMOTE_ADDR": second})
    if shared:
        assert_rate_limited(again)
    else:
        assert again.status_code == 401


def test_the_ipv6_prefix_is_a_setting(vendor: Any) -> None:
    client = limited_app(
        BROKER_RATE_LIMIT_PER_IP="1/minute", BROKER_RATE_LIMIT_IPV6_PREFIX="128"
    ).test_client()
    for address in ("2001:db8::1", "2001:db8::2"):
        response = client.get("/api/getusertoken", environ_base={"REMOTE_ADDR": address})
        assert response.status_code == 401
