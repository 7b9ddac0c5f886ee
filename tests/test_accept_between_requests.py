"""A busy gevent worker accepts waiting connections between requests, not only once per turn.

A saturated worker's event-loop turn lasts as long as all its ready requests, and its listener
is looked at once per turn, a few connections at a time: a burst of new clients used to wait up
to a second to be accepted. The worker now takes one waiting connection each time it finishes
a request on a kept-alive connection (``serving.gevent_worker.take_one_queued``).

The unit tests use real sockets and a real gevent server; the last one runs the production
server and counts answers, it times nothing.
"""

from __future__ import annotations

import errno
import selectors
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import gevent
import pytest
from gevent.pool import Pool
from gevent.server import StreamServer

from serving.accepting import SheddingPool, queued_connections, take_one_queued

from .broker_server import BrokerServer, broker_beside_standin
from .raw_http import address


def wait_for_queue(listener: Any, expected: int) -> int:
    """The listener's queue once it holds ``expected`` (handshakes end a moment after
    ``connect`` returns), or what it holds after a second."""
    deadline = time.monotonic() + 1
    while (queued := queued_connections(listener)) != expected and time.monotonic() < deadline:
        time.sleep(0.005)
    return queued


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    with sock:
        yield sock


def connect_clients(listener: socket.socket, count: int) -> list[socket.socket]:
    return [socket.create_connection(listener.getsockname(), timeout=5) for _ in range(count)]


def test_the_queue_length_is_read_from_the_listener(listener: socket.socket) -> None:
    assert queued_connections(listener) == 0
    clients = connect_clients(listener, 3)
    try:
        assert wait_for_queue(listener, 3) == 3
        listener.accept()[0].close()
        assert queued_connections(listener) == 2
    finally:
        for client in clients:
            client.close()


def test_a_listener_that_cannot_say_counts_as_empty(tmp_path: Any) -> None:
    with socket.socket(socket.AF_UNIX) as unix:
        unix.bind(str(tmp_path / "sock"))
        unix.listen(4)
        assert queued_connections(unix) == 0
    closed = socket.socket()
    closed.close()
    assert queued_connections(closed) == 0
    assert queued_connections(object()) == 0


def server_on(spawn: Pool) -> StreamServer:
    """A started gevent server. The tests never yield to gevent's hub, so the server's own
    accept never runs: whatever is accepted here was accepted by ``take_one_queued``, and each
    accepted connection is a greenlet in ``spawn`` that has not run yet."""
    server = StreamServer(("127.0.0.1", 0), handle=lambda sock, _address: sock.close(), spawn=spawn)
    server.start()
    return server


@pytest.fixture
def server() -> Iterator[StreamServer]:
    made = server_on(Pool(8))
    try:
        yield made
    finally:
        made.stop(timeout=1)


def test_one_waiting_connection_is_taken_per_call(server: StreamServer) -> None:
    clients = connect_clients(server.socket, 3)
    try:
        assert wait_for_queue(server.socket, 3) == 3
        take_one_queued(server)
        assert (queued_connections(server.socket), len(server.pool)) == (2, 1)
        take_one_queued(server)
        assert (queued_connections(server.socket), len(server.pool)) == (1, 2)
    finally:
        for client in clients:
            client.close()


def test_nothing_is_taken_when_nothing_waits(server: StreamServer) -> None:
    take_one_queued(server)
    assert len(server.pool) == 0


def test_a_full_pool_takes_nothing_and_sheds_nothing() -> None:
    shed: list[None] = []
    made = server_on(SheddingPool(1, lambda: shed.append(None)))
    made.pool.spawn(gevent.sleep, 10)
    clients = connect_clients(made.socket, 2)
    try:
        assert wait_for_queue(made.socket, 2) == 2
        take_one_queued(made)
        assert (queued_connections(made.socket), len(made.pool), shed) == (2, 1, [])
    finally:
        for client in clients:
            client.close()
        made.stop(timeout=1)


def test_a_closed_server_takes_nothing(server: StreamServer) -> None:
    server.close()
    take_one_queued(server)
    assert len(server.pool) == 0


def test_an_accept_error_is_left_to_the_listener(
    server: StreamServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    def out_of_descriptors() -> None:
        raise OSError(errno.EMFILE, "Too many open files")

    clients = connect_clients(server.socket, 1)
    try:
        assert wait_for_queue(server.socket, 1) == 1
        monkeypatch.setattr(server, "do_read", out_of_descriptors)
        take_one_queued(server)  # raises nothing into the request being served
        assert (queued_connections(server.socket), len(server.pool)) == (1, 0)
    finally:
        for client in clients:
            client.close()


# The production server: kept-alive clients with requests always waiting, then a burst of new
# clients. Each busy connection pipelines its requests in one write, so every turn of a worker's
# event loop serves one request of each; 64 of them make long turns.
BUSY = 64
PIPELINED = 60
NEW = 128
REQUEST = b"GET /healthz HTTP/1.1\r\nHost: broker\r\n\r\n"


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerServer]:
    with broker_beside_standin(
        tmp_path_factory.mktemp("accept"), workers=2, BROKER_RATE_LIMIT_PER_IP="1000000/minute"
    ) as process:
        yield process


def answers_in(data: bytes) -> int:
    return data.count(b"HTTP/1.1 ")


def read_until(received: dict[socket.socket, bytes], done: Callable[[bytes], bool]) -> None:
    """Read each connection of ``received`` into it until ``done`` holds for every one."""
    with selectors.DefaultSelector() as selector:
        for conn in received:
            selector.register(conn, selectors.EVENT_READ, conn)
        while not all(done(data) for data in received.values()):
            events = selector.select(timeout=20)
            assert events, "no answer for 20 s"
            for key, _ in events:
                received[key.data] += key.data.recv(1 << 20)


def drain(received: dict[socket.socket, bytes]) -> None:
    """Add what has arrived so far to ``received``, without waiting."""
    for conn in received:
        conn.setblocking(False)
        try:
            while chunk := conn.recv(1 << 20):
                received[conn] += chunk
        except BlockingIOError:
            pass


@pytest.mark.network
def test_a_burst_of_new_clients_is_accepted_while_the_workers_are_saturated(
    broker: BrokerServer,
) -> None:
    target = address(broker.url)
    busy = dict.fromkeys([socket.create_connection(target, timeout=20) for _ in range(BUSY)], b"")
    new: dict[socket.socket, bytes] = {}
    try:
        for conn in busy:
            conn.sendall(REQUEST * PIPELINED)
        read_until(busy, lambda data: answers_in(data) > 0)  # every one accepted and served
        served_before = sum(map(answers_in, busy.values()))

        new = dict.fromkeys([socket.create_connection(target, timeout=20) for _ in range(NEW)], b"")
        for conn in new:
            conn.sendall(REQUEST)
        read_until(new, lambda data: data.rstrip().endswith(b"}"))
        drain(busy)
        served_meanwhile = sum(map(answers_in, busy.values())) - served_before

        assert all(data.startswith(b"HTTP/1.1 200") for data in new.values())
        # Accepting 8 per worker per turn took NEW / 16 turns, each serving one request of
        # every busy connection: about 8 * BUSY busy answers before the last new client was
        # answered (501-526 measured). One per request served takes about two turns (64-152).
        assert served_meanwhile < 4 * BUSY, served_meanwhile
        assert served_before + served_meanwhile < BUSY * PIPELINED
    finally:
        for conn in [*busy, *new]:
            conn.close()
