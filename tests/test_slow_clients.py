"""Slow clients against the production server (its gevent worker) on loopback.

One worker, as many slow connections as its BROKER_WORKER_CONNECTIONS, each sending a header
line every second and never finishing: the broker keeps answering others within 2 s, and the
server closes every slow connection by the header timeout. Everything stops by itself.
"""

from __future__ import annotations

import contextlib
import resource
import selectors
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from harness.standin_process import StandinProcess
from serving.settings import HEADER_TIMEOUT as HEADER_TIMEOUT_SETTING

from . import fake_secrets
from .broker_server import BrokerServer, session_cookie
from .conftest import mindset_settings
from .raw_http import address, parse, read_until_closed

pytestmark = pytest.mark.network

SLOW_CONNECTIONS = 1000
HEADER_TIMEOUT = 4.0
HELD_FOR = 6.0  # the probes run while the slow connections are held
ANSWER_WITHIN = 2.0


@pytest.fixture(scope="module", autouse=True)
def enough_file_descriptors() -> None:
    """The test and the server (which inherits the limit) each hold every slow connection."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 4 * SLOW_CONNECTIONS
    if soft < wanted:
        assert hard == resource.RLIM_INFINITY or hard >= wanted, f"ulimit -Hn is {hard}"
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


@pytest.fixture(scope="module")
def standin() -> Iterator[StandinProcess]:
    with StandinProcess(fake_secrets.API_KEY, fake_secrets.APP_UID) as vendor:
        yield vendor


class Slowloris:
    """Connections that send a request line, then one more header line every second."""

    def __init__(self, url: str, count: int) -> None:
        self.sockets = [socket.create_connection(address(url)) for _ in range(count)]
        self.opened = time.monotonic()
        self.stop = threading.Event()
        for sock in self.sockets:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: broker\r\n")
        self.dripper = threading.Thread(target=self._drip, daemon=True)
        self.dripper.start()

    def _drip(self) -> None:
        line = 0
        while not self.stop.wait(1.0):
            line += 1
            for sock in self.sockets:
                # A send fails once the server closed the connection: what the test waits for.
                with contextlib.suppress(OSError):
                    sock.send(f"X-Slow-{line}: x\r\n".encode())

    def wait_for_server_to_close_all(self, timeout: float) -> list[bytes]:
        """What each connection received before the server closed it."""
        received = dict.fromkeys(self.sockets, b"")
        selector = selectors.DefaultSelector()
        for sock in self.sockets:
            sock.setblocking(False)
            selector.register(sock, selectors.EVENT_READ, sock)
        deadline = time.monotonic() + timeout
        open_ones = len(self.sockets)
        while open_ones and time.monotonic() < deadline:
            for key, _ in selector.select(timeout=0.5):
                peer: socket.socket = key.data
                try:
                    chunk = peer.recv(65536)
                except ConnectionResetError:
                    chunk = b""
                if chunk:
                    received[peer] += chunk
                else:
                    selector.unregister(peer)
                    open_ones -= 1
        selector.close()
        assert open_ones == 0, f"{open_ones} slow connections still open after {timeout} s"
        return list(received.values())

    def close(self) -> None:
        self.stop.set()
        self.dripper.join(5)
        for sock in self.sockets:
            sock.close()


def probe(url: str, cookie: str) -> None:
    started = time.monotonic()
    health = requests.get(f"{url}/healthz", timeout=ANSWER_WITHIN)
    token = requests.get(
        f"{url}/api/getusertoken", headers={"Cookie": f"session={cookie}"}, timeout=ANSWER_WITHIN
    )
    assert health.status_code == 200
    assert token.status_code == 200, token.text
    assert token.json()["authToken"]
    assert time.monotonic() - started < 2 * ANSWER_WITHIN


def server_settings(standin: StandinProcess, **extra: str) -> dict[str, str]:
    """The stand-in's broker, limits out of the way, BROKER_HEADER_TIMEOUT at HEADER_TIMEOUT."""
    return mindset_settings(
        MINDSET_API_HOST=standin.url,
        BROKER_RATE_LIMIT="100000/minute",
        BROKER_RATE_LIMIT_PER_IP="100000/minute",
        BROKER_HEADER_TIMEOUT=str(HEADER_TIMEOUT),
        **extra,
    )


def test_slow_clients_do_not_stop_the_broker(standin: StandinProcess, tmp_path: Path) -> None:
    env = server_settings(standin, BROKER_WORKER_CONNECTIONS=str(SLOW_CONNECTIONS))
    cookie = session_cookie({"user_id": "ada"})
    with BrokerServer(env, tmp_path, workers=1) as server:
        slow = Slowloris(server.url, SLOW_CONNECTIONS)
        try:
            while time.monotonic() - slow.opened < HELD_FOR:
                probe(server.url, cookie)
                time.sleep(0.25)
            # Allow for a busy machine.
            received = slow.wait_for_server_to_close_all(
                HEADER_TIMEOUT + 3 - (time.monotonic() - slow.opened)
            )
        finally:
            slow.close()
        answers = [parse(data) for data in received if data]
        # Those still waiting at the deadline were told why (others were shed for the probes).
        assert answers
        assert {answer.status for answer in answers} == {408}
        assert {answer.json()["error"] for answer in answers} == {"request_timeout"}
        probe(server.url, cookie)


@pytest.mark.parametrize(
    ("raw", "problem"),
    [("ten", "a number of seconds"), ("0", "more than 0"), ("301", "at most 300")],
)
def test_header_timeout_setting_is_checked(raw: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        HEADER_TIMEOUT_SETTING.parse(raw)
    assert HEADER_TIMEOUT_SETTING.parse("2.5") == 2.5


def hold_connections(url: str, count: int, payload: bytes) -> list[socket.socket]:
    sockets = [socket.create_connection(address(url)) for _ in range(count)]
    for sock in sockets:
        sock.sendall(payload)
    return sockets


@pytest.mark.parametrize(
    ("payload", "count"),
    [
        # Announces a body and never sends it: 30-40 of these stalled gunicorn's gthread worker
        # until the master killed it.
        (b"GET /healthz HTTP/1.1\r\nHost: broker\r\nContent-Length: 10\r\n\r\n", 40),
        # One whole request, then half of the next on the same connection: each held a gthread
        # thread with no time limit, and 400 of them left no thread for anyone else.
        (b"GET /healthz HTTP/1.1\r\nHost: broker\r\n\r\nGET /healthz HTTP/1.1\r\nHost: bro", 400),
    ],
    ids=["body-never-sent", "half-a-pipelined-request"],
)
def test_stalled_connections_do_not_stop_the_worker(
    payload: bytes, count: int, standin: StandinProcess, tmp_path: Path
) -> None:
    env = server_settings(standin)
    cookie = session_cookie({"user_id": "ada"})
    with BrokerServer(env, tmp_path, workers=1) as server:
        stalled = hold_connections(server.url, count, payload)
        try:
            held_since = time.monotonic()
            while time.monotonic() - held_since < HELD_FOR:
                probe(server.url, cookie)
                time.sleep(0.25)
            # The master never had to kill the worker for being stuck.
            assert server.logs().count("Booting worker with pid") == 1
        finally:
            for sock in stalled:
                sock.close()


def test_half_of_a_pipelined_request_gets_the_header_deadline_not_the_keepalive(
    standin: StandinProcess, tmp_path: Path
) -> None:
    # One whole request, then half of the next: the bytes of the second are in already, so
    # its header deadline runs (408), not the keep-alive wait for a first byte (75 s).
    env = server_settings(standin, BROKER_KEEPALIVE="75")
    with BrokerServer(env, tmp_path, workers=1) as server:
        sock = socket.create_connection(address(server.url))
        try:
            sent = time.monotonic()
            sock.sendall(
                b"GET /healthz HTTP/1.1\r\nHost: broker\r\n\r\nGET /healthz HTTP/1.1\r\nHost: bro"
            )
            received = read_until_closed(sock, HEADER_TIMEOUT + 10)
            closed_after = time.monotonic() - sent
        finally:
            sock.close()
    first, _, rest = received.partition(b"\r\n\r\n")
    assert first.startswith(b"HTTP/1.1 200"), received
    assert b"HTTP/1.1 408 Request Timeout" in rest, received
    assert b'"error": "request_timeout"' in rest, received
    assert HEADER_TIMEOUT - 0.5 <= closed_after < HEADER_TIMEOUT + 3


def test_the_header_deadline_starts_again_at_each_requests_first_byte(
    standin: StandinProcess, tmp_path: Path
) -> None:
    request = b"GET /healthz HTTP/1.1\r\nHost: broker\r\n\r\n"
    env = server_settings(standin, BROKER_KEEPALIVE="30")
    with BrokerServer(env, tmp_path, workers=1) as server:
        # Idle longer than the header deadline between two requests: the idle wait is the
        # keep-alive's, and the second request is served.
        with socket.create_connection(address(server.url)) as sock:
            sock.sendall(request)
            assert sock.recv(65536).startswith(b"HTTP/1.1 200")
            time.sleep(HEADER_TIMEOUT + 1)
            sock.sendall(request)
            assert sock.recv(65536).startswith(b"HTTP/1.1 200")
        # A second request that starts and never ends: 408 a header deadline after its first
        # byte, on the same kept-alive connection.
        with socket.create_connection(address(server.url)) as sock:
            sock.sendall(request)
            assert sock.recv(65536).startswith(b"HTTP/1.1 200")
            time.sleep(1.0)
            started = time.monotonic()
            sock.sendall(b"GET /healthz HTTP/1.1\r\n")
            answer = read_until_closed(sock, HEADER_TIMEOUT + 10)
            took = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert HEADER_TIMEOUT - 0.5 <= took < HEADER_TIMEOUT + 3


def still_open(sock: socket.socket) -> bool:
    sock.settimeout(0.5)
    try:
        return sock.recv(1) != b""
    except TimeoutError:
        return True


def test_a_full_worker_sheds_the_connection_that_has_waited_longest(
    standin: StandinProcess, tmp_path: Path
) -> None:
    # A worker whose every slot is taken closes the connection that has waited longest, so
    # that it keeps a slot to accept the next client with.
    env = server_settings(standin, BROKER_WORKER_CONNECTIONS="3")
    with BrokerServer(env, tmp_path, workers=1) as server:
        held: list[socket.socket] = []
        try:
            for _ in range(3):
                held.append(socket.create_connection(address(server.url)))
                time.sleep(0.3)
            first, second, third = held
            # The third filled the worker: the first, the longest waiting, was shed for it.
            assert read_until_closed(first, 5) == b""
            assert still_open(second)
            assert still_open(third)
            # A fourth client is served, and fills the worker again: now the second goes.
            assert requests.get(f"{server.url}/healthz", timeout=5).status_code == 200
            assert read_until_closed(second, 5) == b""
            assert still_open(third)
        finally:
            for sock in held:
                sock.close()
