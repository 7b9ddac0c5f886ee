"""How a gevent worker takes connections: in bursts, between requests, and by shedding.

What leans on gevent's server and pool and on Linux's ``tcp_info`` lives here
(``tests/test_library_contracts.py`` checks each): a listener's accept queue read with one
system call, one queued connection accepted between two requests of a kept-alive connection
(``StreamServer.do_read``/``do_handle``), and a pool that, when full, sheds the connection
that has waited longest instead of no longer accepting.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Callable
from typing import Any

from gevent.pool import Pool
from gevent.server import StreamServer

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
