"""The broker against a real, failing vendor process: every fault mode of the stand-in.

Each case asserts the documented answer (status, code, ``retryable``, ``Retry-After``), that
it came within the deadline (with a margin far above scheduling noise: the point is that a
hanging vendor cannot hold a request for its 30 s read timeout), and that tokens flow again
as soon as the vendor recovers, without restarting anything.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from harness.processes import ROOT
from harness.standin_process import StandinProcess

from . import fake_secrets
from .conftest import build_app, sign_in
from .drip_server import DRIP_IDS, DRIPS, DripServer

pytestmark = pytest.mark.network

DEADLINE = 1.5
# Generous: only a broker that ignores its deadline (30 s read timeout below) exceeds it.
MARGIN = 3.0


@pytest.fixture(scope="module")
def standin() -> Iterator[StandinProcess]:
    with StandinProcess(fake_secrets.API_KEY, fake_secrets.APP_UID) as vendor:
        yield vendor


@pytest.fixture
def vendor(standin: StandinProcess) -> Iterator[StandinProcess]:
    standin.reset()
    yield standin
    standin.clear_fault()


def broker_for(base_url: str, **extra: str) -> Flask:
    return build_app(
        {
            "MINDSET_API_HOST": base_url,
            "MINDSET_API_KEY": fake_secrets.API_KEY,
            "MINDSET_APP_UID": fake_secrets.APP_UID,
            "SECRET_KEY": fake_secrets.SECRET_KEY,
            "BROKER_DEADLINE": str(DEADLINE),
            "MINDSET_CONNECT_TIMEOUT": "1",
            "MINDSET_READ_TIMEOUT": "30",
            "BROKER_RETRY_AFTER_CAP": "1",
            **extra,
        }
    )


def timed_token_request(app: Flask) -> tuple[Any, float]:
    client = app.test_client()
    sign_in(client, "ada")
    started = time.monotonic()
    response = client.get("/api/getusertoken")
    return response, time.monotonic() - started


FAULTS: list[tuple[dict[str, Any], int, str, str | None, int]] = [
    # mode and options, status, code, Retry-After, vendor calls
    ({"mode": "status", "status": 500}, 503, "vendor_unavailable", "2", 1),
    ({"mode": "status", "status": 503}, 503, "vendor_unavailable", "2", 3),
    ({"mode": "status", "status": 503, "retry_after": "60"}, 503, "vendor_unavailable", "60", 1),
    ({"mode": "status", "status": 429, "retry_after": "30"}, 503, "vendor_unavailable", "30", 1),
    ({"mode": "slow", "delay_ms": 4000}, 504, "vendor_timeout", "2", 1),
    ({"mode": "hang"}, 504, "vendor_timeout", "2", 1),
    ({"mode": "reset"}, 503, "vendor_unavailable", "2", 3),
    ({"mode": "garbage"}, 502, "vendor_bad_response", None, 1),
    ({"mode": "wrong_shape"}, 502, "vendor_bad_response", None, 1),
    ({"mode": "status", "status": 403}, 502, "vendor_rejected", None, 1),
]


@pytest.mark.parametrize(
    ("fault", "status", "code", "retry_after", "calls"),
    FAULTS,
    ids=[f"{f['mode']}-{f.get('status', '')}{f.get('retry_after', '')}" for f, *_ in FAULTS],
)
def test_each_fault_gets_its_documented_answer_in_time_and_recovery_needs_no_restart(
    vendor: StandinProcess,
    fault: dict[str, Any],
    status: int,
    code: str,
    retry_after: str | None,
    calls: int,
) -> None:
    app = broker_for(vendor.url)
    vendor.set_fault(**fault)

    response, took = timed_token_request(app)

    assert response.status_code == status
    body = response.get_json()
    assert body["error"] == code
    assert body["retryable"] is (retry_after is not None)
    assert response.headers.get("Retry-After") == retry_after
    assert took < DEADLINE + MARGIN
    assert vendor.stats()["auth_calls"] == calls

    vendor.clear_fault()
    recovered, _ = timed_token_request(app)
    assert recovered.status_code == 200
    assert recovered.get_json()["authToken"].startswith("standin-tok.")


def test_a_short_429_is_waited_out_and_retried(vendor: StandinProcess) -> None:
    vendor.set_fault("status", status=429, retry_after="1", times=1)
    response, took = timed_token_request(broker_for(vendor.url))
    assert response.status_code == 200
    assert vendor.stats()["auth_calls"] == 2
    assert took < DEADLINE + MARGIN


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_a_closed_port_is_503_retryable() -> None:
    response, took = timed_token_request(broker_for(f"http://127.0.0.1:{closed_port()}"))
    assert response.status_code == 503
    assert response.get_json()["retryable"] is True
    assert response.headers["Retry-After"] == "2"
    assert took < DEADLINE + MARGIN


def test_the_circuit_opens_on_a_failing_vendor_and_closes_when_it_recovers(
    vendor: StandinProcess,
) -> None:
    app = broker_for(vendor.url, BROKER_BREAKER_FAILURES="2", BROKER_BREAKER_COOLDOWN="1")
    vendor.set_fault("status", status=500)
    for _ in range(2):
        assert timed_token_request(app)[0].status_code == 503
    calls = vendor.stats()["auth_calls"]

    refused, _ = timed_token_request(app)
    assert refused.status_code == 503
    assert vendor.stats()["auth_calls"] == calls

    vendor.clear_fault()
    time.sleep(1.1)  # the cool-down, then one probe closes the circuit
    assert timed_token_request(app)[0].status_code == 200
    assert timed_token_request(app)[0].status_code == 200


def test_a_body_dripped_byte_by_byte_is_cut_off_at_the_deadline() -> None:
    with DripServer(interval=0.1) as server:
        response, took = timed_token_request(broker_for(server.url))
    assert response.status_code == 504
    assert response.get_json()["error"] == "vendor_timeout"
    # Every byte came within the read timeout; only the deadline stopped the read.
    assert server.sent
    assert max(server.sent) < server.total
    assert took < DEADLINE + MARGIN


# A deadline is honoured within the watchdog's tick; the rest is scheduling on a busy machine.
TIGHT_MARGIN = 1.0


@pytest.mark.parametrize(("status", "drip_headers", "answer", "code"), DRIPS, ids=DRIP_IDS)
def test_without_gevent_a_dripped_answer_ends_by_the_deadline(
    status: int, drip_headers: bool, answer: int, code: str
) -> None:
    with DripServer(
        drip_headers=drip_headers, interval=0.1, status=status, location="http://localhost:9/"
    ) as server:
        response, took = timed_token_request(broker_for(server.url))
    assert response.status_code == answer
    assert response.get_json()["error"] == code
    assert max(server.sent) < server.total
    assert took < DEADLINE + TIGHT_MARGIN


GEVENT_CLIENT = textwrap.dedent(
    """
    from gevent import monkey
    monkey.patch_all()
    import sys, time
    from flask_token_broker.mindset.client import MindsetClient
    from flask_token_broker.mindset.vendor_api import AuthRequest
    from tests.vendor_defaults import CLIENT_OPTIONS
    from flask_token_broker.mindset.errors import MindsetTimeout
    client = MindsetClient(
        sys.argv[1], "key-0123456789", "app", **{**CLIENT_OPTIONS, "read_timeout": 30}
    )
    started = time.monotonic()
    try:
        client.authenticate(AuthRequest(external_id="ada"), deadline=started + 1)
    except MindsetTimeout as error:
        print("timeout", error.phase)
    else:
        print("answered")
    print(time.monotonic() - started)
    """
)


def test_under_gevent_even_dripped_headers_are_cut_off_at_the_deadline() -> None:
    with DripServer(drip_headers=True, interval=0.1) as server:
        result = subprocess.run(
            [sys.executable, "-c", GEVENT_CLIENT, server.url],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
            cwd=ROOT,
        )
    outcome, took = result.stdout.strip().splitlines()
    assert outcome == "timeout deadline"
    assert max(server.sent) < server.total
    # Cut off at the 1 s deadline, not after the 20-odd seconds the drip would take.
    assert 1.0 <= float(took) < 1.0 + TIGHT_MARGIN
