"""The server's own answers (``serving/refusals.py``, ``gevent_worker.refusal_for``), in-process.

A refusal is written by the worker before any app code runs: its bytes must still be a
complete HTTP/1.1 answer in the broker's JSON error shape (error, message, request_id,
retryable), closing the connection, with the request id in a header and in the log line, and
``Retry-After`` only where a retry can help (503 overloaded). Each error of gunicorn's request
parser maps to its own status.

Careless changes these tests catch: a Content-Length that no longer matches the body (the
client hangs or reads garbage), a missing ``Connection: close`` (the client reuses a connection
the server closes), ``retryable`` true or ``Retry-After`` sent for a final refusal (clients
hammer the server) or missing from 503, the security headers dropped, a different request
id in the header, the body and the log line (a client's report no longer leads to the log),
the client's request line logged (its query string may carry a credential), a 500 logged at
info without its traceback, a refusal that blocks the worker on a client that stops reading,
an exception escaping when the client is gone, and a parser error mapped to the wrong status
(a 431 answered 400, an unknown error answered as the client's fault instead of 500).
"""

from __future__ import annotations

import json
import logging
import socket
import ssl
from collections.abc import Iterator
from typing import Any

import pytest
from gunicorn.http import errors as http_errors

from serving import refusals
from serving.gevent_worker import refusal_for
from serving.overload import Overloaded
from serving.refusals import HeaderTimeout, close_quietly, refusal_bytes, refuse

from .server_log import ServerLog, captured_server_log

ALL_REFUSALS = [
    refusals.INTERNAL,
    refusals.REQUEST_TIMEOUT,
    refusals.BAD_REQUEST,
    refusals.OVERLOADED,
    refusals.URI_TOO_LONG,
    refusals.HEADERS_TOO_LARGE,
    refusals.EXPECTATION_FAILED,
    refusals.NOT_IMPLEMENTED,
]


@pytest.fixture
def server_log() -> Iterator[ServerLog]:
    with captured_server_log() as records:
        yield records


def parse_answer(raw: bytes) -> tuple[str, dict[str, str], bytes]:
    """The status line, the headers (in order, each once) and the body of one answer."""
    head, separator, body = raw.partition(b"\r\n\r\n")
    assert separator, raw
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers: dict[str, str] = {}
    for line in lines:
        name, _, value = line.partition(": ")
        assert name not in headers, f"{name} sent twice"
        headers[name] = value
    return status_line, headers, body


def read_all(peer: socket.socket) -> bytes:
    peer.settimeout(5)
    chunks = []
    while chunk := peer.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.parametrize("answer", ALL_REFUSALS, ids=lambda answer: str(answer[0]))
def test_a_refusal_is_a_complete_json_answer_that_closes_the_connection(
    answer: refusals.Refusal,
) -> None:
    status, reason, code, message = answer
    status_line, headers, body = parse_answer(refusal_bytes(*answer, request_id="r-1"))
    assert status_line == f"HTTP/1.1 {status} {reason}"
    assert headers["Connection"] == "close"
    assert headers["Content-Type"] == "application/json"
    assert headers["Content-Length"] == str(len(body))
    assert headers["Cache-Control"] == "no-store"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Request-ID"] == "r-1"
    assert json.loads(body) == {
        "error": code,
        "message": message,
        "request_id": "r-1",
        "retryable": status == 503,
    }


def test_only_the_overload_refusal_is_retryable_and_says_when() -> None:
    _, headers, body = parse_answer(refusal_bytes(*refusals.OVERLOADED, request_id="r"))
    assert headers["Retry-After"] == "1"
    assert json.loads(body)["retryable"] is True
    for answer in ALL_REFUSALS:
        if answer is not refusals.OVERLOADED:
            _, headers, body = parse_answer(refusal_bytes(*answer, request_id="r"))
            assert "Retry-After" not in headers
            assert json.loads(body)["retryable"] is False


def test_the_headers_come_in_a_fixed_order_with_retry_after_last() -> None:
    _, headers, _ = parse_answer(refusal_bytes(*refusals.OVERLOADED, request_id="r"))
    assert list(headers) == [
        "Connection",
        "Content-Type",
        "Content-Length",
        "Cache-Control",
        "X-Content-Type-Options",
        "X-Request-ID",
        "Retry-After",
    ]


def test_a_refused_client_gets_the_answer_and_the_log_line_its_request_id(
    server_log: ServerLog,
) -> None:
    ours, peer = socket.socketpair()
    with ours, peer:
        refuse(ours, HeaderTimeout(), refusals.REQUEST_TIMEOUT)
        ours.close()
        status_line, headers, body = parse_answer(read_all(peer))
    assert status_line == "HTTP/1.1 408 Request Timeout"
    request_id = headers["X-Request-ID"]
    assert len(request_id) == 32
    assert int(request_id, 16) >= 0
    assert json.loads(body) == {
        "error": "request_timeout",
        "message": refusals.REQUEST_TIMEOUT[3],
        "request_id": request_id,
        "retryable": False,
    }
    record = server_log.only()
    assert record.levelno == logging.INFO
    assert record.getMessage() == "refused request_timeout: HeaderTimeout"
    assert record.__dict__["request_id"] == request_id
    assert record.__dict__["status"] == 408
    assert record.__dict__["error_code"] == "request_timeout"
    assert record.exc_info is None


def test_each_refusal_gets_a_fresh_request_id() -> None:
    ids = set()
    for _ in range(3):
        ours, peer = socket.socketpair()
        with ours, peer:
            refuse(ours, HeaderTimeout(), refusals.REQUEST_TIMEOUT)
            ours.close()
            ids.add(parse_answer(read_all(peer))[1]["X-Request-ID"])
    assert len(ids) == 3


def test_the_log_line_names_only_the_errors_type_never_its_text(server_log: ServerLog) -> None:
    leaky = http_errors.InvalidRequestLine("GET /?api_key=hunter2 HTTP/1.1")
    ours, peer = socket.socketpair()
    with ours, peer:
        refuse(ours, leaky, refusals.BAD_REQUEST)
    record = server_log.only()
    assert record.getMessage() == "refused bad_request: InvalidRequestLine"
    assert "hunter2" not in record.getMessage()


def test_an_overload_refusal_tells_the_operator_what_to_do(server_log: ServerLog) -> None:
    ours, peer = socket.socketpair()
    with ours, peer:
        refuse(ours, Overloaded(), refusals.OVERLOADED)
        ours.close()
        status_line, headers, _ = parse_answer(read_all(peer))
    assert status_line == "HTTP/1.1 503 Service Unavailable"
    assert headers["Retry-After"] == "1"
    record = server_log.only()
    assert record.levelno == logging.INFO
    assert record.getMessage() == (
        "refused overloaded: the worker holds BROKER_MAX_IN_FLIGHT requests already; "
        "if this is the usual load, add workers or instances"
    )
    assert record.__dict__["status"] == 503


def test_a_server_failure_is_logged_as_an_error_with_its_traceback(server_log: ServerLog) -> None:
    try:
        raise RuntimeError("boom")
    except RuntimeError as caught:
        failure = caught
    ours, peer = socket.socketpair()
    with ours, peer:
        refuse(ours, failure, refusals.INTERNAL)
        ours.close()
        status_line, headers, body = parse_answer(read_all(peer))
    assert status_line == "HTTP/1.1 500 Internal Server Error"
    record = server_log.only()
    assert record.levelno == logging.ERROR
    assert record.getMessage() == "server error RuntimeError before the app answered"
    assert record.exc_info is not None
    assert record.exc_info[1] is failure
    assert record.__dict__["request_id"] == headers["X-Request-ID"]
    assert record.__dict__["status"] == 500
    assert record.__dict__["error_code"] == "internal_error"
    assert json.loads(body)["error"] == "internal_error"


def fill(sock: socket.socket) -> None:
    """Write to ``sock`` until the peer's buffer is full."""
    sock.setblocking(False)
    try:
        while True:
            sock.send(b"x" * 65536)
    except BlockingIOError:
        pass
    finally:
        sock.setblocking(True)


def test_a_client_that_stops_reading_does_not_hold_the_worker(server_log: ServerLog) -> None:
    ours, peer = socket.socketpair()
    with ours, peer:
        fill(ours)  # the peer never reads
        refuse(ours, HeaderTimeout(), refusals.REQUEST_TIMEOUT)  # returns, never blocks
    assert [record.getMessage() for record in server_log] == [
        "refused request_timeout: HeaderTimeout",
        "could not send the 408 refusal",
    ]
    assert server_log[1].levelno == logging.DEBUG


class _Unusable:
    """A client socket that fails as a closed or half-torn-down one does."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def setblocking(self, flag: bool) -> None:
        raise self.error

    def send(self, data: bytes) -> Any:  # pragma: no cover - setblocking fails first
        raise self.error

    def close(self) -> None:
        raise self.error


@pytest.mark.parametrize("error", [OSError(9, "Bad file descriptor"), ValueError("closed")])
def test_a_client_already_gone_is_refused_without_an_exception(
    error: Exception, server_log: ServerLog
) -> None:
    refuse(_Unusable(error), HeaderTimeout(), refusals.REQUEST_TIMEOUT)
    assert server_log[-1].getMessage() == "could not send the 408 refusal"


def test_a_connection_closes_quietly_even_when_closing_fails(server_log: ServerLog) -> None:
    ours, peer = socket.socketpair()
    with peer:
        close_quietly(ours)
        assert ours.fileno() == -1
        assert server_log == []
        close_quietly(_Unusable(OSError(9, "Bad file descriptor")))  # type: ignore[arg-type]
    assert server_log.only().getMessage() == "closing a refused connection failed"
    assert server_log.only().levelno == logging.DEBUG


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (HeaderTimeout(), 408),
        (Overloaded(), 503),
        (http_errors.LimitRequestLine(9000, 4094), 414),
        (http_errors.LimitRequestHeaders("too many headers"), 431),
        (http_errors.ExpectationFailed("teapot"), 417),
        (http_errors.UnsupportedTransferCoding("gzip"), 501),
        (http_errors.ConfigurationProblem("bad setting"), 500),
        (http_errors.InvalidRequestLine("junk"), 400),
        (http_errors.InvalidHeader("junk"), 400),
        (ssl.SSLError(1, "wrong version number"), 400),
        (RuntimeError("a bug"), 500),
        (ZeroDivisionError(), 500),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, BaseException) else str(value),
)
def test_each_error_before_the_app_gets_its_own_status(error: BaseException, status: int) -> None:
    assert refusal_for(error)[0] == status


def test_a_parser_error_that_is_also_a_limit_gets_the_limits_status() -> None:
    # gunicorn's limit errors are ParseExceptions too: the specific answer must win.
    assert isinstance(http_errors.LimitRequestLine(1, 1), http_errors.ParseException)
    assert refusal_for(http_errors.LimitRequestLine(9000, 4094)) is refusals.URI_TOO_LONG
    assert refusal_for(http_errors.LimitRequestHeaders("x")) is refusals.HEADERS_TOO_LARGE
    assert refusal_for(RuntimeError()) is refusals.INTERNAL
