"""What the broker relies on in its libraries beyond their documented APIs, checked on the
pinned versions. Each check fails with the module that relies on it, so an upgrade that
changes one says which code to revisit (and the measured reason for it in bench/RESULTS.md).
"""

from __future__ import annotations

import inspect
import socket
import struct
import time
from collections.abc import Callable
from importlib.metadata import version

import jwt
import pytest
from gevent.pool import Pool
from gevent.server import StreamServer
from gunicorn import util as gunicorn_util
from gunicorn.http import errors as gunicorn_http_errors
from gunicorn.http import message as gunicorn_message
from gunicorn.http import unreader as gunicorn_unreader
from gunicorn.workers import base, base_async, ggevent
from limits.storage import MemoryStorage
from requests.adapters import HTTPAdapter
from urllib3 import HTTPConnectionPool, HTTPSConnectionPool, PoolManager
from urllib3 import poolmanager as urllib3_poolmanager
from urllib3.connection import HTTPConnection
from urllib3.response import HTTPResponse

JWKS = "flask_token_broker/users/jwks.py"
LIMIT_STORAGE = "flask_token_broker/protection/limit_storage.py"
TRANSPORT = "flask_token_broker/mindset/transport.py"
WORKER = "serving/gevent_worker.py"
ACCEPTING = "serving/accepting.py"


def relied_on(adapter: str, library: str, version: str, what: str) -> str:
    return f"{adapter} relies on {library} {version}: {what}; revisit it for this version"


def parameters(function: Callable[..., object]) -> list[str]:
    return list(inspect.signature(function).parameters)


# --- limits: the memory store's private expiry scheduling ------------------------------------


def test_limits_memory_store_schedules_expiry_through_its_private_method() -> None:
    why = relied_on(LIMIT_STORAGE, "limits", version("limits"), "{}")
    for name in ("_MemoryStorage__schedule_expiry", "_MemoryStorage__expire_events"):
        assert callable(getattr(MemoryStorage, name, None)), why.format(f"MemoryStorage.{name}")
    for method in (MemoryStorage.incr, MemoryStorage.acquire_entry):
        source = inspect.getsource(method)
        assert "self.__schedule_expiry()" in source, why.format(
            f"MemoryStorage.{method.__name__} calls __schedule_expiry on each update"
        )
    store = MemoryStorage()
    try:
        assert hasattr(store.timer, "cancel"), why.format("MemoryStorage.timer, a Timer")
    finally:
        store.timer.cancel()


# --- PyJWT: the key-set client's fetch -----------------------------------------------------------


def test_pyjwt_fetches_key_sets_through_the_method_the_broker_replaces() -> None:
    why = relied_on(JWKS, "PyJWT", version("PyJWT"), "{}")
    assert "self.fetch_data()" in inspect.getsource(jwt.PyJWKClient.get_jwk_set), why.format(
        "PyJWKClient.get_jwk_set fetches with self.fetch_data()"
    )
    assert parameters(jwt.PyJWKClient.fetch_data) == ["self"], why.format("fetch_data(self)")
    init = inspect.getsource(jwt.PyJWKClient.__init__)
    for attribute in ("uri", "headers", "timeout", "ssl_context", "jwk_set_cache"):
        assert f"self.{attribute} =" in init, why.format(f"PyJWKClient.{attribute}")
    assert "cooldown_duration" in parameters(jwt.PyJWKClient.__init__), why.format(
        "PyJWKClient(cooldown_duration=...)"
    )


def test_pyjwt_times_its_refresh_cooldown_from_the_last_successful_fetch() -> None:
    why = relied_on(JWKS, "PyJWT", version("PyJWT"), "{}")
    # A replaced fetch_data must note its success where get_signing_key reads it, or every
    # unknown kid would refetch the key set.
    assert "self._last_successful_fetch" in inspect.getsource(jwt.PyJWKClient.get_signing_key), (
        why.format("PyJWKClient.get_signing_key reads _last_successful_fetch")
    )


# --- requests and urllib3: the watched connections and the kept pool ---------------------------


def test_urllib3_pools_build_connections_from_their_class_attribute() -> None:
    why = relied_on(TRANSPORT, "urllib3", version("urllib3"), "{}")
    for pool in (HTTPConnectionPool, HTTPSConnectionPool):
        assert issubclass(pool.ConnectionCls, HTTPConnection), why.format(
            f"{pool.__name__}.ConnectionCls"
        )
    assert parameters(HTTPConnection._new_conn) == ["self"], why.format("HTTPConnection._new_conn")
    assert isinstance(urllib3_poolmanager.pool_classes_by_scheme, dict), why.format(
        "poolmanager.pool_classes_by_scheme"
    )
    manager = PoolManager()
    assert manager.pool_classes_by_scheme is urllib3_poolmanager.pool_classes_by_scheme, why.format(
        "a PoolManager's pool_classes_by_scheme, the module's dict"
    )


@pytest.mark.parametrize(
    ("method", "expected"),
    [
        ("get_connection_with_tls_context", ["self", "request", "verify", "proxies", "cert"]),
        ("cert_verify", ["self", "conn", "url", "verify", "cert"]),
        ("request_url", ["self", "request", "proxies"]),
        ("build_response", ["self", "req", "resp"]),
        ("proxy_manager_for", ["self", "proxy", "proxy_kwargs"]),
    ],
)
def test_requests_adapter_steps_keep_their_signatures(method: str, expected: list[str]) -> None:
    why = relied_on(TRANSPORT, "requests", version("requests"), f"HTTPAdapter.{method}")
    assert parameters(getattr(HTTPAdapter, method)) == expected, why


def test_requests_adapter_send_takes_what_the_client_passes() -> None:
    why = relied_on(TRANSPORT, "requests", version("requests"), "HTTPAdapter.send's parameters")
    expected = ["self", "request", "stream", "timeout", "verify", "cert", "proxies"]
    assert parameters(HTTPAdapter.send) == expected, why


def test_urllib3_responses_expose_the_socket_under_a_streamed_body() -> None:
    why = relied_on(TRANSPORT, "urllib3", version("urllib3"), "{}")
    assert callable(getattr(HTTPResponse, "read1", None)), why.format("HTTPResponse.read1")
    assert "connection" in inspect.signature(HTTPResponse.__init__).parameters, why.format(
        "HTTPResponse(connection=...)"
    )
    assert "sock" in inspect.getsource(HTTPConnection.__init__), why.format("HTTPConnection.sock")


# --- gunicorn and gevent: the worker's hooks ---------------------------------------------------


def test_the_gevent_workers_parent_handles_a_connection() -> None:
    why = relied_on(WORKER, "gunicorn", version("gunicorn"), "{}")
    # GeventWorker.handle calls AsyncWorker.handle past ggevent's own (super(ggevent...)).
    assert ggevent.GeventWorker.__mro__[1] is base_async.AsyncWorker, why.format(
        "GeventWorker derives from AsyncWorker"
    )
    assert "handle" in vars(base_async.AsyncWorker), why.format("AsyncWorker.handle")
    assert parameters(base_async.AsyncWorker.handle) == ["self", "listener", "client", "addr"], (
        why.format("AsyncWorker.handle(listener, client, addr)")
    )
    # timeout_ctx wraps the wait for each kept-alive request: the broker's per-request hook.
    assert "with self.timeout_ctx():" in inspect.getsource(base_async.AsyncWorker.handle), (
        why.format("AsyncWorker.handle waits for each request inside timeout_ctx()")
    )


@pytest.mark.parametrize(
    "name",
    [
        "LimitRequestLine",
        "LimitRequestHeaders",
        "ExpectationFailed",
        "UnsupportedTransferCoding",
        "ConfigurationProblem",
        "ParseException",
    ],
)
def test_the_request_parser_raises_the_errors_the_refusals_name(name: str) -> None:
    why = relied_on(WORKER, "gunicorn", version("gunicorn"), "{}")
    kind = getattr(gunicorn_http_errors, name, None)
    assert isinstance(kind, type), why.format(f"gunicorn.http.errors.{name}")
    assert issubclass(kind, Exception), why.format(f"gunicorn.http.errors.{name} is an Exception")


def test_a_request_shows_the_bytes_its_parser_read_past_it() -> None:
    why = relied_on(WORKER, "gunicorn", version("gunicorn"), "{}")
    assert "self.unreader = unreader" in inspect.getsource(gunicorn_message.Message.__init__), (
        why.format("Message.unreader, the parser's unreader")
    )
    # What the parser read past a request is kept in the unreader's buf (a BytesIO).
    held = gunicorn_unreader.Unreader()
    held.unread(b"GET / HT")
    assert held.buf.getvalue() == b"GET / HT", why.format("Unreader.buf holds unread bytes")


def test_the_workers_run_loop_reads_what_the_broker_reimplements() -> None:
    why = relied_on(WORKER, "gunicorn", version("gunicorn"), "{}")
    init = inspect.getsource(base.Worker.__init__)
    for attribute in ("self.sockets", "self.alive", "self.cfg", "self.log"):
        assert attribute in init, why.format(f"Worker.__init__ sets {attribute}")
    assert callable(getattr(base.Worker, "notify", None)), why.format("Worker.notify")
    for function in ("close", "close_graceful"):
        assert callable(getattr(gunicorn_util, function, None)), why.format(f"util.{function}")
    assert "timeout" in parameters(gunicorn_util.close_graceful), why.format(
        "util.close_graceful(sock, timeout=...)"
    )


def test_gevent_servers_accept_one_connection_on_request() -> None:
    why = relied_on(ACCEPTING, "gevent", version("gevent"), "{}")
    for method in ("do_read", "do_handle"):
        assert callable(getattr(StreamServer, method, None)), why.format(f"StreamServer.{method}")
    assert callable(getattr(Pool, "full", None)), why.format("Pool.full, asked before accepting")


def test_a_listening_sockets_tcp_info_counts_its_accept_queue() -> None:
    """serving/accepting.py reads tcpi_unacked at offset 24 of struct tcp_info (Linux)."""
    why = relied_on(ACCEPTING, "Linux", "", "{}")
    assert hasattr(socket, "TCP_INFO"), why.format("socket.TCP_INFO")
    layout = struct.Struct("=24xI")
    with socket.create_server(("127.0.0.1", 0), backlog=8) as listener:
        clients = [socket.create_connection(listener.getsockname()) for _ in range(3)]
        try:
            deadline = time.monotonic() + 2
            while True:
                info = listener.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, layout.size)
                (queued,) = layout.unpack(info[: layout.size])
                if queued == 3 or time.monotonic() > deadline:
                    break
                time.sleep(0.01)
            assert queued == 3, why.format("tcp_info's tcpi_unacked is a listener's queue")
        finally:
            for client in clients:
                client.close()
