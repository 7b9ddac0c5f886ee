"""The broker's gevent worker handling connections in-process (``serving/gevent_worker.py``).

The worker is built as gunicorn builds it, without forking and without patching the standard
library: each connection is a gevent socket pair handed to ``GeventWorker.handle`` in a
greenlet, with a small WSGI app. The real-process tests (``test_slow_clients.py``,
``test_overload_processes.py``, ``test_server_refusals.py``) prove the same behaviours through
gunicorn over loopback; these prove the worker's own logic, fast.

Careless changes these tests catch: a kept-alive connection given no header deadline or the
keep-alive wait for its headers (a slow client holds a connection for minutes), a silent
client answered 408 or a partial request closed without one, a pipelined request's deadline
counted from the keep-alive wait, a request over BROKER_MAX_IN_FLIGHT run by the app (or a
503 without Retry-After, or a refused one never released), the in-flight count leaking on an
app error, an app error or a parser error answered in gunicorn's HTML instead of the broker's
JSON shape or with the wrong status, an answer lost or cut when the worker stops, shedding a
connection whose request is being served or the newest one instead of the longest-waiting, a
connection left in the waiting list after it ends, the worker no longer taking a queued
connection between two requests, and the overload counter missing from /metrics until the
first refusal.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from typing import Any

import gevent
import gevent.event
import gevent.socket
import pytest
from gunicorn.config import Config

from serving import gevent_worker, settings
from serving.gevent_worker import DeadlineSocket, GeventWorker
from serving.settings import read_server_settings

from .server_log import ServerLog, captured_server_log

NEVER = 60
ADDRESS = ("127.0.0.1", 50000)


class Log:
    """gunicorn's logger as the worker uses it: every call recorded by level."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []

    def __getattr__(self, level: str) -> Callable[..., None]:
        def record(message: Any = "", *args: Any, **kwargs: Any) -> None:
            if level != "access":
                self.lines.append((level, str(message) % args if args else str(message)))

        return record


def hello(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    body = json.dumps({"path": environ["PATH_INFO"]}).encode()
    start_response(
        "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    )
    return [body]


class Workers:
    """Builds workers as gunicorn's master would, and cleans up their connections."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.monkeypatch = monkeypatch
        self.greenlets: list[gevent.Greenlet] = []
        self.sockets: list[Any] = []
        self.workers: list[GeventWorker] = []

    def __call__(
        self,
        app: Callable[..., Any] = hello,
        *,
        header_timeout: float = NEVER,
        keepalive: float = NEVER,
        max_in_flight: int = 100,
    ) -> GeventWorker:
        self.monkeypatch.setattr(
            settings,
            "_accepted",
            read_server_settings(
                {
                    "BROKER_HEADER_TIMEOUT": str(header_timeout),
                    "BROKER_MAX_IN_FLIGHT": str(max_in_flight),
                }
            ),
        )
        cfg = Config()
        # gunicorn takes whole seconds; the tests wait for less.
        cfg.settings["keepalive"].value = keepalive
        worker = GeventWorker(
            age=0, ppid=os.getppid(), sockets=[], app=None, timeout=30, cfg=cfg, log=Log()
        )
        worker.wsgi = app
        self.workers.append(worker)
        return worker

    def connect(self, worker: GeventWorker) -> Client:
        """A client connected to ``worker``, whose greenlet handles the connection."""
        ours, client = gevent.socket.socketpair()
        listener, other = gevent.socket.socketpair()
        self.sockets += [ours, client, listener, other]
        self.greenlets.append(gevent.spawn(worker.handle, listener, ours, ADDRESS))
        gevent.sleep(0)  # the worker takes the connection
        return Client(client)

    def held_answer(self, head: bytes) -> tuple[DeadlineSocket, Client]:
        """A connection whose answer's header block the worker holds, unsent."""
        ours, client = gevent.socket.socketpair()
        self.sockets += [ours, client]
        conn = DeadlineSocket(ours, NEVER)
        conn.start_response()
        conn.sendall(head)
        return conn, Client(client)

    def finish(self) -> None:
        """Wait for every connection's greenlet to end: none may fail."""
        gevent.joinall(self.greenlets, timeout=5)
        assert all(greenlet.dead for greenlet in self.greenlets), "a connection never ended"
        failures = [greenlet.exception for greenlet in self.greenlets if greenlet.exception]
        assert failures == []

    def close(self) -> None:
        gevent.killall(self.greenlets, timeout=5)
        for sock in self.sockets:
            sock.close()
        for worker in self.workers:
            worker.tmp.close()


@pytest.fixture
def short_linger(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gevent_worker, "REFUSAL_LINGER", 0.05)


@pytest.fixture
def server_log() -> Iterator[ServerLog]:
    with captured_server_log() as records:
        yield records


@pytest.fixture
def workers(monkeypatch: pytest.MonkeyPatch) -> Iterator[Workers]:
    built = Workers(monkeypatch)
    try:
        with gevent.Timeout(10):
            yield built
    finally:
        built.close()


class Client:
    """The client's end of a connection: what it sends, and the answers it reads in turn."""

    def __init__(self, sock: Any) -> None:
        self.sock = sock
        self.buffer = b""

    def sendall(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _more(self) -> bool:
        chunk = self.sock.recv(65536)
        self.buffer += chunk
        return bool(chunk)

    def answer(self) -> tuple[str, dict[str, str], bytes]:
        """The next answer: its status line, its headers (names in lower case), its body."""
        while b"\r\n\r\n" not in self.buffer:
            assert self._more(), f"closed before an answer: {self.buffer!r}"
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        status_line, *lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers["content-length"])
        while len(self.buffer) < length:
            assert self._more(), "closed in the middle of the body"
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return status_line, headers, body

    def closed(self) -> bool:
        """Whether the worker closed the connection without another byte."""
        return not self.buffer and not self._more()


def get(path: str = "/") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: broker\r\n\r\n".encode()


def test_a_kept_alive_connection_is_answered_request_after_request(workers: Workers) -> None:
    worker = workers()
    client = workers.connect(worker)
    for path in ("/one", "/two", "/three"):
        client.sendall(get(path))
        status_line, headers, body = client.answer()
        assert status_line == "HTTP/1.1 200 OK"
        assert headers["connection"] == "keep-alive"
        assert json.loads(body) == {"path": path}


def test_pipelined_requests_are_answered_in_order(workers: Workers) -> None:
    worker = workers()
    client = workers.connect(worker)
    client.sendall(get("/a") + get("/b"))
    assert json.loads(client.answer()[2]) == {"path": "/a"}
    assert json.loads(client.answer()[2]) == {"path": "/b"}


def test_a_silent_new_connection_is_closed_without_an_answer(workers: Workers) -> None:
    worker = workers(header_timeout=0.05)
    client = workers.connect(worker)
    assert client.closed()


def test_a_first_request_not_complete_in_time_is_answered_408(workers: Workers) -> None:
    worker = workers(header_timeout=0.05)
    client = workers.connect(worker)
    client.sendall(b"GET / HTTP/1.1\r\nHost: bro")
    status_line, headers, body = client.answer()
    assert status_line == "HTTP/1.1 408 Request Timeout"
    assert headers["connection"] == "close"
    assert json.loads(body)["error"] == "request_timeout"
    assert client.closed()
    client.sock.close()
    workers.finish()


def test_a_408_client_that_keeps_its_end_open_is_let_go_after_the_linger(
    workers: Workers, short_linger: None, server_log: ServerLog
) -> None:
    worker = workers(header_timeout=0.05)
    client = workers.connect(worker)
    client.sendall(b"GET / HTTP/1.1\r\nHost: bro")
    assert client.answer()[0] == "HTTP/1.1 408 Request Timeout"
    workers.finish()  # the worker lingers on the bare socket, past the header deadline
    assert [record.getMessage() for record in server_log] == [
        "refused request_timeout: HeaderTimeout"
    ]


def test_an_idle_kept_alive_connection_is_closed_silently_after_the_keepalive(
    workers: Workers,
) -> None:
    worker = workers(keepalive=0.05)
    client = workers.connect(worker)
    client.sendall(get())
    client.answer()
    assert client.closed()


def test_a_kept_alive_request_must_complete_within_the_header_timeout(workers: Workers) -> None:
    worker = workers(header_timeout=0.1, keepalive=NEVER)
    client = workers.connect(worker)
    client.sendall(get())
    client.answer()
    gevent.sleep(0.15)  # an idle wait longer than the header timeout is fine
    client.sendall(b"GET /slow HTTP/1.1\r\n")
    status_line, _, body = client.answer()
    assert status_line == "HTTP/1.1 408 Request Timeout"
    assert json.loads(body)["error"] == "request_timeout"


def test_a_pipelined_partial_request_gets_the_header_timeout_not_the_keepalive(
    workers: Workers,
) -> None:
    worker = workers(header_timeout=0.05, keepalive=NEVER)
    client = workers.connect(worker)
    client.sendall(get("/a") + b"GET /b HTTP/1.1\r\nHo")
    assert json.loads(client.answer()[2]) == {"path": "/a"}
    assert client.answer()[0] == "HTTP/1.1 408 Request Timeout"


class Held:
    """A WSGI app whose requests wait until released."""

    def __init__(self) -> None:
        self.release = gevent.event.Event()
        self.started = 0

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        self.started += 1
        self.release.wait()
        return hello(environ, start_response)


def test_a_request_over_the_in_flight_bound_is_refused_503_without_the_app(
    workers: Workers, server_log: ServerLog
) -> None:
    app = Held()
    worker = workers(app, max_in_flight=1)
    first = workers.connect(worker)
    first.sendall(get("/first"))
    gevent.sleep(0.01)
    second = workers.connect(worker)
    second.sendall(get("/second"))
    status_line, headers, body = second.answer()
    assert status_line == "HTTP/1.1 503 Service Unavailable"
    assert headers["retry-after"] == "1"
    assert json.loads(body)["error"] == "overloaded"
    assert second.closed()
    assert app.started == 1
    assert (
        server_log.only()
        .getMessage()
        .startswith("refused overloaded: the worker holds BROKER_MAX_IN_FLIGHT requests already")
    )
    app.release.set()
    assert json.loads(first.answer()[2]) == {"path": "/first"}
    third = workers.connect(worker)
    third.sendall(get("/third"))
    assert third.answer()[0] == "HTTP/1.1 200 OK"  # the first request's place was freed


def test_a_request_that_fails_in_the_app_frees_its_place(workers: Workers) -> None:
    def failing(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        if environ["PATH_INFO"] == "/fail":
            raise RuntimeError("the app failed")
        return hello(environ, start_response)

    worker = workers(failing, max_in_flight=1)
    client = workers.connect(worker)
    client.sendall(get("/fail"))
    status_line, headers, body = client.answer()
    assert status_line == "HTTP/1.1 500 Internal Server Error"
    assert headers["content-type"] == "application/json"
    assert json.loads(body)["error"] == "internal_error"
    assert client.closed()
    again = workers.connect(worker)
    again.sendall(get("/ok"))
    assert again.answer()[0] == "HTTP/1.1 200 OK"


@pytest.mark.parametrize(
    ("request_bytes", "status_line", "code"),
    [
        (b"NOT HTTP AT ALL\r\n\r\n", "HTTP/1.1 400 Bad Request", "bad_request"),
        (
            b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: b\r\n\r\n",
            "HTTP/1.1 414 URI Too Long",
            "request_uri_too_large",
        ),
        (
            b"GET / HTTP/1.1\r\nHost: b\r\n"
            + b"".join(b"X-%d: y\r\n" % i for i in range(200))
            + b"\r\n",
            "HTTP/1.1 431 Request Header Fields Too Large",
            "request_header_fields_too_large",
        ),
        (
            b"POST / HTTP/1.1\r\nHost: b\r\nExpect: teapot\r\nContent-Length: 1\r\n\r\nx",
            "HTTP/1.1 417 Expectation Failed",
            "expectation_failed",
        ),
        (
            b"POST / HTTP/1.1\r\nHost: b\r\nTransfer-Encoding: br, chunked\r\n\r\n",
            "HTTP/1.1 501 Not Implemented",
            "not_implemented",
        ),
    ],
    ids=["garbage", "long-uri", "many-headers", "expect", "transfer-coding"],
)
def test_a_request_the_parser_refuses_is_answered_in_the_json_shape(
    workers: Workers, request_bytes: bytes, status_line: str, code: str
) -> None:
    worker = workers()
    client = workers.connect(worker)
    client.sendall(request_bytes)
    answered, headers, body = client.answer()
    assert answered == status_line
    assert headers["connection"] == "close"
    assert json.loads(body)["error"] == code
    assert client.closed()


def test_a_full_worker_sheds_the_connection_that_waited_longest(workers: Workers) -> None:
    worker = workers()
    oldest = workers.connect(worker)
    newer = workers.connect(worker)
    worker.shed_one()
    assert oldest.closed()
    newer.sendall(get())
    assert newer.answer()[0] == "HTTP/1.1 200 OK"


def test_a_connection_that_was_served_waits_behind_the_ones_that_never_were(
    workers: Workers,
) -> None:
    worker = workers()
    served = workers.connect(worker)
    never = workers.connect(worker)
    served.sendall(get())
    served.answer()
    gevent.sleep(0.01)  # the served connection waits for its next request
    worker.shed_one()
    assert never.closed()
    served.sendall(get())
    assert served.answer()[0] == "HTTP/1.1 200 OK"
    worker.shed_one()
    assert served.closed()


def test_a_request_being_served_is_never_shed(workers: Workers) -> None:
    app = Held()
    worker = workers(app)
    client = workers.connect(worker)
    client.sendall(get("/busy"))
    gevent.sleep(0.01)
    worker.shed_one()  # nothing waits: nothing to shed
    app.release.set()
    assert json.loads(client.answer()[2]) == {"path": "/busy"}


def test_a_connection_that_ended_is_no_longer_waiting(workers: Workers) -> None:
    worker = workers(header_timeout=0.05)
    client = workers.connect(worker)
    assert client.closed()
    gevent.sleep(0.01)
    assert not worker.waiting
    worker.shed_one()  # nothing to shed is no error


def test_shedding_with_nobody_waiting_does_nothing(workers: Workers) -> None:
    workers().shed_one()


def test_a_connection_ended_by_a_stopping_worker_gets_no_answer(workers: Workers) -> None:
    worker = workers()
    conn, client = workers.held_answer(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n")
    worker.handle_error(None, conn, ADDRESS, gevent.GreenletExit())
    # What gunicorn had written goes out, then the connection closes without a refusal.
    assert client.sock.recv(65536) == b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n"
    assert client.closed()


def test_an_error_after_the_answer_began_sends_what_was_written_first(workers: Workers) -> None:
    worker = workers()
    conn, client = workers.held_answer(b"partial")
    failing = gevent.spawn(worker.handle_error, None, conn, ADDRESS, RuntimeError("late"))
    while b"\r\n\r\n" not in client.buffer:
        assert client._more()
    assert client.buffer.startswith(b"partialHTTP/1.1 500 Internal Server Error\r\n")
    client.sock.close()  # the refused client goes: the worker stops lingering
    failing.get(timeout=5)


@pytest.mark.parametrize("stop", [SystemExit(0), gevent.GreenletExit()])
def test_a_bare_socket_of_a_stopping_worker_is_closed_without_an_answer(
    workers: Workers, stop: BaseException
) -> None:
    worker = workers()
    ours, client = gevent.socket.socketpair()
    workers.sockets += [ours, client]
    worker.handle_error(None, ours, ADDRESS, stop)
    assert Client(client).closed()


def test_an_error_on_a_bare_socket_is_answered_in_the_json_shape(
    workers: Workers, server_log: ServerLog
) -> None:
    worker = workers()
    ours, client = gevent.socket.socketpair()
    workers.sockets += [ours, client]
    failing = gevent.spawn(worker.handle_error, None, ours, ADDRESS, ValueError("bad"))
    status_line, _, body = Client(client).answer()
    assert status_line == "HTTP/1.1 500 Internal Server Error"
    assert json.loads(body)["error"] == "internal_error"
    client.close()
    failing.get(timeout=5)
    assert server_log.only().getMessage() == "server error ValueError before the app answered"


def test_an_error_is_answered_even_when_the_held_answer_cannot_leave(
    workers: Workers, server_log: ServerLog
) -> None:
    worker = workers()
    conn, client = workers.held_answer(b"HTTP/1.1 200 OK\r\n\r\n")
    client.sock.close()  # the client is gone: the held block cannot be sent
    worker.handle_error(None, conn, ADDRESS, RuntimeError("late"))
    assert [record.getMessage() for record in server_log] == [
        "server error RuntimeError before the app answered",
        "could not send the 500 refusal",
    ]


def test_a_refused_client_that_keeps_its_end_open_is_let_go_after_the_linger(
    workers: Workers, short_linger: None
) -> None:
    worker = workers()
    ours, client = gevent.socket.socketpair()
    workers.sockets += [ours, client]
    failing = gevent.spawn(worker.handle_error, None, ours, ADDRESS, ValueError("bad"))
    Client(client).answer()  # and never closes
    failing.join(timeout=1)
    assert failing.dead


def test_a_client_refused_for_overload_is_let_go_after_the_linger(
    workers: Workers, short_linger: None
) -> None:
    app = Held()
    worker = workers(app, max_in_flight=1)
    busy = workers.connect(worker)
    busy.sendall(get("/busy"))
    gevent.sleep(0.01)
    refused = workers.connect(worker)
    refused.sendall(get("/refused"))
    assert refused.answer()[0] == "HTTP/1.1 503 Service Unavailable"
    refused_greenlet = workers.greenlets[-1]
    refused_greenlet.join(timeout=1)  # the refused client never closes its end
    assert refused_greenlet.dead
    assert refused_greenlet.exception is None
    app.release.set()


def test_a_connection_shed_with_its_next_request_already_read_ends_without_an_error(
    workers: Workers, server_log: ServerLog
) -> None:
    served: list[str] = []

    def recording(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        served.append(environ["PATH_INFO"])
        return hello(environ, start_response)

    worker = workers(recording)

    def shed_when_it_waits_again() -> None:
        while not (served and worker.waiting):
            gevent.sleep(0)
        worker.shed_one()

    shedder = gevent.spawn(shed_when_it_waits_again)
    client = workers.connect(worker)
    # Two requests in one write: the second is read with the first. Between them the worker
    # yields with the connection waiting, and it is shed then.
    client.sendall(get("/a") + get("/b"))
    shedder.join(timeout=5)
    assert client.answer()[0] == "HTTP/1.1 200 OK"
    client.sock.close()
    workers.finish()
    assert served[0] == "/a"
    assert [record.getMessage() for record in server_log if record.levelno >= 40] == []
