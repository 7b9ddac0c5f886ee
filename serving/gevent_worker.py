"""gunicorn's gevent worker with a header deadline, shedding of waiting connections, JSON refusals.

Each connection runs in its own greenlet, reading through :class:`DeadlineSocket`, which
bounds every wait for request bytes by the current phase's deadline:

- ``new``: a fresh connection's first request must be complete BROKER_HEADER_TIMEOUT after
  the connection opened (no byte by then: closed silently);
- ``idle``: between requests a kept-alive connection may wait BROKER_KEEPALIVE for the next
  request's first byte (then closed silently, as load balancers expect);
- ``headers``: from that first byte, BROKER_HEADER_TIMEOUT to complete the headers (then 408);
- ``request``: the app has the request; the server adds no deadline (BROKER_DEADLINE bounds it).

Between two requests of a kept-alive connection a worker yields and accepts one waiting
connection, so neither kept-alive clients nor new ones wait long under saturation. A worker
holding BROKER_MAX_IN_FLIGHT requests answers the next ``503 overloaded`` at once
(``serving.overload``). Where gunicorn's pool stops accepting at ``worker_connections``, a
full pool here closes the connection that has waited longest in a waiting phase.
"""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from functools import partial
from typing import Any

import gevent
from gevent.local import local
from gevent.server import StreamServer
from gunicorn import util
from gunicorn.http import errors as http_errors
from gunicorn.sock import ssl_context
from gunicorn.workers import ggevent

from . import refusals as answer
from .accepting import ACCEPT_BURST, SheddingPool, take_one_queued
from .json_logs import BootRefusalAsLogLine
from .overload import InFlight, Overloaded
from .refusals import REFUSAL_LINGER, HeaderTimeout, Refusal, refuse
from .settings import accepted

WAITING_PHASES = ("new", "idle", "headers")
# Any positive sleep waits for the event loop's next turn (gevent.sleep(0) may not).
NEXT_REQUEST_YIELD = 1e-6
# Seconds between two heartbeats to the master (and two looks at the pools while stopping).
NOTIFY_INTERVAL = 1.0
# Seconds the requests still held at the graceful timeout get before they are killed.
STOP_TIMEOUT = 1.0


# What the server answers for each error gunicorn's request parser raises (its exception
# classes are undocumented: the contract test checks them), and for the broker's own.
_REFUSALS: tuple[tuple[type[BaseException], Refusal], ...] = (
    (HeaderTimeout, answer.REQUEST_TIMEOUT),
    (Overloaded, answer.OVERLOADED),
    (http_errors.LimitRequestLine, answer.URI_TOO_LONG),
    (http_errors.LimitRequestHeaders, answer.HEADERS_TOO_LARGE),
    (http_errors.ExpectationFailed, answer.EXPECTATION_FAILED),
    (http_errors.UnsupportedTransferCoding, answer.NOT_IMPLEMENTED),
    # A server setting gunicorn cannot honour is the operator's problem, not the client's.
    (http_errors.ConfigurationProblem, answer.INTERNAL),
    (http_errors.ParseException, answer.BAD_REQUEST),
    (ssl.SSLError, answer.BAD_REQUEST),
)


def refusal_for(error: BaseException) -> Refusal:
    """What the server answers for ``error``; anything unknown is the server's own fault."""
    for kind, refusal in _REFUSALS:
        if isinstance(error, kind):
            return refusal
    return answer.INTERNAL


def _read_ahead(current: Any) -> bool:
    """Whether gunicorn's parser holds bytes past the connection's last request, read with it
    (its ``unreader.buf``, undocumented: the contract test checks it)."""
    buffered = getattr(getattr(getattr(current, "request", None), "unreader", None), "buf", None)
    return buffered is not None and len(buffered.getvalue()) > 0


class DeadlineSocket:
    """A client socket whose reads give up at the current phase's deadline, and whose answers
    leave in one write where gunicorn makes two.

    gunicorn writes a response's header block and then its body, each with its own
    ``sendall``: two system calls and two loopback segments for every answer, the largest
    single cost of a worker serving small JSON answers (bench/RESULTS.md). The header block is
    held here and sent with the first body write; whatever else happens first (the next read,
    a ``sendfile``, the connection closing, an error answer) sends it on its own, so nothing
    is reordered or lost.
    """

    hold_next_write = False
    held = b""

    def __init__(self, sock: Any, header_seconds: float) -> None:
        self.sock = sock
        self.header_seconds = header_seconds
        self.phase = "new"
        self.deadline = time.monotonic() + header_seconds

    def __getattr__(self, name: str) -> Any:
        # Anything else gunicorn does with the socket (its sendfile, a shutdown) may write or
        # end the connection past this object: the held header block goes out first.
        self.flush()
        return getattr(self.sock, name)

    def start_response(self) -> None:
        self.phase = "request"
        self.hold_next_write = True

    def sendall(self, data: bytes) -> None:
        if self.hold_next_write:
            self.hold_next_write = False  # pragma: no mutate (None, the replacement, is as falsy)
            self.held = bytes(data)
            return
        if self.held:
            data, self.held = self.held + data, b""
        self.sock.sendall(data)

    def flush(self) -> None:
        """Send the held header block, if any."""
        if self.held:
            held, self.held = self.held, b""
            self.sock.sendall(held)

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self.sock.close()

    def wait_for_next_request(self, keepalive: float, *, begun: bool = False) -> None:
        """``begun``: bytes of the next request are in already (pipelined behind the last
        one), so its header deadline runs from now, not the keep-alive wait."""
        self.flush()
        self.hold_next_write = False  # pragma: no mutate (None, the replacement, is as falsy)
        self.phase = "headers" if begun else "idle"
        self.deadline = time.monotonic() + (self.header_seconds if begun else keepalive)

    def recv(self, size: int) -> bytes:
        self.flush()
        if self.phase == "request":
            return bytes(self.sock.recv(size))
        timer = gevent.Timeout(max(0.0, self.deadline - time.monotonic()))
        timer.start()
        try:
            data = bytes(self.sock.recv(size))
        except gevent.Timeout as expired:
            if expired is not timer:
                raise
            if self.phase == "headers":
                raise HeaderTimeout from None
            return b""  # nothing of a request arrived: close without an answer
        except OSError:
            if self.phase == "shed":
                return b""  # gevent cancels the read of a socket shut down under it
            raise
        finally:
            timer.close()
        if data:
            if self.phase == "idle":  # a kept-alive connection's next request has begun
                self.deadline = time.monotonic() + self.header_seconds
            self.phase = "headers"
        return data

    def shed(self) -> None:
        """Make the blocked read see end-of-file, so the greenlet closes the connection."""
        self.phase = "shed"
        with suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)


class GeventWorker(BootRefusalAsLogLine, ggevent.GeventWorker):  # type: ignore[misc]
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        settings = accepted()
        self.header_seconds = settings.header_timeout
        # Connections in a waiting phase, longest-waiting first (an ordered set: each maps to
        # itself).
        self.waiting: dict[DeadlineSocket, DeadlineSocket] = {}
        self.current = local()
        self.in_flight = InFlight(settings.max_in_flight)
        self.servers: list[StreamServer] = []

    def load_wsgi(self) -> None:
        super().load_wsgi()
        self.in_flight.start_counting()

    def shed_one(self) -> None:
        if self.waiting:
            oldest = self.waiting.pop(next(iter(self.waiting)))
            oldest.shed()

    def handle(self, listener: Any, client: Any, addr: Any) -> None:
        client.setblocking(True)
        conn = DeadlineSocket(client, self.header_seconds)
        self.current.conn = conn
        self.waiting[conn] = conn
        try:
            super(ggevent.GeventWorker, self).handle(listener, conn, addr)
        finally:
            self.waiting.pop(conn, None)

    @contextmanager
    def _next_request(self) -> Iterator[None]:
        conn: DeadlineSocket = self.current.conn
        if conn.phase != "new" and not self.alive:
            # The worker is stopping and this connection's answer has left: waiting for its
            # next request would hold the worker until the graceful timeout.
            conn.shed()
        elif conn.phase != "new":
            conn.wait_for_next_request(self.cfg.keepalive, begun=_read_ahead(self.current))
            self.waiting[conn] = conn
            # A saturated worker's turn lasts as long as all its ready requests, and the
            # listener is looked at once per turn: a burst of new clients waited up to a second
            # to be accepted. Taking one per request served keeps accepting in step with the
            # work, and each worker takes new clients as fast as it serves, which keeps the
            # workers' shares of the clients balanced.
            for server in self.servers:
                take_one_queued(server)
            # Take this connection's next request only after the event loop's next look at
            # every socket. gevent's recv returns at once when the bytes are already there,
            # so without this yield a client that sends its next request as soon as it has
            # an answer kept the worker to itself while other connections waited seconds
            # (saturation with every user holding a token: p50 1 ms, p99 3 s).
            gevent.sleep(NEXT_REQUEST_YIELD)
        yield

    def timeout_ctx(self) -> Any:
        """Wraps the wait for each request on a kept-alive connection (base_async.handle)."""
        return self._next_request()

    def handle_request(self, listener_name: Any, req: Any, sock: Any, addr: Any) -> Any:
        self.current.request = req
        sock.start_response()
        self.waiting.pop(sock, None)
        if not self.in_flight.admit():
            raw = sock.sock
            refuse(raw, Overloaded(), answer.OVERLOADED)
            util.close_graceful(raw, timeout=REFUSAL_LINGER)
            raise StopIteration  # base_async.handle: end this connection
        try:
            return super().handle_request(listener_name, req, sock, addr)
        finally:
            self.in_flight.done()

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        raw = getattr(client, "sock", client)
        if isinstance(client, DeadlineSocket):
            with suppress(OSError):
                client.flush()  # what gunicorn has written so far goes first, as it would
        if isinstance(exc, (gevent.GreenletExit, SystemExit)):
            # The worker is stopping and ended this connection: nothing to answer.
            util.close(raw)
            return
        refuse(raw, exc, refusal_for(exc))
        util.close_graceful(raw, timeout=REFUSAL_LINGER)

    def run(self) -> None:
        """gunicorn's GeventWorker.run, with the shedding pool (its own pool is not pluggable)."""
        ssl_args = {"ssl_context": ssl_context(self.cfg)} if self.cfg.is_ssl else {}
        servers = []
        for listener in self.sockets:
            # As gunicorn's own run sets it; gevent's server accepts from the raw socket and
            # returns on an empty accept queue whether the listener blocks or not.
            listener.setblocking(True)  # pragma: no mutate (equivalent, see above)
            pool = SheddingPool(self.worker_connections, self.shed_one)
            server = StreamServer(
                listener, handle=partial(self.handle, listener), spawn=pool, **ssl_args
            )
            if self.cfg.workers > 1:
                server.max_accept = ACCEPT_BURST
            server.start()
            servers.append(server)
        self.servers = servers

        while self.alive:
            self.notify()
            gevent.sleep(NOTIFY_INTERVAL)

        for server in servers:
            server.close()
        # Waiting connections carry no request: close them now rather than at their deadline.
        while self.waiting:
            self.shed_one()
        started = time.time()
        # "<" would differ from "<=" only at one exact instant.
        while time.time() - started <= self.cfg.graceful_timeout:  # pragma: no mutate
            if all(server.pool.free_count() == server.pool.size for server in servers):
                return
            self.notify()
            gevent.sleep(NOTIFY_INTERVAL)
        self.log.warning("Worker graceful timeout (pid:%s)", self.pid)
        for server in servers:
            server.stop(timeout=STOP_TIMEOUT)
