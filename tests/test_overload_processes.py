"""A worker holding BROKER_MAX_IN_FLIGHT requests answers the next one 503 overloaded, at once.

The real production server (its gevent worker), one worker with a bound of
four, in front of the real stand-in made slow: four token requests wait on the vendor, the
fifth request is refused within a second in the broker's JSON error shape with Retry-After,
the four held ones are answered normally, and the refusal is counted in ``/metrics``.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from harness.standin_process import StandinProcess
from serving.settings import MAX_IN_FLIGHT

from . import fake_secrets
from .broker_server import BrokerServer, session_cookie
from .conftest import KNOWN_SECRETS, mindset_settings
from .raw_http import address, read_until_closed

pytestmark = pytest.mark.network

BOUND = 4
VENDOR_DELAY_MS = 3000
REFUSED_WITHIN = 1.0
TIMEOUT = 15.0
METRICS_TOKEN = "metrics-token-for-overload-tests-01"
KNOWN_SECRETS.add(METRICS_TOKEN)


@pytest.fixture(scope="module")
def standin() -> Iterator[StandinProcess]:
    with StandinProcess(fake_secrets.API_KEY, fake_secrets.APP_UID) as vendor:
        yield vendor


@pytest.fixture(scope="module")
def broker(
    standin: StandinProcess,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[BrokerServer]:
    env = mindset_settings(
        MINDSET_API_HOST=standin.url,
        BROKER_MAX_IN_FLIGHT=str(BOUND),
        BROKER_METRICS_TOKEN=METRICS_TOKEN,
        BROKER_DEADLINE="8",
        MINDSET_READ_TIMEOUT="8",
    )
    with BrokerServer(env, tmp_path_factory.mktemp("overload"), workers=1) as server:
        yield server


def token(url: str, user: str) -> requests.Response:
    cookie = session_cookie({"user_id": user, "user_name": user})
    return requests.get(f"{url}/api/getusertoken", cookies={"session": cookie}, timeout=TIMEOUT)


def wait_for_vendor_calls(standin: StandinProcess, count: int) -> None:
    deadline = time.monotonic() + TIMEOUT
    while len(standin.requests()) < count:
        assert time.monotonic() < deadline, f"{count} vendor calls never arrived"
        time.sleep(0.05)


def refusals_counted(url: str) -> float:
    metrics = requests.get(
        f"{url}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}, timeout=TIMEOUT
    )
    assert metrics.status_code == 200
    for line in metrics.text.splitlines():
        if line.startswith("broker_overload_refusals_total "):
            return float(line.split()[1])
    return 0.0


def test_the_refusal_count_is_on_metrics_at_zero_before_any_refusal(broker: BrokerServer) -> None:
    metrics = requests.get(
        f"{broker.url}/metrics",
        headers={"Authorization": f"Bearer {METRICS_TOKEN}"},
        timeout=TIMEOUT,
    )
    assert metrics.status_code == 200
    assert "broker_overload_refusals_total 0.0" in metrics.text.splitlines()


def test_beyond_the_bound_a_request_is_refused_at_once_and_the_others_are_served(
    broker: BrokerServer, standin: StandinProcess
) -> None:
    standin.reset()
    standin.set_fault("slow", delay_ms=VENDOR_DELAY_MS)
    counted_before = refusals_counted(broker.url)
    try:
        with ThreadPoolExecutor(BOUND) as pool:
            held = [pool.submit(token, broker.url, f"held-{n}") for n in range(BOUND)]
            wait_for_vendor_calls(standin, BOUND)
            started = time.monotonic()
            refused = requests.get(f"{broker.url}/healthz", timeout=TIMEOUT)
            waited = time.monotonic() - started
            answers = [future.result() for future in held]
    finally:
        standin.clear_fault()

    assert refused.status_code == 503
    assert waited < REFUSED_WITHIN
    assert refused.headers["Retry-After"] == "1"
    assert refused.headers["Content-Type"] == "application/json"
    assert refused.headers["Cache-Control"] == "no-store"
    body = refused.json()
    assert set(body) == {"error", "message", "request_id", "retryable"}
    assert body["error"] == "overloaded"
    assert body["retryable"] is True
    assert "Retry-After" in body["message"]
    assert body["request_id"] == refused.headers["X-Request-ID"]
    # Below the bound nothing changes: the held requests got their tokens.
    assert [answer.status_code for answer in answers] == [200] * BOUND
    assert all(answer.json()["authToken"] for answer in answers)
    # Once they are answered the worker takes requests again, and the refusal was counted.
    assert requests.get(f"{broker.url}/healthz", timeout=TIMEOUT).status_code == 200
    assert refusals_counted(broker.url) == counted_before + 1
    assert "refused overloaded" in broker.logs()


def test_up_to_the_bound_concurrent_requests_are_all_served(
    broker: BrokerServer, standin: StandinProcess
) -> None:
    standin.reset()
    standin.set_fault("slow", delay_ms=500)
    counted_before = refusals_counted(broker.url)
    barrier = threading.Barrier(BOUND)

    def together(n: int) -> requests.Response:
        barrier.wait(TIMEOUT)
        return token(broker.url, f"together-{n}")

    try:
        with ThreadPoolExecutor(BOUND) as pool:
            answers = list(pool.map(together, range(BOUND)))
    finally:
        standin.clear_fault()
    assert [answer.status_code for answer in answers] == [200] * BOUND
    assert refusals_counted(broker.url) == counted_before


@pytest.mark.parametrize(
    ("raw", "problem"),
    [("many", "whole number"), ("0", "at least 1"), ("100001", "at most 100000")],
)
def test_max_in_flight_setting_is_checked(raw: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        MAX_IN_FLIGHT.parse(raw)
    assert MAX_IN_FLIGHT.parse("64") == 64


def test_a_bad_max_in_flight_stops_the_server_naming_it(tmp_path: Path) -> None:
    server = BrokerServer(mindset_settings(BROKER_MAX_IN_FLIGHT="lots"), tmp_path, workers=1)
    try:
        with pytest.raises(RuntimeError, match="exited"):
            server.start()
    finally:
        server.stop()  # a server that did start must not outlive the test
    assert "broker configuration error: BROKER_MAX_IN_FLIGHT must be a whole number" in (
        server.logs()
    )


def raw_request(url: str, request: bytes, *, read: bool) -> bytes:
    with socket.create_connection(address(url), timeout=TIMEOUT) as sock:
        sock.sendall(request)
        if not read:
            return b""  # the client leaves before the answer
        return read_until_closed(sock, TIMEOUT)


def test_the_in_flight_count_comes_back_however_requests_end(
    standin: StandinProcess, tmp_path: Path
) -> None:
    # Two: a request whose client left may still be finishing when the next one comes.
    env = mindset_settings(
        MINDSET_API_HOST=standin.url,
        BROKER_MAX_IN_FLIGHT="2",
        BROKER_RATE_LIMIT="100000/minute",
        BROKER_RATE_LIMIT_PER_IP="100000/minute",
    )
    cookie = session_cookie({"user_id": "ada"})
    closing = (
        f"GET /api/getusertoken HTTP/1.1\r\nHost: b\r\nCookie: session={cookie}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    # An exception inside the app (the user's id cannot be a Mindset externalId: 422).
    failing = (
        "GET /api/getusertoken HTTP/1.1\r\nHost: b\r\nConnection: close\r\n"
        f"Cookie: session={session_cookie({'user_id': 'not|valid'})}\r\n\r\n"
    ).encode()
    with BrokerServer(env, tmp_path, workers=1) as server:
        for _ in range(334):
            assert raw_request(server.url, closing, read=True).startswith(b"HTTP/1.1 200")
            assert raw_request(server.url, failing, read=True).startswith(b"HTTP/1.1 422")
            raw_request(server.url, closing, read=False)
        time.sleep(0.5)  # the last abandoned request finishes
        # Had any way of ending left a request counted, the bound of 2 would refuse these.
        with ThreadPoolExecutor(2) as pool:
            answers = list(pool.map(lambda user: token(server.url, user), ["ada", "bob"]))
        assert [answer.status_code for answer in answers] == [200, 200]
