"""A small, fast HTTP/1.1 server for the stand-in: asyncio (uvloop when present) + httptools.

Flask would cap the benchmark's upstream at a few thousand calls a second; a bare protocol
class answers an order of magnitude more. It supports what clients of the vendor use:
keep-alive, pipelining (answers stay in request order), Content-Length bodies, and delays
via ``loop.call_later`` so a 100 ms latency costs a timer, not a thread.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
from collections import deque
from http import HTTPStatus
from types import SimpleNamespace
from typing import Any, cast

import httptools

from flask_token_broker.sandbox_vendor.messages import (
    JSON_HEADERS,
    StandinRequest,
    StandinResponse,
    error,
)
from standin.router import Outcome, Router

log = logging.getLogger("standin.server")
MAX_BODY = 1 << 20
_REASONS = {s.value: s.phrase for s in HTTPStatus}
_JSON_HEADS: dict[int, bytes] = {}


def encode(resp: StandinResponse, keep_alive: bool) -> bytes:
    if resp.headers is JSON_HEADERS and keep_alive:  # the common answer: a cached head
        head = _JSON_HEADS.get(resp.status)
        if head is None:
            head = _JSON_HEADS[resp.status] = _head(resp)
        return b"%s%d\r\n\r\n%s" % (head, len(resp.body), resp.body)
    return b"%s%d\r\n%s\r\n%s" % (
        _head(resp),
        len(resp.body),
        b"" if keep_alive else b"Connection: close\r\n",
        resp.body,
    )


def _head(resp: StandinResponse) -> bytes:
    """Status line and headers, up to the value of Content-Length."""
    lines = [f"HTTP/1.1 {resp.status} {_REASONS.get(resp.status, 'Unknown')}"]
    lines.extend(f"{k}: {v}" for k, v in resp.headers)
    lines.append("Content-Length: ")
    return "\r\n".join(lines).encode("latin-1")


class _Slot:
    """One request's place in the answer queue, so pipelined answers leave in order."""

    __slots__ = ("close", "data")

    def __init__(self) -> None:
        self.data: bytes | None = None
        self.close = False


class HttpProtocol(asyncio.Protocol):
    """One client connection.

    httptools calls back into Python for every URL piece, header and body piece; here those
    callbacks are C-level methods of containers (``dict.__setitem__``, ``list.append``) that are
    emptied after each message, so only ``on_message_complete`` runs Python code. That alone
    is a third of the per-request cost on the benchmark's path.
    """

    def __init__(self, router: Router, connections: set[HttpProtocol]) -> None:
        self._router = router
        self._connections = connections
        self._loop = asyncio.get_running_loop()
        self._raw_headers: dict[bytes, bytes] = {}
        self._url: list[bytes] = []
        self._body: list[bytes] = []
        sink = SimpleNamespace(
            on_url=self._url.append,
            on_header=self._raw_headers.__setitem__,
            on_body=self._body.append,
            on_message_complete=self.on_message_complete,
        )
        self._parser = httptools.HttpRequestParser(sink)
        self._transport: asyncio.Transport | None = None
        self._queue: deque[_Slot] = deque()
        self._stalled = False

    # asyncio callbacks
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio.Transport, so no isinstance check here.
        self._transport = cast(asyncio.Transport, transport)
        self._connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._connections.discard(self)
        self._transport = None

    def data_received(self, data: bytes) -> None:
        if self._stalled:  # A hung or closing connection reads nothing more.
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(400, "Upgrade not supported")
        except httptools.HttpParserError:
            self._fail(400, "Malformed HTTP request")

    def on_message_complete(self) -> None:
        keep_alive = self._parser.should_keep_alive()
        method = self._parser.get_method().decode("latin-1")
        path = b"".join(self._url).decode("latin-1")
        body = b"".join(self._body)
        headers = {
            k.decode("latin-1").lower(): v.decode("latin-1") for k, v in self._raw_headers.items()
        }
        self._url.clear()
        self._body.clear()
        self._raw_headers.clear()
        if len(body) > MAX_BODY:
            self._fail(413, "Request body too large")
            return
        req = StandinRequest.lowered(method, path, headers, body)
        try:
            outcome = self._router.route(req)
        except Exception:
            log.exception("stand-in handler failed on %s %s", method, path)
            outcome = Outcome(error(500, "Stand-in internal error"))
        self._carry_out(outcome, keep_alive)

    # answering
    def _carry_out(self, outcome: Outcome, keep_alive: bool) -> None:
        if outcome.reset:
            self._reset()
            return
        response = outcome.response
        if not self._queue and outcome.delay <= 0 and response is not None and keep_alive:
            if self._transport is not None:  # the fast path: nothing queued, answer now
                self._transport.write(encode(response, True))
            return
        slot = _Slot()
        self._queue.append(slot)
        if response is None:  # hang: this slot never fills, nothing after it leaves
            self._stalled = True
            return
        data = encode(response, keep_alive)
        if not keep_alive:
            self._stalled = True
        if outcome.delay > 0:
            self._loop.call_later(outcome.delay, self._fill, slot, data, not keep_alive)
        else:
            self._fill(slot, data, not keep_alive)

    def _fill(self, slot: _Slot, data: bytes, close: bool) -> None:
        slot.data, slot.close = data, close
        transport = self._transport
        while self._queue and (ready := self._queue[0].data) is not None:
            done = self._queue.popleft()
            if transport is None:
                continue
            transport.write(ready)
            if done.close:
                transport.close()
                self._queue.clear()
                return

    def _fail(self, status: int, message: str) -> None:
        self._stalled = True
        slot = _Slot()
        self._queue.append(slot)
        self._fill(slot, encode(error(status, message), keep_alive=False), True)

    def _reset(self) -> None:
        """Close with RST rather than FIN: SO_LINGER on, timeout 0, then close."""
        transport = self._transport
        self._stalled = True
        if transport is None:
            return
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()

    def shutdown(self) -> None:
        if self._transport is not None:
            self._transport.abort()


class StandinServer:
    """Binds, serves until :meth:`close`, and drops every connection on the way out."""

    def __init__(self, router: Router) -> None:
        self.router = router
        self.connections: set[HttpProtocol] = set()
        self._server: asyncio.Server | None = None

    async def start(self, host: str, port: int) -> int:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: HttpProtocol(self.router, self.connections),
            host,
            port,
            backlog=2048,
            reuse_address=True,
        )
        bound: tuple[Any, ...] = self._server.sockets[0].getsockname()
        return int(bound[1])

    def stats(self) -> dict[str, Any]:
        return {"open_connections": len(self.connections)}

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for conn in list(self.connections):
            conn.shutdown()
        if self._server is not None:
            await self._server.wait_closed()
