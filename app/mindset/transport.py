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
        super().__init__(
            # One vendor host: the number of pools kept is no behaviour.
            pool_connections=4,  # pragma: no mutate
            pool_maxsize=pool_size,
            # requests' default too, stated because urllib3 re-sending a POST is the hazard.
            max_retries=0,  # pragma: no mutate
        )

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        # kwargs is requests' "block=False", urllib3's default as well.
        super().init_poolmanager(*args, **kwargs)  # pragma: no mutate
        _watch(self.poolmanager)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        # requests passes no proxy_kwargs: dropping them is no mutation a test can see.
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)  # pragma: no mutate
        _watch(manager)
        return manager


def _watch(manager: PoolManager) -> None:
    # Only managers using urllib3's standard pools: a SOCKS proxy brings its own connections,
    # which keep the per-read timeouts (and gevent's bound) only.
    if manager.pool_classes_by_scheme is urllib3_poolmanager.pool_classes_by_scheme:
        manager.pool_classes_by_scheme = _WATCHED_POOLS
