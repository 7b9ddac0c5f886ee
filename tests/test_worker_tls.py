"""The broker's gevent worker serving HTTPS in-process when a certificate is configured.

The worker runs as in ``test_worker_lifecycle.py``: in the test's process, on a loopback
gevent listener, with nothing patching the standard library. gunicorn builds the worker's TLS
context from the ``certfile``/``keyfile`` settings through its ``ssl_context`` hook; the
standard library's context only cooperates with gevent in a monkey-patched process (a real
worker's), so here the hook builds the same context from gevent's ``ssl`` module, still from
the configured files. The client is the standard library's, in its own thread, and trusts only
the certificate the test made.

Careless changes these tests catch: a worker that ignores a configured certificate and serves
plain HTTP (or serves nothing) where clients expect HTTPS, one that no longer hands gunicorn's
TLS context to its listeners, and one that builds a TLS context, or insists on one, when no
certificate is configured.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import gevent
import gevent.ssl
import pytest
from gunicorn.config import Config

from .test_worker_lifecycle import Running
from .tls_server import self_signed

# Seconds the client waits for each step: only a broken worker makes it wait this long.
CLIENT_TIMEOUT = 5.0


def cooperative_context(conf: Config, default_factory: Callable[[], ssl.SSLContext]) -> Any:
    """gunicorn's ``ssl_context`` hook: the worker's TLS context, as a monkey-patched worker
    builds it, from the configured certificate and key."""
    context = gevent.ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certfile=conf.certfile, keyfile=conf.keyfile)
    return context


@pytest.fixture
def running(monkeypatch: pytest.MonkeyPatch) -> Iterator[Running]:
    started = Running(monkeypatch)
    try:
        with gevent.Timeout(3 * CLIENT_TIMEOUT):
            yield started
    finally:
        started.close()


def in_a_thread(call: Callable[[], bytes]) -> bytes:
    """Run a blocking client in its own OS thread while the worker serves in this one."""
    return bytes(gevent.get_hub().threadpool.apply(call))


def https_get(address: tuple[str, int], trusted: Path) -> bytes:
    context = ssl.create_default_context(cafile=str(trusted))
    with (
        socket.create_connection(address, timeout=CLIENT_TIMEOUT) as raw,
        context.wrap_socket(raw, server_hostname=address[0]) as tls,
    ):
        tls.sendall(b"GET / HTTP/1.1\r\nHost: broker\r\nConnection: close\r\n\r\n")
        return read_all(tls)


def http_get(address: tuple[str, int]) -> bytes:
    with socket.create_connection(address, timeout=CLIENT_TIMEOUT) as plain:
        plain.sendall(b"GET / HTTP/1.1\r\nHost: broker\r\nConnection: close\r\n\r\n")
        return read_all(plain)


def read_all(conn: socket.socket) -> bytes:
    data = b""
    while chunk := conn.recv(65536):
        data += chunk
    return data


def test_a_worker_with_a_certificate_serves_https(running: Running, tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    running.start(certfile=str(cert), keyfile=str(key), ssl_context=cooperative_context)
    address = running.address()
    data = in_a_thread(lambda: https_get(address, trusted=cert))
    assert data.startswith(b"HTTP/1.1 200 OK\r\n")
    assert data.endswith(b"\r\n\r\nok")


def test_a_worker_without_a_certificate_serves_plain_http(running: Running) -> None:
    running.start(ssl_context=cooperative_context)
    address = running.address()
    data = in_a_thread(lambda: http_get(address))
    assert data.startswith(b"HTTP/1.1 200 OK\r\n")
    assert data.endswith(b"\r\n\r\nok")
