"""The broker's gevent worker running and stopping in-process (``GeventWorker.run``).

The worker runs as in a gunicorn worker process, but in the test's: its listeners are gevent
sockets on loopback, nothing patches the standard library, and the heartbeat interval and
the stop timeout are shortened. ``test_reload_processes.py`` and ``test_slow_clients.py`` prove
the same through gunicorn.

Careless changes these tests catch: a worker that no longer tells the master it is alive (the
master kills it as stuck), a listener left unserved, a full pool that stops accepting instead
of shedding the longest-waiting connection, several workers no longer taking connections in
bursts of ACCEPT_BURST, a stopping worker that keeps accepting,
keeps idle connections open until their keep-alive runs out, cuts the requests it holds before
the graceful timeout, or holds them past it.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator
from typing import Any

import gevent
import gevent.event
import gevent.socket
import pytest
from gunicorn.config import Config

from serving import gevent_worker, settings
from serving.accepting import ACCEPT_BURST
from serving.gevent_worker import GeventWorker
from serving.settings import read_server_settings


class Log:
    def __init__(self) -> None:
        self.warnings: list[str] = []

    def warning(self, message: str, *args: Any) -> None:
        self.warnings.append(message % args)

    def __getattr__(self, level: str) -> Callable[..., None]:
        return lambda *args, **kwargs: None


class Held:
    """A WSGI app whose requests to /held wait until released."""

    def __init__(self) -> None:
        self.release = gevent.event.Event()
        self.holding = 0

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        if environ["PATH_INFO"] == "/held":
            self.holding += 1
            self.release.wait()
        start_response("200 OK", [("Content-Length", "2")])
        return [b"ok"]


class Running:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(gevent_worker, "NOTIFY_INTERVAL", 0.01)
        monkeypatch.setattr(gevent_worker, "STOP_TIMEOUT", 0.05)
        monkeypatch.setattr(settings, "_accepted", read_server_settings({}))
        self.app = Held()
        self.clients: list[Any] = []
        self.worker: GeventWorker | None = None
        self.run: gevent.Greenlet | None = None

    def start(self, listeners: int = 1, **options: Any) -> GeventWorker:
        cfg = Config()
        for name, value in options.items():
            cfg.settings[name].value = value  # as set, even below gunicorn's whole seconds
        sockets = []
        for _ in range(listeners):
            listener = gevent.socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            listener.bind(("127.0.0.1", 0))
            listener.listen(16)
            sockets.append(listener)
        self.worker = GeventWorker(0, os.getppid(), sockets, None, 30, cfg, Log())
        self.worker.wsgi = self.app
        self.run = gevent.spawn(self.worker.run)
        gevent.sleep(0.01)
        return self.worker

    def address(self, index: int = 0) -> tuple[str, int]:
        assert self.worker is not None
        return tuple(self.worker.sockets[index].getsockname())

    def connect(self, index: int = 0) -> Any:
        client = gevent.socket.create_connection(self.address(index))
        self.clients.append(client)
        return client

    def stop(self) -> None:
        assert self.worker is not None
        self.worker.alive = False

    def close(self) -> None:
        self.app.release.set()
        if self.run is not None:
            self.stop()
            self.run.join(timeout=5)
            self.run.kill()
        for client in self.clients:
            client.close()
        if self.worker is not None:
            for listener in self.worker.sockets:
                listener.close()
            self.worker.tmp.close()


@pytest.fixture
def running(monkeypatch: pytest.MonkeyPatch) -> Iterator[Running]:
    started = Running(monkeypatch)
    try:
        with gevent.Timeout(10):
            yield started
    finally:
        started.close()


def get(path: str = "/") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: broker\r\n\r\n".encode()


def answer(client: Any) -> bytes:
    data = b""
    while not data.endswith(b"\r\n\r\nok"):
        chunk = client.recv(65536)
        assert chunk, f"closed before an answer: {data!r}"
        data += chunk
    return data


def closed(client: Any) -> bool:
    return bool(client.recv(65536) == b"")


def test_a_running_worker_serves_every_listener(running: Running) -> None:
    running.start(listeners=2)
    for index in (0, 1):
        client = running.connect(index)
        client.sendall(get())
        assert answer(client).startswith(b"HTTP/1.1 200 OK\r\n")


def test_a_running_worker_tells_the_master_it_is_alive(running: Running) -> None:
    worker = running.start()
    os.utime(worker.tmp.fileno(), (0, 0))
    gevent.sleep(0.05)
    assert worker.tmp.last_update() > 0


def test_a_full_worker_sheds_its_longest_waiting_connection(running: Running) -> None:
    # The client that fills the worker displaces the one that waited longest, so that a slot
    # is free for the next client.
    running.start(worker_connections=3)
    first, second, third = [running.connect() for _ in range(3) if not gevent.sleep(0.02)]
    gevent.sleep(0.02)
    assert closed(first)
    third.sendall(get())
    assert answer(third).startswith(b"HTTP/1.1 200 OK\r\n")
    second.sendall(get())
    assert answer(second).startswith(b"HTTP/1.1 200 OK\r\n")


@pytest.mark.parametrize(("workers", "burst"), [(1, 100), (2, ACCEPT_BURST)])
def test_several_workers_take_connections_in_short_bursts(
    running: Running, workers: int, burst: int
) -> None:
    worker = running.start(workers=workers)
    assert [server.max_accept for server in worker.servers] == [burst]


def test_a_stopping_worker_closes_its_idle_connections_at_once(running: Running) -> None:
    running.start(keepalive=60)
    client = running.connect()
    client.sendall(get())
    answer(client)
    running.stop()
    with gevent.Timeout(1):
        assert closed(client)
    assert running.run is not None
    running.run.join(timeout=1)
    assert running.run.dead
    assert running.run.exception is None


def test_a_stopping_worker_accepts_no_new_connection(running: Running) -> None:
    running.start()
    address = running.address()
    running.stop()
    assert running.run is not None
    running.run.join(timeout=1)
    with pytest.raises(ConnectionRefusedError):
        gevent.socket.create_connection(address, timeout=1)


def test_a_stopping_worker_finishes_the_requests_it_holds(running: Running) -> None:
    running.start(graceful_timeout=5)
    client = running.connect()
    client.sendall(get("/held"))
    gevent.sleep(0.02)
    running.stop()
    gevent.sleep(0.05)
    assert running.run is not None
    assert not running.run.dead
    running.app.release.set()
    assert answer(client).startswith(b"HTTP/1.1 200 OK\r\n")
    running.run.join(timeout=1)
    assert running.run.dead
    assert running.worker is not None
    assert running.worker.log.warnings == []


def test_a_request_held_past_the_graceful_timeout_is_cut(running: Running) -> None:
    worker = running.start(graceful_timeout=0.1)
    client = running.connect()
    client.sendall(get("/held"))
    gevent.sleep(0.02)
    running.stop()
    assert running.run is not None
    running.run.join(timeout=1)
    assert running.run.dead
    assert worker.log.warnings == [f"Worker graceful timeout (pid:{worker.pid})"]
    assert closed(client)
