"""A gevent worker serves its connections in turn: one connection with requests always waiting
does not keep the worker from the others.

The real production server with one worker. Connection A sends a long pipeline of requests in
one write, so its next request is always already there; connection B then sends one request.
B must be answered while A's pipeline is still being served, not after all of it. The test
orders events, it times nothing.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from .broker_server import BrokerServer, broker_beside_standin
from .raw_http import address

pytestmark = pytest.mark.network

PIPELINED = 300
REQUEST = b"GET /healthz HTTP/1.1\r\nHost: broker\r\n\r\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerServer]:
    with broker_beside_standin(
        tmp_path_factory.mktemp("turns"), workers=1, BROKER_RATE_LIMIT_PER_IP="100000/minute"
    ) as process:
        yield process


def connect(server: BrokerServer) -> socket.socket:
    return socket.create_connection(address(server.url), timeout=20)


def read_answers(conn: socket.socket, count: int, data: bytes = b"") -> bytes:
    """``data`` and what follows it on ``conn``, until ``count`` whole answers (each ends with
    its JSON body's closing brace)."""
    while data.count(b"HTTP/1.1 ") < count or not data.rstrip().endswith(b"}"):
        chunk = conn.recv(65536)
        if not chunk:
            raise AssertionError("the connection closed early")
        data += chunk
    return data


def test_a_connection_that_always_has_a_request_waiting_takes_turns(
    server: BrokerServer,
) -> None:
    busy, other = connect(server), connect(server)
    try:
        busy.sendall(REQUEST * PIPELINED)
        to_busy = read_answers(busy, 1)  # the worker is serving the pipeline
        other.sendall(REQUEST)
        assert read_answers(other, 1).startswith(b"HTTP/1.1 200")
        # What the busy connection had been answered by then, without waiting for more.
        busy.setblocking(False)
        try:
            while chunk := busy.recv(1 << 20):
                to_busy += chunk
        except BlockingIOError:
            pass
        assert to_busy.count(b"HTTP/1.1 ") < PIPELINED
        busy.settimeout(20)
        to_busy = read_answers(busy, PIPELINED, to_busy)
        assert to_busy.count(b"HTTP/1.1 200 ") == PIPELINED
    finally:
        busy.close()
        other.close()
