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
import time

from .loopback_server import LoopbackServer, answer_head, read_request

ANSWER_BODY = b'{"authToken": "' + b"d" * 200 + b'"}'
FLOOD_CHUNK = b"x" * 65536

# What the broker must answer to each drip, in every worker model: one table for the tests of
# each. status, headers dripped too, expected status and code.
DRIPS = [
    (200, True, 504, "vendor_timeout"),
    (200, False, 504, "vendor_timeout"),
    (307, True, 504, "vendor_timeout"),
    # A redirect's body is never read: it is refused as soon as its headers are in.
    (307, False, 502, "vendor_bad_response"),
]
DRIP_IDS = [f"{s}-{'headers' if h else 'body'}" for s, h, *_ in DRIPS]


class DripServer(LoopbackServer):
    concurrent = True

    def __init__(
        self,
        *,
        drip_headers: bool = False,
        interval: float = 0.1,
        status: int = 200,
        location: str | None = None,
        flood_bytes: int = 0,
    ) -> None:
        super().__init__()
        self.drip_headers = drip_headers
        self.interval = interval
        self.status = status
        self.location = location
        self.flood_bytes = flood_bytes
        self.sent: list[int] = []
        self.total = 0
        self.requests: list[bytes] = []

    def _head(self, length: int) -> bytes:
        extra = {"Location": self.location} if self.location is not None else {}
        return answer_head(self.status, length, extra)

    def handle(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            request = read_request(conn)
            if request is None:
                return
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
                    if self.stopping.wait(self.interval):
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
            while sent < self.flood_bytes and not self.stopping.is_set():
                conn.sendall(FLOOD_CHUNK)
                sent += len(FLOOD_CHUNK)
        except OSError:
            pass  # the client hung up
        finally:
            self.sent.append(sent)
