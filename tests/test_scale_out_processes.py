"""Two production servers (gunicorn, two workers each) sharing one real redis-server, against
the stand-in vendor process: one vendor call for a user across both, and no lost request when
Redis stops."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from harness.redis_process import RedisProcess
from harness.standin_process import StandinProcess

from . import fake_secrets
from .broker_server import BrokerServer, session_cookie
from .gated_vendor import WAIT, wait_until

pytestmark = pytest.mark.network

# Long enough that requests sent once the first call is under way all arrive before it ends.
SLOW_CALL_MS = 6000


@pytest.fixture
def vendor() -> Iterator[StandinProcess]:
    with StandinProcess(fake_secrets.API_KEY, fake_secrets.APP_UID) as process:
        yield process


@pytest.fixture
def redis_server() -> Iterator[RedisProcess]:
    with RedisProcess() as server:
        yield server


@pytest.fixture
def instances(
    vendor: StandinProcess, redis_server: RedisProcess, tmp_path: Path
) -> Iterator[tuple[BrokerServer, BrokerServer]]:
    settings = {
        "MINDSET_API_HOST": vendor.url,
        "MINDSET_API_KEY": fake_secrets.API_KEY,
        "MINDSET_APP_UID": fake_secrets.APP_UID,
        "MINDSET_READ_TIMEOUT": "30",
        "SECRET_KEY": fake_secrets.SECRET_KEY,
        "BROKER_REDIS_URL": redis_server.url,
    }
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with (
        BrokerServer(settings, tmp_path / "a") as first,
        BrokerServer(settings, tmp_path / "b") as second,
    ):
        yield first, second


def get_token(server: BrokerServer, user_id: str = "ada") -> tuple[int, str]:
    cookie = session_cookie({"user_id": user_id})
    response = requests.get(
        f"{server.url}/api/getusertoken", cookies={"session": cookie}, timeout=SLOW_CALL_MS
    )
    return response.status_code, response.json().get("authToken", "")


def test_two_broker_processes_sharing_redis_make_one_vendor_call_per_user(
    instances: tuple[BrokerServer, BrokerServer],
    vendor: StandinProcess,
    redis_server: RedisProcess,
) -> None:
    first, second = instances
    vendor.clear()
    vendor.set_fault("slow", delay_ms=SLOW_CALL_MS, times=1)
    client = redis_server.client()
    with ThreadPoolExecutor(9) as pool:
        leader = pool.submit(get_token, first)
        wait_until(lambda: bool(client.keys("tokenbroker:flight:*")), "a shared flight")
        others = [pool.submit(get_token, server) for server in (first, second) * 4]
        answers = [leader.result(WAIT + SLOW_CALL_MS / 1000)]
        answers += [other.result(WAIT + SLOW_CALL_MS / 1000) for other in others]
    client.close()

    assert {status for status, _ in answers} == {200}
    assert len({token for _, token in answers}) == 1
    assert vendor.stats()["auth_calls"] == 1


def test_stopping_redis_mid_run_loses_no_request(
    instances: tuple[BrokerServer, BrokerServer],
    vendor: StandinProcess,
    redis_server: RedisProcess,
) -> None:
    first, second = instances
    vendor.configure(latency_ms=200)
    with ThreadPoolExecutor(6) as pool:
        futures = [
            pool.submit(get_token, server, f"user{n}")
            for n in range(12)
            for server in (first, second)
        ]
        wait_until(lambda: sum(future.done() for future in futures) >= 4, "first answers")
        redis_server.stop()
        answers = [future.result(WAIT) for future in futures]

    assert [status for status, _ in answers] == [200] * 24
    logs = first.logs() + second.logs()
    assert "Redis unreachable" in logs
    assert "serving with per-instance state" in logs
