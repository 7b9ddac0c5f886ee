"""A vendor that answers one byte at a time: the fault a per-read timeout cannot catch.

Each read of the client sees a byte well within its read timeout, so only a bound on the
whole attempt stops it. The server records how much of its answer it got out before the
client hung up, which shows whether (and where) the client cut it off.

The answer can also be a redirect (``status``, ``location``), and its body a flood
(``flood_bytes`` announced and streamed as fast as the client takes them) instead of a drip.
The attributes may be changed between requests: a server process pointed at it once meets
every fault.
"""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType

ANSWER_BODY = b'{"authToken": "' + b"d" * 200 + b'"}'
REASONS = {200: "OK", 302: "Found", 307: "Temporary Redirect", 500: "Internal Server Error"}
FLOOD_CHUNK = b"x" * 65536


class DripServer:
    def __init__(
        self,
        *,
        drip_headers: bool = False,
        interval: float = 0.1,
        status: int = 200,
        location: str | None = None,
        flood_bytes: int = 0,
    ) -> None:
        self.drip_headers = drip_headers
        self.interval = interval
        self.status = status
        self.location = location
        self.flood_bytes = flood_bytes
        self.sent: list[int] = []
        self.total = 0
        self.requests: list[bytes] = []
        self._stop = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> DripServer:
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
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _head(self, length: int) -> bytes:
        lines = [f"HTTP/1.1 {self.status} {REASONS.get(self.status, 'Other')}"]
        lines.append("Content-Type: application/json")
        if self.location is not None:
            lines.append(f"Location: {self.location}")
        lines.append(f"Content-Length: {length}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            request = b""
            while b"\r\n\r\n" not in request:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                request += chunk
            self.requests.append(request)
            if self.flood_bytes:
                self._flood(conn)
                return
            head = self._head(len(ANSWER_BODY))
            answer = head + ANSWER_BODY
            self.total = len(answer)
            start = 0 if self.drip_headers else len(head)
            sent = 0
            try:
                if start:
                    conn.sendall(answer[:start])
                    sent = start
                for offset in range(start, len(answer)):
                    if self._stop.wait(self.interval):
                        break
                    conn.sendall(answer[offset : offset + 1])
                    sent = offset + 1
            except OSError:
                pass  # the client hung up: what we want to see
            finally:
                self.sent.append(sent)
                time.sleep(0)

    def _flood(self, conn: socket.socket) -> None:
        self.total = self.flood_bytes
        sent = 0
        try:
            conn.sendall(self._head(self.flood_bytes))
            while sent < self.flood_bytes and not self._stop.is_set():
                conn.sendall(FLOOD_CHUNK)
                sent += len(FLOOD_CHUNK)
        except OSError:
            pass  # the client hung up
        finally:
            self.sent.append(sent)
