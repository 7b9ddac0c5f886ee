"""The production server against a failing stand-in vendor: documented answers, no dead
workers, and tokens again once the vendor recovers."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from harness.standin_process import StandinProcess

from . import fake_secrets
from .broker_server import BrokerServer, session_cookie
from .conftest import assert_no_secret, mindset_settings

pytestmark = pytest.mark.network


@pytest.fixture(scope="module")
def standin() -> Iterator[StandinProcess]:
    with StandinProcess(fake_secrets.API_KEY, fake_secrets.APP_UID) as vendor:
        yield vendor


def worker_boots(server: BrokerServer) -> int:
    return server.logs().count("Booting worker with pid")


@pytest.fixture(scope="module")
def server(
    standin: StandinProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BrokerServer]:
    env = mindset_settings(
        MINDSET_API_HOST=standin.url,
        MINDSET_READ_TIMEOUT="30",
        BROKER_DEADLINE="1.5",
        BROKER_RETRY_AFTER_CAP="1",
        BROKER_BREAKER_FAILURES="1000",
        BROKER_RATE_LIMIT="100000/minute",
        BROKER_RATE_LIMIT_PER_IP="100000/minute",
    )
    # Leaving the block also scans the server's logs for every configured secret.
    with BrokerServer(env, tmp_path_factory.mktemp("gunicorn"), workers=2) as process:
        yield process


def ask_many(server: BrokerServer, count: int = 12) -> list[int]:
    cookie = session_cookie({"user_id": "ada"})

    def ask(_: int) -> int:
        response = requests.get(
            f"{server.url}/api/getusertoken", headers={"Cookie": f"session={cookie}"}, timeout=20
        )
        assert_no_secret(response.text, "a response body")
        if response.status_code != 200:
            assert response.json()["retryable"] is ("Retry-After" in response.headers)
        return response.status_code

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(ask, range(count)))


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        ({"mode": "status", "status": 500}, {503}),
        ({"mode": "status", "status": 429, "retry_after": "30"}, {503}),
        ({"mode": "slow", "delay_ms": 4000}, {504}),
        ({"mode": "hang"}, {504}),
        ({"mode": "reset"}, {503}),
        ({"mode": "garbage"}, {502}),
    ],
    ids=["500", "429", "slow", "hang", "reset", "garbage"],
)
def test_no_worker_dies_and_tokens_flow_again(
    server: BrokerServer, standin: StandinProcess, fault: dict[str, Any], expected: set[int]
) -> None:
    boots = worker_boots(server)
    assert ask_many(server, 4) == [200] * 4

    standin.set_fault(**fault)
    try:
        assert set(ask_many(server)) == expected
    finally:
        standin.clear_fault()

    assert ask_many(server, 4) == [200] * 4
    assert worker_boots(server) == boots == 2
    logs = server.logs()
    assert "WORKER TIMEOUT" not in logs
    assert "Traceback" not in logs
