"""The gevent worker sends each answer's header block with its body, in one write, and never
out of order: a body-less answer, a file sent with ``sendfile``, an error and a closing
connection all still get their headers first."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from serving.gevent_worker import DeadlineSocket

from .broker_server import BrokerServer, broker_beside_standin, session_cookie
from .raw_http import address

HEADERS = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n"
STATIC = Path(__file__).resolve().parent.parent / "flask_token_broker" / "static"


class RecordingSocket:
    """The calls a connection's socket receives, in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def sendall(self, data: bytes) -> None:
        self.calls.append(("sendall", bytes(data)))

    def recv(self, size: int) -> bytes:
        self.calls.append(("recv", size))
        return b""

    def sendfile(self, *args: Any, **kwargs: Any) -> int:
        self.calls.append(("sendfile", None))
        return 0

    def close(self) -> None:
        self.calls.append(("close", None))


def connection() -> tuple[DeadlineSocket, RecordingSocket]:
    raw = RecordingSocket()
    return DeadlineSocket(raw, header_seconds=5.0), raw


def test_the_header_block_leaves_with_the_first_body_write() -> None:
    conn, raw = connection()
    conn.start_response()
    conn.sendall(HEADERS)
    assert raw.calls == []
    conn.sendall(b"{}")
    conn.sendall(b"more")  # a streamed body's later writes go as they come
    assert raw.calls == [("sendall", HEADERS + b"{}"), ("sendall", b"more")]


def test_each_answer_on_a_kept_alive_connection_is_joined_again() -> None:
    conn, raw = connection()
    for body in (b"{}", b"[]"):
        conn.start_response()
        conn.sendall(HEADERS)
        conn.sendall(body)
        conn.wait_for_next_request(keepalive=5.0)
    assert raw.calls == [("sendall", HEADERS + b"{}"), ("sendall", HEADERS + b"[]")]


def test_a_body_less_answer_is_sent_before_the_next_request_is_read() -> None:
    conn, raw = connection()
    conn.start_response()
    conn.sendall(HEADERS)
    conn.wait_for_next_request(keepalive=5.0)
    conn.recv(8192)
    conn.sendall(b"not held: no answer was started")
    assert raw.calls == [
        ("sendall", HEADERS),
        ("recv", 8192),
        ("sendall", b"not held: no answer was started"),
    ]


@pytest.mark.parametrize("then", ["recv", "sendfile", "close"])
def test_whatever_touches_the_socket_next_finds_the_headers_sent(then: str) -> None:
    conn, raw = connection()
    conn.start_response()
    conn.sendall(HEADERS)
    getattr(conn, then)(*([8192] if then == "recv" else []))
    assert raw.calls == [("sendall", HEADERS), (then, 8192 if then == "recv" else None)]


def test_the_held_block_is_not_sent_twice() -> None:
    conn, raw = connection()
    conn.start_response()
    conn.sendall(HEADERS)
    conn.flush()
    conn.flush()
    conn.close()
    assert raw.calls == [("sendall", HEADERS), ("close", None)]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerServer]:
    with broker_beside_standin(tmp_path_factory.mktemp("writes")) as process:
        yield process


@pytest.mark.network
def test_answers_of_every_kind_arrive_whole_on_one_kept_alive_connection(
    server: BrokerServer,
) -> None:
    host, port = address(server.url)
    conn = http.client.HTTPConnection(host, port, timeout=10)
    cookie = {"Cookie": f"session={session_cookie({'user_id': 'ada'})}"}
    try:
        for _ in range(2):
            conn.request("GET", "/api/getusertoken", headers=cookie)
            token = conn.getresponse()
            assert token.status == 200
            assert b"authToken" in token.read()

            conn.request("GET", "/broker/mindset-auth.js")  # the file is sent with sendfile
            script = conn.getresponse()
            assert script.status == 200
            assert script.read() == (STATIC / "mindset-auth.js").read_bytes()

            conn.request("HEAD", "/broker/mindset-auth.js")
            head = conn.getresponse()
            assert head.status == 200
            assert head.read() == b""

            conn.request("GET", "/api/getusertoken")
            refused = conn.getresponse()
            assert refused.status == 401
            assert refused.getheader("Content-Type") == "application/json"
            assert json.loads(refused.read())["error"] == "not_signed_in"
    finally:
        conn.close()
