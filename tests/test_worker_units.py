"""The worker's parts, in-process: the in-flight bound, the deadline socket, accepting.

``InFlight`` admits requests up to BROKER_MAX_IN_FLIGHT and counts the ones it refuses.
``DeadlineSocket`` bounds each wait for request bytes by its phase's deadline (from the
connection's start for a first request, the keep-alive wait between requests, the header
deadline from a kept-alive request's first byte, none while the app has the request), and holds
an answer's header block to send it with the first body write. ``queued_connections``,
``take_one_queued`` and ``SheddingPool`` let a worker accept between requests and shed the
longest-waiting connection instead of refusing new ones. gevent's cooperative sockets are used
directly: nothing here patches the standard library.

Careless changes these tests catch: a bound off by one (one request too many or too few
before 503), a finished request never released (the worker refuses everything at last), the
refusal counter missing from /metrics until the first refusal, a slow client that keeps a
connection by trickling bytes (the header deadline restarted by each byte), a kept-alive
request given the keep-alive wait to send its headers, a silent client answered 408 or a
slow one closed without it, the app's reads cut off by the header deadline, another
greenlet's timeout swallowed as end-of-file, a held header block lost, reordered or sent in
a second write, a shed connection's read raising instead of ending, accepting a connection
when the pool is full or the server stopped, and a full pool that stops accepting instead of
shedding.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import gevent
import gevent.socket
import pytest
from gevent.server import StreamServer

from serving.accepting import SheddingPool, queued_connections, take_one_queued
from serving.gevent_worker import DeadlineSocket, _read_ahead
from serving.overload import InFlight
from serving.refusals import HeaderTimeout

# Long enough never to expire in a test that does not wait for it.
NEVER = 60.0


def refusals_counted(in_flight: InFlight) -> float | None:
    """The overload refusal counter's value as /metrics shows it, or None before it exists."""
    if in_flight._refusals is None:
        return None
    [metric] = in_flight._refusals.collect()
    assert metric.name == "broker_overload_refusals"
    assert metric.documentation.startswith("Requests answered 503 overloaded")
    [total] = [sample for sample in metric.samples if sample.name.endswith("_total")]
    return float(total.value)


# --- InFlight ----------------------------------------------------------------------------------


def test_requests_are_admitted_up_to_the_bound_and_the_next_is_refused() -> None:
    in_flight = InFlight(3)
    assert [in_flight.admit() for _ in range(4)] == [True, True, True, False]
    assert in_flight.count == 3


def test_a_finished_request_makes_room_for_the_next() -> None:
    in_flight = InFlight(1)
    assert in_flight.admit()
    assert not in_flight.admit()
    in_flight.done()
    assert in_flight.count == 0
    assert in_flight.admit()


def test_the_refusal_counter_shows_0_once_counting_starts() -> None:
    in_flight = InFlight(1)
    assert refusals_counted(in_flight) is None
    in_flight.start_counting()
    assert refusals_counted(in_flight) == 0


def test_each_refusal_is_counted_and_admissions_are_not() -> None:
    in_flight = InFlight(1)
    in_flight.start_counting()
    in_flight.admit()
    in_flight.admit()
    in_flight.admit()
    assert refusals_counted(in_flight) == 2


def test_a_refusal_before_counting_started_is_counted_still() -> None:
    in_flight = InFlight(0)
    assert not in_flight.admit()
    assert refusals_counted(in_flight) == 1


def test_starting_to_count_again_keeps_the_count() -> None:
    in_flight = InFlight(0)
    in_flight.admit()
    in_flight.start_counting()
    assert refusals_counted(in_flight) == 1


def test_every_worker_counts_its_own_refusals() -> None:
    first, second = InFlight(0), InFlight(0)
    first.start_counting()
    second.start_counting()  # a second counter of the same name is no error
    first.admit()
    assert (refusals_counted(first), refusals_counted(second)) == (1, 0)


# --- DeadlineSocket ----------------------------------------------------------------------------


@pytest.fixture
def pair() -> Iterator[tuple[Any, Any]]:
    """A connected pair of gevent (cooperative) sockets: the worker's end and the client's."""
    ours, client = gevent.socket.socketpair()
    try:
        yield ours, client
    finally:
        ours.close()
        client.close()


def pending(client: Any) -> bytes:
    """What the client could read now, without waiting."""
    client.setblocking(False)
    try:
        return bytes(client.recv(65536))
    except BlockingIOError:
        return b""
    finally:
        client.setblocking(True)


class Recording:
    """A socket that records each write and each read it is asked for."""

    def __init__(self, reads: list[bytes | BaseException] | None = None) -> None:
        self.writes: list[bytes] = []
        self.reads = reads or []
        self.closed = False
        self.shut: list[int] = []

    def sendall(self, data: bytes) -> None:
        self.writes.append(bytes(data))

    def recv(self, size: int) -> bytes:
        result = self.reads.pop(0)
        if isinstance(result, BaseException):
            raise result
        return result

    def close(self) -> None:
        self.closed = True

    def shutdown(self, how: int) -> None:
        self.shut.append(how)

    def fileno(self) -> int:
        return 7


def test_an_answers_header_block_leaves_with_its_first_body_write() -> None:
    sock = Recording()
    conn = DeadlineSocket(sock, NEVER)
    conn.start_response()
    conn.sendall(b"HTTP/1.1 200 OK\r\n\r\n")
    assert sock.writes == []
    conn.sendall(b'{"ok": true}')
    conn.sendall(b"more")
    assert sock.writes == [b'HTTP/1.1 200 OK\r\n\r\n{"ok": true}', b"more"]


def test_writes_outside_an_answer_are_not_held() -> None:
    sock = Recording()
    conn = DeadlineSocket(sock, NEVER)
    conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
    assert sock.writes == [b"HTTP/1.1 100 Continue\r\n\r\n"]


def test_a_held_header_block_goes_out_before_anything_else_touches_the_socket() -> None:
    sock = Recording()
    conn = DeadlineSocket(sock, NEVER)
    conn.start_response()
    conn.sendall(b"head")
    assert conn.fileno() == 7  # e.g. gunicorn's sendfile: the header block goes first
    assert sock.writes == [b"head"]
    conn.flush()
    assert sock.writes == [b"head"]  # sent once


def test_a_held_header_block_goes_out_before_the_connection_closes() -> None:
    sock = Recording()
    conn = DeadlineSocket(sock, NEVER)
    conn.start_response()
    conn.sendall(b"head")
    conn.close()
    assert (sock.writes, sock.closed) == ([b"head"], True)


def test_the_connection_closes_even_when_the_held_block_cannot_be_sent() -> None:
    class Broken(Recording):
        def sendall(self, data: bytes) -> None:
            raise BrokenPipeError

    sock = Broken()
    conn = DeadlineSocket(sock, NEVER)
    conn.start_response()
    conn.sendall(b"head")
    with pytest.raises(BrokenPipeError):
        conn.close()
    assert sock.closed


def test_a_held_header_block_goes_out_before_the_next_read() -> None:
    sock = Recording([b"GET / HTTP/1.1\r\n"])
    conn = DeadlineSocket(sock, NEVER)
    conn.start_response()
    conn.sendall(b"head")
    assert conn.recv(100) == b"GET / HTTP/1.1\r\n"
    assert sock.writes == [b"head"]


def test_waiting_for_the_next_request_sends_the_held_block_and_holds_nothing_more() -> None:
    sock = Recording()
    conn = DeadlineSocket(sock, NEVER)
    conn.start_response()
    conn.sendall(b"head")
    conn.wait_for_next_request(NEVER)
    assert sock.writes == [b"head"]
    conn.sendall(b"next")
    assert sock.writes == [b"head", b"next"]


def test_a_new_connection_that_sends_nothing_is_closed_silently_at_its_deadline(pair) -> None:
    ours, client = pair
    conn = DeadlineSocket(ours, 0.05)
    with gevent.Timeout(5):
        assert conn.recv(100) == b""
    assert pending(client) == b""


def test_a_first_request_whose_headers_trickle_is_cut_at_the_deadline_from_the_start(
    pair,
) -> None:
    ours, client = pair
    conn = DeadlineSocket(ours, 0.3)

    def trickle() -> None:
        client.sendall(b"GET / HTTP/1.1\r\n")
        while True:  # a header that never ends, a byte at a time
            client.sendall(b"X")
            gevent.sleep(0.02)

    def read_all() -> None:
        while conn.recv(100):
            pass

    sender = gevent.spawn(trickle)
    try:
        with gevent.Timeout(5), pytest.raises(HeaderTimeout):
            read_all()
    finally:
        sender.kill()


def test_a_first_request_begun_in_time_is_read_to_its_end(pair) -> None:
    ours, client = pair
    conn = DeadlineSocket(ours, NEVER)
    client.sendall(b"GET / HTTP/1.1\r\n")
    assert conn.recv(100) == b"GET / HTTP/1.1\r\n"
    client.sendall(b"Host: x\r\n\r\n")
    assert conn.recv(100) == b"Host: x\r\n\r\n"


def test_a_connection_past_its_deadline_is_not_waited_for(pair) -> None:
    ours, _ = pair
    conn = DeadlineSocket(ours, NEVER)
    conn.deadline = time.monotonic() - 10  # opened long ago
    with gevent.Timeout(0.5):
        assert conn.recv(100) == b""


def test_an_idle_kept_alive_connection_is_closed_silently_after_the_keepalive(pair) -> None:
    ours, _ = pair
    conn = DeadlineSocket(ours, NEVER)
    conn.start_response()
    conn.wait_for_next_request(0.05)
    with gevent.Timeout(5):
        assert conn.recv(100) == b""


def test_a_kept_alive_request_has_the_header_deadline_from_its_first_byte(pair) -> None:
    ours, client = pair
    conn = DeadlineSocket(ours, 0.05)
    conn.start_response()
    conn.wait_for_next_request(NEVER)
    client.sendall(b"GET / HT")
    with gevent.Timeout(5):
        assert conn.recv(100) == b"GET / HT"
        with pytest.raises(HeaderTimeout):
            conn.recv(100)


def test_a_kept_alive_request_may_take_the_whole_header_timeout(pair) -> None:
    ours, client = pair
    conn = DeadlineSocket(ours, NEVER)
    conn.start_response()
    conn.wait_for_next_request(NEVER)
    client.sendall(b"GET / HT")
    assert conn.recv(100) == b"GET / HT"
    gevent.spawn_later(0.02, client.sendall, b"TP/1.1\r\n\r\n")
    with gevent.Timeout(5):
        assert conn.recv(100) == b"TP/1.1\r\n\r\n"


def test_a_pipelined_request_has_the_header_deadline_not_the_keepalive(pair) -> None:
    ours, _ = pair
    conn = DeadlineSocket(ours, 0.05)
    conn.start_response()
    conn.wait_for_next_request(NEVER, begun=True)
    with gevent.Timeout(5), pytest.raises(HeaderTimeout):
        conn.recv(100)


def test_the_header_deadline_does_not_apply_while_the_app_reads_the_body(pair) -> None:
    ours, client = pair
    conn = DeadlineSocket(ours, NEVER)
    conn.deadline = time.monotonic() - 10
    conn.start_response()
    gevent.spawn_later(0.05, client.sendall, b"body")
    with gevent.Timeout(5):
        assert conn.recv(100) == b"body"


def test_a_timeout_of_another_greenlet_is_not_taken_for_the_end_of_the_request(pair) -> None:
    ours, _ = pair
    conn = DeadlineSocket(ours, NEVER)
    outer = gevent.Timeout(0.02)
    outer.start()
    try:
        with pytest.raises(gevent.Timeout) as raised:
            conn.recv(100)
        assert raised.value is outer
    finally:
        outer.close()


def test_a_read_error_ends_the_connection_only_once_it_was_shed() -> None:
    conn = DeadlineSocket(Recording([OSError(9, "Bad file descriptor")]), NEVER)
    with pytest.raises(OSError, match="Bad file descriptor"):
        conn.recv(100)
    shed = DeadlineSocket(Recording([OSError(9, "Bad file descriptor")]), NEVER)
    shed.shed()
    assert shed.recv(100) == b""


def test_shedding_a_waiting_connection_ends_its_blocked_read(pair) -> None:
    ours, client = pair
    conn = DeadlineSocket(ours, NEVER)
    reader = gevent.spawn(conn.recv, 100)
    gevent.sleep(0.01)
    conn.shed()
    assert reader.get(timeout=5) == b""
    assert pending(client) == b""


def test_shedding_a_connection_already_closed_is_no_error() -> None:
    class Gone(Recording):
        def shutdown(self, how: int) -> None:
            raise OSError(107, "Transport endpoint is not connected")

    conn = DeadlineSocket(Gone(), NEVER)
    conn.shed()
    assert conn.phase == "shed"


def test_shedding_closes_both_directions() -> None:
    sock = Recording()
    DeadlineSocket(sock, NEVER).shed()
    assert sock.shut == [socket.SHUT_RDWR]


class _Parsed:
    """What _read_ahead looks at: a request whose parser may hold bytes read past it."""

    def __init__(self, buffered: bytes | None) -> None:
        import io

        self.unreader = type("Unreader", (), {})()
        if buffered is not None:
            self.unreader.buf = io.BytesIO(buffered)


class _Current:
    def __init__(self, request: Any) -> None:
        self.request = request


@pytest.mark.parametrize(
    ("current", "expected"),
    [
        (_Current(_Parsed(b"GET / HT")), True),
        (_Current(_Parsed(b"G")), True),
        (_Current(_Parsed(b"")), False),
        (_Current(_Parsed(None)), False),
        (_Current(None), False),
        (object(), False),
    ],
)
def test_bytes_read_past_the_last_request_mean_the_next_has_begun(
    current: Any, expected: bool
) -> None:
    assert _read_ahead(current) is expected


# --- accepting ---------------------------------------------------------------------------------


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    with socket.create_server(("127.0.0.1", 0), backlog=16) as server:
        yield server


def wait_for_queue(listener: socket.socket, expected: int) -> int:
    deadline = time.monotonic() + 5
    while (queued := queued_connections(listener)) != expected and time.monotonic() < deadline:
        time.sleep(0.005)
    return queued


def test_the_accept_queue_is_counted(listener: socket.socket) -> None:
    assert queued_connections(listener) == 0
    clients = [socket.create_connection(listener.getsockname()) for _ in range(3)]
    try:
        assert wait_for_queue(listener, 3) == 3
    finally:
        for client in clients:
            client.close()


def test_a_socket_that_cannot_tell_its_queue_counts_as_empty() -> None:
    first, second = socket.socketpair()
    with first, second:
        assert queued_connections(first) == 0  # not TCP
    assert queued_connections(object()) == 0  # not a socket at all

    class Short:
        def getsockopt(self, *args: Any) -> bytes:
            return b"\x00" * 24  # a kernel that reports fewer fields

    assert queued_connections(Short()) == 0


def test_the_count_is_read_from_tcp_info_at_its_size() -> None:
    asked: list[tuple[Any, ...]] = []

    class Reported:
        def getsockopt(self, *args: Any) -> bytes:
            asked.append(args)
            return b"\x00" * 24 + (5).to_bytes(4, "little")

    assert queued_connections(Reported()) == 5
    assert asked == [(socket.IPPROTO_TCP, socket.TCP_INFO, 28)]


class Served(list[Any]):
    def __call__(self, client: Any, address: Any) -> None:
        self.append(address)
        client.close()


@pytest.fixture
def server(listener: socket.socket) -> Iterator[tuple[StreamServer, Served]]:
    served = Served()
    gevent_listener = gevent.socket.socket(fileno=listener.detach())
    server = StreamServer(gevent_listener, handle=served, spawn=SheddingPool(2, lambda: None))
    try:
        yield server, served
    finally:
        server.close()


def connect(server: StreamServer, queued: int = 1) -> socket.socket:
    """A client whose connection waits in the accept queue, the ``queued``-th there."""
    client = socket.create_connection(server.socket.getsockname())
    assert wait_for_queue(server.socket, queued) == queued
    return client


def test_a_queued_connection_is_taken_between_requests(server) -> None:
    stream, served = server
    stream.start()
    stream.stop_accepting()  # only take_one_queued accepts here
    client = connect(stream)
    with client:
        take_one_queued(stream)
        stream.pool.join(timeout=5)
        assert len(served) == 1
        assert queued_connections(stream.socket) == 0


def test_only_one_queued_connection_is_taken_at_a_time(server) -> None:
    stream, served = server
    stream.start()
    stream.stop_accepting()
    clients = [connect(stream, 1), connect(stream, 2)]
    try:
        take_one_queued(stream)
        stream.pool.join(timeout=5)
        assert len(served) == 1
        assert queued_connections(stream.socket) == 1
    finally:
        for client in clients:
            client.close()


def test_nothing_is_taken_from_a_server_not_started(server) -> None:
    stream, served = server
    stream.init_socket()
    client = connect(stream)
    with client:
        take_one_queued(stream)
        assert served == []
        assert queued_connections(stream.socket) == 1


def test_nothing_is_taken_into_a_full_pool(server) -> None:
    stream, served = server
    stream.start()
    stream.stop_accepting()
    blockers = [stream.pool.spawn(gevent.sleep, NEVER) for _ in range(2)]
    client = connect(stream)
    try:
        take_one_queued(stream)
        assert served == []
        assert queued_connections(stream.socket) == 1
    finally:
        client.close()
        gevent.killall(blockers)


def test_an_empty_queue_is_not_waited_on(server) -> None:
    stream, served = server
    stream.start()
    stream.stop_accepting()
    with gevent.Timeout(1):
        take_one_queued(stream)
    assert served == []


class _OneQueued:
    def getsockopt(self, *args: Any) -> bytes:
        return b"\x00" * 24 + (1).to_bytes(4, "little")


class _FakeServer:
    """A started server with room, a queued connection, and an accept that fails or finds none."""

    started = True

    def __init__(self, accepted: Any) -> None:
        self.accepted = accepted
        self.handled: list[Any] = []
        self.pool = SheddingPool(1, lambda: None)
        self.socket = _OneQueued()

    def do_read(self) -> Any:
        if isinstance(self.accepted, BaseException):
            raise self.accepted
        return self.accepted

    def do_handle(self, *args: Any) -> None:
        self.handled.append(args)


def test_an_accept_error_is_left_to_the_listeners_own_accept() -> None:
    failing = _FakeServer(OSError(24, "Too many open files"))
    take_one_queued(failing)
    assert failing.handled == []


def test_a_connection_gone_before_its_accept_is_not_handled() -> None:
    gone = _FakeServer(None)
    take_one_queued(gone)
    assert gone.handled == []
    found = _FakeServer(("socket", ("127.0.0.1", 1)))
    take_one_queued(found)
    assert found.handled == [("socket", ("127.0.0.1", 1))]


def test_a_pool_with_room_accepts_without_shedding() -> None:
    shed: list[bool] = []
    pool = SheddingPool(2, lambda: shed.append(True))
    pool.spawn(gevent.sleep, NEVER)
    try:
        assert not pool.full()
        assert shed == []
    finally:
        pool.kill()


def test_a_full_pool_sheds_the_longest_waiting_connection() -> None:
    shed: list[bool] = []
    pool = SheddingPool(1, lambda: shed.append(True))
    pool.spawn(gevent.sleep, NEVER)
    try:
        assert pool.full()
        assert shed == [True]
    finally:
        pool.kill()
