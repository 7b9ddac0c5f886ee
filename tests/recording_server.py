"""A loopback HTTP server that keeps every byte sent to it: where a redirect would lead.

It answers anything with a token-shaped 200, so a client that did follow a redirect to it
would succeed; the tests assert it received nothing at all.
"""

from __future__ import annotations

import socket
import threading
from types import TracebackType

ANSWER = b'{"authToken":"stolen-token","keys":[]}'


class RecordingServer:
    def __init__(self) -> None:
        self.received: list[bytes] = []
        self._stop = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> RecordingServer:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self._listener.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(2)
                try:
                    self.received.append(conn.recv(65536))
                    conn.sendall(
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                        + f"Content-Length: {len(ANSWER)}\r\nConnection: close\r\n\r\n".encode()
                        + ANSWER
                    )
                except OSError:
                    pass
