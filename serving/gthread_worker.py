"""gunicorn's gthread worker, reading request headers in its event loop instead of a thread.

gunicorn hands a connection to a thread as soon as a byte arrives, and the thread then blocks
until the headers are complete: 64 slow clients hold all 64 threads. Here the event loop
gathers a request's line and headers without blocking (a connection costs a file descriptor,
no thread) and submits the connection to a thread only once they are complete, or too large
for the parser's limits (which then refuses them). Deadlines and shedding are the gevent
worker's (see ``serving.gevent_worker``): BROKER_HEADER_TIMEOUT from the connection's start
or the next request's first byte, BROKER_KEEPALIVE while idle; a worker at
``worker_connections`` closes the longest-waiting connection to accept a new one. A worker
holding BROKER_MAX_IN_FLIGHT requests (in its threads or queued for one) answers the next
complete request ``503 overloaded`` from the event loop (``serving.overload``).

Gathering is for HTTP/1.1 over plain TCP, the broker's deployment behind a TLS terminator;
with gunicorn's own TLS or cleartext HTTP/2 it is skipped and gunicorn's behaviour applies.
"""

from __future__ import annotations

import contextlib
import errno
import selectors
import socket
import time
from functools import partial
from typing import Any

from gunicorn import util
from gunicorn.http2 import negotiation
from gunicorn.workers import gthread

from .deadlines import REFUSAL_LINGER, header_timeout
from .json_logs import BootRefusalAsLogLine
from .overload import InFlight, Overloaded, max_in_flight
from .refusals import HeaderTimeout, close_quietly, refuse

END_OF_HEADERS = b"\r\n\r\n"


class ThreadWorker(BootRefusalAsLogLine, gthread.ThreadWorker):  # type: ignore[misc]
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.header_seconds = header_timeout()
        # Connections gathering headers, in order of their deadline: connection -> bytes so far.
        self.gathering: dict[Any, bytearray] = {}
        self.max_head = (
            self.cfg.limit_request_line
            + self.cfg.limit_request_fields * (self.cfg.limit_request_field_size + 2)
            + len(END_OF_HEADERS)
        )
        self.in_flight = InFlight(max_in_flight())
        # Connections whose request was admitted and is in a thread or queued for one.
        self.admitted: set[Any] = set()

    def load_wsgi(self) -> None:
        super().load_wsgi()
        self.in_flight.start_counting()

    def gathers(self, client: Any) -> bool:
        return not self.cfg.is_ssl and not negotiation.prior_knowledge_allowed(self.cfg, client)

    def set_accept_enabled(self, enabled: bool) -> None:
        # At worker_connections the loop stops accepting; keep accepting while a waiting
        # connection can make room (see accept).
        can_make_room = self.alive and bool(self.gathering or self.keepalived_conns)
        super().set_accept_enabled(enabled or can_make_room)

    def accept(self, listener: Any) -> None:
        if self.nr_conns >= self.worker_connections:
            self.shed_one()
        try:
            client, address = listener.accept()
        except OSError as error:
            if error.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        self.nr_conns += 1
        conn = gthread.TConn(self.cfg, client, address, listener.getsockname())
        if self.gathers(address):
            self.gather(conn)
        else:
            self.enqueue_req(conn)

    def shed_one(self) -> None:
        """Close the connection that has waited longest for a request, to make room."""
        if self.gathering:
            oldest = next(iter(self.gathering))
            self.stop_gathering(oldest)
            self.drop(oldest)
        elif self.keepalived_conns:
            self.murder_keepalived_one()

    def murder_keepalived_one(self) -> None:
        conn = self.keepalived_conns.popleft()
        self.poller.unregister(conn.sock)
        self.drop(conn)

    def drop(self, conn: Any) -> None:
        self.nr_conns -= 1
        close_quietly(conn.sock)

    def gather(self, conn: Any) -> None:
        conn.sock.setblocking(False)
        conn.timeout = time.monotonic() + self.header_seconds
        self.gathering[conn] = bytearray()
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self.on_head_bytes, conn))

    def stop_gathering(self, conn: Any) -> bytes:
        self.poller.unregister(conn.sock)
        return bytes(self.gathering.pop(conn))

    def on_client_socket_readable(self, conn: Any, client: Any) -> None:
        """A kept-alive connection's next request begins: gather its headers too."""
        self.poller.unregister(client)
        self.keepalived_conns.remove(conn)
        self.gather(conn)

    def on_head_bytes(self, conn: Any, client: Any) -> None:
        head = self.gathering[conn]
        try:
            data = client.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self.stop_gathering(conn)
            self.drop(conn)
            return
        head += data
        # Complete headers, or more than the parser accepts: either way the parser decides.
        if END_OF_HEADERS in head[-len(data) - 3 :] or len(head) > self.max_head:
            buffered = self.stop_gathering(conn)
            if not self.in_flight.admit():
                self.refuse_overloaded(conn)
                return
            self.admitted.add(conn)
            conn.init()
            conn.parser.unreader.unread(buffered)
            conn.data_ready = True
            self.enqueue_req(conn)

    def refuse_overloaded(self, conn: Any) -> None:
        # From the event loop: one non-blocking send, then closed without lingering. The
        # request's headers were read whole; a body, if any, is not waited for.
        refuse(conn.sock, Overloaded())
        with contextlib.suppress(OSError):
            conn.sock.shutdown(socket.SHUT_WR)
        self.drop(conn)

    def finish_request(self, conn: Any, fs: Any) -> None:
        if conn in self.admitted:
            self.admitted.discard(conn)
            self.in_flight.done()
        super().finish_request(conn, fs)

    def murder_pending(self) -> None:
        super().murder_pending()
        now = time.monotonic()
        stopping = not self.alive
        for conn in list(self.gathering):
            if conn.timeout > now and not stopping:
                break
            started = bool(self.stop_gathering(conn))
            if started and not stopping:
                refuse(conn.sock, HeaderTimeout())
                with contextlib.suppress(OSError):
                    conn.sock.shutdown(socket.SHUT_WR)
            self.drop(conn)

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        refuse(client, exc)
        util.close_graceful(client, timeout=REFUSAL_LINGER)
