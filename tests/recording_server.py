"""A loopback HTTP server that keeps every byte sent to it: where a redirect would lead.

It answers anything with a token-shaped 200, so a client that did follow a redirect to it
would succeed; the tests assert it received nothing at all.
"""

from __future__ import annotations

import socket

from .loopback_server import LoopbackServer, json_answer

ANSWER = b'{"authToken":"stolen-token","keys":[]}'


class RecordingServer(LoopbackServer):
    def __init__(self) -> None:
        super().__init__()
        self.received: list[bytes] = []

    def handle(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(2)
            try:
                self.received.append(conn.recv(65536))
                conn.sendall(json_answer(ANSWER, {"Connection": "close"}))
            except OSError:
                pass
