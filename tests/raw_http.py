"""HTTP/1.1 over a bare loopback socket, for what ``requests`` will not send: slow, oversized
or malformed requests, and for reading exactly what the server answers."""

from __future__ import annotations

import json
import socket
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


@dataclass
class RawAnswer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    assert parts.hostname is not None
    assert parts.port is not None
    return parts.hostname, parts.port


def read_until_closed(sock: socket.socket, timeout: float) -> bytes:
    """Everything the server sends until it closes the connection (bounded by ``timeout``)."""
    deadline = time.monotonic() + timeout
    received = b""
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"the server kept the connection open; got {received[:200]!r}")
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return received
        if not chunk:
            return received
        received += chunk


def parse(raw: bytes) -> RawAnswer:
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return RawAnswer(int(status_line.split()[1]), headers, body)


def exchange(url: str, request: bytes, timeout: float = 10.0) -> RawAnswer:
    """Send ``request`` as it is and read the whole answer of a server that then closes."""
    with socket.create_connection(address(url), timeout=timeout) as sock:
        sock.sendall(request)
        return parse(read_until_closed(sock, timeout))


def read_response(sock: socket.socket, timeout: float = 5.0) -> RawAnswer:
    """One whole answer (framed by Content-Length) on a connection that stays open."""
    sock.settimeout(timeout)
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed before the headers: {received[:200]!r}")
        received += chunk
    answer = parse(received)
    length = int(answer.headers["content-length"])
    while len(answer.body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before the body's end")
        answer.body += chunk
    return answer
