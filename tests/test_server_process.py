"""The product as operators run it: gunicorn with the production config, talking over real
loopback sockets to the stand-in vendor process."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from harness.gunicorn_server import GUNICORN
from harness.processes import run_to_end
from harness.standin_process import StandinProcess

from . import fake_secrets
from .broker_server import BrokerServer, session_cookie
from .conftest import mindset_settings

pytestmark = pytest.mark.network
STRONG_KEY = fake_secrets.SECRET_KEY


def vendor_credentials() -> dict[str, str]:
    return {k: v for k, v in mindset_settings().items() if k != "SECRET_KEY"}


@pytest.fixture(scope="module")
def vendor() -> Iterator[StandinProcess]:
    with StandinProcess(fake_secrets.API_KEY, fake_secrets.APP_UID) as process:
        yield process


@pytest.fixture(scope="module")
def broker(
    vendor: StandinProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BrokerServer]:
    settings = mindset_settings(MINDSET_API_HOST=vendor.url)
    with BrokerServer(settings, tmp_path_factory.mktemp("broker")) as server:
        yield server


def test_each_token_request_is_exactly_one_documented_vendor_call(
    broker: BrokerServer, vendor: StandinProcess
) -> None:
    vendor.clear()
    cookie = session_cookie({"user_id": "ada", "user_name": "Ada Lovelace"})

    responses = [
        requests.get(f"{broker.url}/api/getusertoken", cookies={"session": cookie}, timeout=10)
        for _ in range(3)
    ]

    for response in responses:
        assert response.status_code == 200
        assert response.headers["Cache-Control"] == "no-store"
        assert response.json()["authToken"].startswith("standin-tok.")
    calls = vendor.requests()
    assert len(calls) == 3
    for call in calls:
        assert call["method"] == "POST"
        assert call["path"] == f"/api/v1/appuid/{fake_secrets.APP_UID}/sdkusers/auth"
        assert call["headers"]["x-api-key"] == fake_secrets.API_KEY
        assert call["headers"]["content-type"] == "application/json"
        assert call["json"] == {"externalId": "ada", "name": "Ada Lovelace"}


def test_without_a_session_no_vendor_call_is_made(
    broker: BrokerServer, vendor: StandinProcess
) -> None:
    vendor.clear()
    response = requests.get(
        f"{broker.url}/api/getusertoken?user_id=eve",
        headers={"X-Forwarded-User": "eve"},
        timeout=10,
    )
    assert response.status_code == 401
    assert response.json()["error"] == "not_signed_in"
    assert vendor.requests() == []


def test_a_vendor_outage_is_a_retryable_503_over_real_sockets(
    broker: BrokerServer, vendor: StandinProcess
) -> None:
    cookie = session_cookie({"user_id": "ada"})
    vendor.set_fault("status", status=503, retry_after="3")
    try:
        response = requests.get(
            f"{broker.url}/api/getusertoken", cookies={"session": cookie}, timeout=30
        )
    finally:
        vendor.clear_fault()
    assert response.status_code == 503
    assert response.json()["retryable"] is True
    assert response.headers["Retry-After"]
    after = requests.get(f"{broker.url}/api/getusertoken", cookies={"session": cookie}, timeout=10)
    assert after.status_code == 200


def test_the_production_server_forces_production(broker: BrokerServer) -> None:
    assert "env=production" in broker.logs()


@pytest.mark.parametrize(
    ("settings", "variable"),
    [
        ({"MINDSET_API_HOST": "acme.api.mindset.ai", "SECRET_KEY": STRONG_KEY}, "MINDSET_API_KEY"),
        ({}, "SECRET_KEY"),
        ({"SECRET_KEY": STRONG_KEY}, "BROKER_SANDBOX"),
        # A guessable session key would let anyone forge a session: production refuses it.
        ({**vendor_credentials(), "SECRET_KEY": "changeme"}, "SECRET_KEY"),
        # The worker models the server no longer runs are refused, not silently replaced.
        ({**vendor_credentials(), "BROKER_WORKER_CLASS": "gthread"}, "BROKER_WORKER_CLASS"),
        ({**vendor_credentials(), "BROKER_THREADS": "64"}, "BROKER_THREADS"),
    ],
)
def test_production_server_refuses_invalid_configuration_with_one_line(
    tmp_path: Path, settings: dict[str, str], variable: str
) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")},
        "BROKER_ENV_FILE": os.devnull,
        "BROKER_BIND": "127.0.0.1:0",
        **settings,
    }
    result = run_to_end([GUNICORN, "-c", "gunicorn.conf.py", "wsgi:app"], env)
    assert result.returncode != 0
    # A JSON line like every other line of the production server (serving/json_logs.py).
    lines = [line for line in result.stderr.splitlines() if "configuration error" in line]
    assert len(lines) == 1
    error = json.loads(lines[0])
    assert error["level"] == "error"
    assert error["msg"].startswith("broker configuration error: ")
    assert variable in error["msg"]
    assert "Traceback" not in result.stderr
