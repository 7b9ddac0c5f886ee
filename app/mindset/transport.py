"""The ``requests`` adapter the Mindset client mounts: urllib3 connections the deadline
watchdog (:mod:`.deadline`) can cut off.

Each connection keeps a handle on its socket from the moment it connects, and tells the
watchdog which attempt it serves each time it sends a request. Nothing else changes: pool
sizes, proxies and TLS settings are ``requests``' own. Retries are off (``max_retries=0``):
urllib3 would otherwise send the POST again by itself on a dropped connection, and whether to
repeat a call is the broker's decision (:mod:`app.resilience.retries`).
"""

from __future__ import annotations

import socket
from typing import Any

from requests.adapters import HTTPAdapter
from urllib3 import HTTPConnectionPool, HTTPSConnectionPool, PoolManager
from urllib3 import poolmanager as urllib3_poolmanager
from urllib3.connection import HTTPConnection, HTTPSConnection

from .deadline import WATCHDOG


class _WatchedHTTPConnection(HTTPConnection):
    _watch_handle: socket.socket | None = None
    _watch_owner: Any = None

    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        WATCHDOG.adopt(self, sock)
        return sock

    def request(self, *args: Any, **kwargs: Any) -> None:
        WATCHDOG.bind(self)
        super().request(*args, **kwargs)

    def close(self) -> None:
        try:
            super().close()
        finally:
            WATCHDOG.release(self)


class _WatchedHTTPSConnection(_WatchedHTTPConnection, HTTPSConnection):
    pass


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


_WATCHED_POOLS: dict[str, type[HTTPConnectionPool]] = {
    "http": _WatchedHTTPPool,
    "https": _WatchedHTTPSPool,
}


class WatchedAdapter(HTTPAdapter):
    """An :class:`HTTPAdapter` whose connections the deadline watchdog can cut off."""

    def __init__(self, pool_size: int) -> None:
        super().__init__(pool_connections=4, pool_maxsize=pool_size, max_retries=0)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        _watch(self.poolmanager)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        _watch(manager)
        return manager


def _watch(manager: PoolManager) -> None:
    # Only managers using urllib3's standard pools: a SOCKS proxy brings its own connections,
    # which keep the per-read timeouts (and gevent's bound) only.
    if manager.pool_classes_by_scheme is urllib3_poolmanager.pool_classes_by_scheme:
        manager.pool_classes_by_scheme = _WATCHED_POOLS
