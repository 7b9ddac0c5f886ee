"""gunicorn's gevent worker with a header deadline, shedding of waiting connections, JSON refusals.

Each connection runs in its own greenlet, reading through
:class:`~serving.connections.DeadlineSocket`, which
bounds every wait for request bytes by the current phase's deadline:

- ``new``: a fresh connection's first request must be complete BROKER_HEADER_TIMEOUT after
  the connection opened (no byte by then: closed silently);
- ``idle``: between requests a kept-alive connection may wait BROKER_KEEPALIVE for the next
  request's first byte (then closed silently, as load balancers expect);
- ``headers``: from that first byte, BROKER_HEADER_TIMEOUT to complete the headers (then 408);
- ``request``: the app has the request; the server adds no deadline (the broker's own
  BROKER_DEADLINE bounds its work).

Between two requests of a kept-alive connection a worker yields to its other connections and
accepts one waiting connection, so that neither kept-alive clients nor new ones wait for long
under saturation.

A worker holding BROKER_MAX_IN_FLIGHT requests answers the next one ``503 overloaded`` at
once, without the app (``serving.overload``).

gunicorn's gevent pool stops accepting when ``worker_connections`` greenlets exist; here a full
pool instead closes the connection that has waited longest in a waiting phase, and accepting
resumes as soon as its greenlet ends.
"""

from __future__ import annotations

import socket
import struct
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from functools import partial
from typing import Any

import gevent
from gevent.local import local
from gevent.pool import Pool
from gevent.server import StreamServer
from gunicorn import util
from gunicorn.sock import ssl_context
from gunicorn.workers import ggevent

from .connections import DeadlineSocket
from .json_logs import BootRefusalAsLogLine
from .overload import InFlight, Overloaded
from .refusals import REFUSAL_LINGER, refuse
from .settings import accepted

# Connections a worker takes from the shared listening socket each time it is woken. gunicorn
# takes one when there are several workers, so that the least busy one gets the next: but a
# busy worker is woken once per turn of its event loop, which lasts as long as all its ready
# requests take, so 256 clients connecting at once waited seconds to be accepted (wrk
# timeouts, p99 4 s). Measured on 2 cores with 2 workers and 256 clients: 8 accepts them all
# in well under a second and still splits them about evenly (at worst 97/159); gevent's
# own 100 left one worker with 57 and the other with 199, whose clients then wait 3.5 times
# longer.
ACCEPT_BURST = 8
# struct tcp_info: eight one-byte fields, then u32 rto, ato, snd_mss, rcv_mss, unacked. On a
# listening socket Linux reports its accept queue's length as tcpi_unacked (what `ss` shows as
# a listener's Recv-Q).
_TCP_INFO_UNACKED = struct.Struct("=24xI")
# Any positive sleep waits for the event loop's next turn (gevent.sleep(0) may not).
NEXT_REQUEST_YIELD = 1e-6


def queued_connections(listener: Any) -> int:
    """Connections waiting in ``listener``'s accept queue; 0 where the system cannot say
    (not Linux, not TCP)."""
    try:
        info = listener.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, _TCP_INFO_UNACKED.size)
    except (AttributeError, OSError):
        return 0
    if len(info) < _TCP_INFO_UNACKED.size:
        return 0
    return int(_TCP_INFO_UNACKED.unpack(info)[0])


def take_one_queued(server: StreamServer) -> None:
    """Accept one connection waiting on ``server``'s listener, if there is one and room for it.

    Called between two requests of a kept-alive connection (``GeventWorker._next_request``).
    An accept error is left to the listener's own accept, which reports it and backs off.
    """
    if not server.started or not server.pool.free_count():
        return
    if not queued_connections(server.socket):
        return
    try:
        accepted = server.do_read()
    except OSError:
        return
    if accepted:
        server.do_handle(*accepted)


class SheddingPool(Pool):  # type: ignore[misc]
    """A pool that, when full, frees a slot by shedding the longest-waiting connection."""

    def __init__(self, size: int, shed_one: Callable[[], None]) -> None:
        super().__init__(size)
        self._shed_one = shed_one

    def full(self) -> bool:
        if not super().full():
            return False
        # The server stops accepting until a greenlet ends; the shed one ends at once.
        self._shed_one()
        return True


class GeventWorker(BootRefusalAsLogLine, ggevent.GeventWorker):  # type: ignore[misc]
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        settings = accepted()
        self.header_seconds = settings.header_timeout
        # Connections in a waiting phase, longest-waiting first.
        self.waiting: OrderedDict[DeadlineSocket, None] = OrderedDict()
        self.current = local()
        self.in_flight = InFlight(settings.max_in_flight)
        self.servers: list[StreamServer] = []

    def load_wsgi(self) -> None:
        super().load_wsgi()
        self.in_flight.start_counting()

    def shed_one(self) -> None:
        if self.waiting:
            oldest, _ = self.waiting.popitem(last=False)
            oldest.shed()

    def handle(self, listener: Any, client: Any, addr: Any) -> None:
        client.setblocking(1)
        conn = DeadlineSocket(client, self.header_seconds)
        self.current.conn = conn
        self.waiting[conn] = None
        try:
            super(ggevent.GeventWorker, self).handle(listener, conn, addr)
        finally:
            self.waiting.pop(conn, None)

    @contextmanager
    def _next_request(self) -> Iterator[None]:
        conn: DeadlineSocket = self.current.conn
        if conn.phase != "new":
            conn.wait_for_next_request(self.cfg.keepalive)
            self.waiting[conn] = None
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
        sock.start_response()
        self.waiting.pop(sock, None)
        if not self.in_flight.admit():
            raw = sock.sock
            refuse(raw, Overloaded())
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
        refuse(raw, exc)
        util.close_graceful(raw, timeout=REFUSAL_LINGER)

    def run(self) -> None:
        """gunicorn's GeventWorker.run, with the shedding pool (its own pool is not pluggable)."""
        ssl_args = {"ssl_context": ssl_context(self.cfg)} if self.cfg.is_ssl else {}
        servers = []
        for listener in self.sockets:
            listener.setblocking(1)
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
            gevent.sleep(1.0)

        for server in servers:
            server.close()
        # Waiting connections carry no request: close them now rather than at their deadline.
        while self.waiting:
            self.shed_one()
        started = time.time()
        while time.time() - started <= self.cfg.graceful_timeout:
            if all(server.pool.free_count() == server.pool.size for server in servers):
                return
            self.notify()
            gevent.sleep(1.0)
        self.log.warning("Worker graceful timeout (pid:%s)", self.pid)
        for server in servers:
            server.stop(timeout=1)
