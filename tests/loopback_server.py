"""A TCP server on a free loopback port for one test: the base of the hand-written vendors.

    class Echo(LoopbackServer):
        def handle(self, conn: socket.socket) -> None: ...

    with Echo() as server:
        requests.get(server.url)

A subclass answers one connection in :meth:`LoopbackServer.handle`; the base accepts them (on
its own thread, one after another, or each on a thread of its own when ``concurrent``) until
the ``with`` block ends, then closes the port. Raw sockets, because these servers misbehave on
purpose in ways an HTTP server library would not let them.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Mapping
from typing import Self

REASONS = {200: "OK", 302: "Found", 307: "Temporary Redirect", 500: "Internal Server Error"}
# How often the accepting thread looks whether the test is over.
ACCEPT_POLL = 0.2
STOP_TIMEOUT = 10.0


class LoopbackServer:
    scheme = "http"
    # Each connection on a thread of its own: an answer that takes its time (a drip) must not
    # hold up the next connection.
    concurrent = False

    def __init__(self) -> None:
        self.stopping = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(ACCEPT_POLL)
        self.port: int = self._listener.getsockname()[1]
        self.url = f"{self.scheme}://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def handle(self, conn: socket.socket) -> None:
        """Answer one accepted connection (and close it)."""
        raise NotImplementedError

    def _serve(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            if self.concurrent:
                threading.Thread(target=self.handle, args=(conn,), daemon=True).start()
            else:
                self.handle(conn)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self._thread.join(timeout=STOP_TIMEOUT)
        self._listener.close()


def answer_head(status: int, length: int, headers: Mapping[str, str] | None = None) -> bytes:
    """The status line and headers of a JSON answer of ``length`` bytes."""
    lines = [f"HTTP/1.1 {status} {REASONS.get(status, 'Other')}", "Content-Type: application/json"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    lines.append(f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def json_answer(body: bytes, headers: Mapping[str, str] | None = None) -> bytes:
    """A whole 200 answer with ``body``."""
    return answer_head(200, len(body), headers) + body


def read_request(conn: socket.socket) -> bytes | None:
    """The request as first read: its head, perhaps with the start of its body (None if the
    client hung up before the head's end). The rest of the body is read too, because closing a
    connection with unread bytes would reset the client before it reads the answer."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        body += chunk
    return data
