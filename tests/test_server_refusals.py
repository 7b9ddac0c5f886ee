"""Requests the production server refuses before the broker sees them still get the broker's
JSON error shape, from both supported worker classes, sent over bare sockets."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from flask_token_broker.version import VERSION

from . import fake_secrets
from .broker_server import BrokerServer
from .raw_http import RawAnswer, address, exchange, parse, read_response, read_until_closed

pytestmark = pytest.mark.network

HEADER_TIMEOUT = 1.0
SHAPE = {"error", "message", "request_id", "retryable"}
LONG = "Z" * 9000  # over gunicorn's 8190-byte limits on the request line and on a header


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerServer]:
    env = {
        "SECRET_KEY": fake_secrets.SECRET_KEY,
        "MINDSET_API_HOST": "http://127.0.0.1:9",
        "MINDSET_API_KEY": fake_secrets.API_KEY,
        "MINDSET_APP_UID": fake_secrets.APP_UID,
        "BROKER_HEADER_TIMEOUT": str(HEADER_TIMEOUT),
    }
    with BrokerServer(env, tmp_path_factory.mktemp("refusals"), workers=1) as process:
        yield process


def assert_broker_shape(server: BrokerServer, answer: RawAnswer, status: int, code: str) -> None:
    assert answer.status == status
    assert answer.headers["content-type"] == "application/json"
    assert answer.headers["cache-control"] == "no-store"
    body = answer.json()
    assert set(body) == SHAPE
    assert body["error"] == code
    assert body["retryable"] is False
    assert answer.headers["x-request-id"] == body["request_id"]
    # Nothing the client sent is echoed back.
    assert b"ZZZZ" not in answer.body
    assert b"GARBAGE" not in answer.body
    # The operator finds the refusal in the log by the id the client saw.
    deadline = time.monotonic() + 5
    while body["request_id"] not in server.logs() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert f'"request_id": "{body["request_id"]}"' in server.logs()


def request(first_line: str, *headers: str) -> bytes:
    return "\r\n".join((first_line, "Host: broker", *headers, "", "")).encode()


@pytest.mark.parametrize(
    ("raw", "status", "code"),
    [
        (request(f"GET /healthz?{LONG} HTTP/1.1"), 414, "request_uri_too_large"),
        (
            request("GET /healthz HTTP/1.1", f"X-Big: {LONG}"),
            431,
            "request_header_fields_too_large",
        ),
        (
            request("GET /healthz HTTP/1.1", *(f"X-H{i}: v" for i in range(101))),
            431,
            "request_header_fields_too_large",
        ),
        (b"GARBAGE\r\n\r\n", 400, "bad_request"),
        (request("GET /healthz HTTP/1.1", "Bad Header Name: x"), 400, "bad_request"),
        (request("POST /healthz HTTP/1.1", "Content-Length: abc"), 400, "bad_request"),
        (
            request("POST /healthz HTTP/1.1", "Content-Length: 5", "Transfer-Encoding: chunked"),
            400,
            "bad_request",
        ),
        (request("GET /healthz HTTP/1.1", "Expect: 200-ok"), 417, "expectation_failed"),
        (request("POST /healthz HTTP/1.1", "Transfer-Encoding: bogus"), 501, "not_implemented"),
    ],
    ids=[
        "uri-too-long",
        "header-too-large",
        "too-many-headers",
        "bad-request-line",
        "bad-header-name",
        "bad-content-length",
        "length-and-chunked",
        "unknown-expectation",
        "unknown-transfer-coding",
    ],
)
def test_server_refusal_is_broker_json(
    server: BrokerServer, raw: bytes, status: int, code: str
) -> None:
    assert_broker_shape(server, exchange(server.url, raw), status, code)


def test_headers_not_complete_in_time_are_408(server: BrokerServer) -> None:

    with socket.create_connection(address(server.url), timeout=10) as sock:
        started = time.monotonic()
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: broker\r\n")
        answer = parse(read_until_closed(sock, HEADER_TIMEOUT + 5))
        waited = time.monotonic() - started
    assert_broker_shape(server, answer, 408, "request_timeout")
    # A busy machine may wake the worker late.
    assert HEADER_TIMEOUT <= waited < HEADER_TIMEOUT + 2


def test_idle_kept_alive_connection_outlives_the_header_timeout(server: BrokerServer) -> None:
    """BROKER_KEEPALIVE, not the header timeout, applies between requests."""

    ask = b"GET /healthz HTTP/1.1\r\nHost: broker\r\n\r\n"
    with socket.create_connection(address(server.url), timeout=5) as sock:
        for _ in range(2):
            sock.sendall(ask)
            assert read_response(sock).json() == {"status": "ok", "version": VERSION}
            time.sleep(HEADER_TIMEOUT + 1.2)
