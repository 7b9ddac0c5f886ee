"""A client connection as the gevent worker reads it: phases with deadlines, one write per answer.

Every wait for request bytes is bounded by the current phase's deadline (``new``, ``idle``,
``headers``; ``request`` has none of the server's), and a response's header block leaves with
its first body write (:class:`DeadlineSocket`).
"""

from __future__ import annotations

import socket
import time
from contextlib import suppress
from typing import Any

import gevent

from .refusals import HeaderTimeout

WAITING_PHASES = ("new", "idle", "headers")


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
            self.hold_next_write = False
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

    def wait_for_next_request(self, keepalive: float) -> None:
        self.flush()
        self.hold_next_write = False
        self.phase = "idle"
        self.deadline = time.monotonic() + keepalive

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
        if data and self.phase == "idle":
            self.deadline = time.monotonic() + self.header_seconds
        if data and self.phase != "headers":
            self.phase = "headers"
        return data

    def shed(self) -> None:
        """Make the blocked read see end-of-file, so the greenlet closes the connection."""
        self.phase = "shed"
        with suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
