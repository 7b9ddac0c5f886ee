"""Everything the Mindset client relies on in ``requests`` and ``urllib3`` beyond their
documented APIs, in one place (``tests/test_library_contracts.py`` checks each on the pinned
versions): the adapter it mounts, whose urllib3 connections the deadline watchdog
(:mod:`.deadline`) can cut off; the POST prepared once and sent straight to that adapter
(:func:`send_prepared`); and the streamed response's socket and body countdown
(:func:`response_socket`).

Each connection keeps a handle on its socket from the moment it connects, and tells the
watchdog which attempt it serves each time it sends a request. Nothing else changes: pool
sizes, proxies and TLS settings are ``requests``' own. Retries are off (``max_retries=0``):
urllib3 would otherwise send the POST again by itself on a dropped connection, and whether to
repeat a call is the broker's decision (:mod:`flask_token_broker.resilience.retries`).

What ``HTTPAdapter.send`` works out afresh for every request, although the broker sends the
same request to the same host with the same settings each time, is worked out once here and
kept: the connection pool for the URL and TLS settings (a URL parse, proxy selection and a
pool-key normalisation per call), the CA-bundle checks of ``cert_verify`` (two ``stat`` calls
per HTTPS call) and the path to request (another URL parse and proxy selection). Each is kept
for one key only, the last one asked for, and worked out again whenever the URL, ``verify``,
``cert`` or proxies change or the pool has been closed. The vendor's cookies are not parsed
into the response: the broker never sends them back (bench/client_cost.py measures each).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Any, cast

import requests
from requests import PreparedRequest, Response
from requests.adapters import BaseAdapter, HTTPAdapter
from requests.structures import CaseInsensitiveDict
from requests.utils import get_encoding_from_headers
from urllib3 import HTTPConnectionPool, HTTPSConnectionPool, PoolManager
from urllib3 import poolmanager as urllib3_poolmanager
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import ConnectionPool

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

    # (what it was worked out for, the result): one entry each, replaced as a whole, so a
    # concurrent call sees either the old entry or the new one, never half of one. Declared on
    # the class so that an adapter requests rebuilds (unpickled) starts with none.
    _pool_for: tuple[Hashable, HTTPConnectionPool] | None = None
    _verified_for: tuple[Any, ...] | None = None
    _url_for: tuple[Hashable, str] | None = None

    def __init__(self, pool_size: int) -> None:
        super().__init__(
            # One vendor host: the number of pools kept is no behaviour.
            pool_connections=4,  # pragma: no mutate
            pool_maxsize=pool_size,
            # requests' default too, stated because urllib3 re-sending a POST is the hazard.
            max_retries=0,  # pragma: no mutate
        )

    def get_connection_with_tls_context(
        self,
        request: PreparedRequest,
        verify: bool | str | None,
        proxies: Mapping[str, str] | None = None,
        cert: tuple[str, str] | str | None = None,
    ) -> ConnectionPool:
        key = (request.url, verify, cert, _frozen(proxies))
        kept = self._pool_for
        # A pool the manager has closed (evicted, or the adapter closed) has no connections
        # list left: it is never handed out again, a fresh one is asked for.
        if kept is not None and kept[0] == key and kept[1].pool is not None:
            return kept[1]
        pool = super().get_connection_with_tls_context(request, verify, proxies, cert)
        if isinstance(pool, HTTPConnectionPool):  # every pool urllib3 makes for http(s)
            self._pool_for = (key, pool)
        return pool

    def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
        # The same pool, URL and settings as the last call: requests would check the same
        # files exist and set the same attributes on the pool again.
        key = (conn, url, verify, cert)
        if self._verified_for == key:
            return
        super().cert_verify(conn, url, verify, cert)  # type: ignore[no-untyped-call]
        self._verified_for = key

    def request_url(self, request: PreparedRequest, proxies: Mapping[str, str] | None) -> str:
        key = (request.url, _frozen(proxies))
        kept = self._url_for
        if kept is not None and kept[0] == key:
            return kept[1]
        url = super().request_url(request, proxies)
        self._url_for = (key, url)
        return url

    def build_response(self, req: PreparedRequest, resp: Any) -> Response:
        """``HTTPAdapter.build_response`` without parsing the vendor's cookies into a jar
        (``http.cookiejar`` on every answer): the broker never sends a vendor cookie back."""
        response = Response()
        response.status_code = resp.status
        response.headers = CaseInsensitiveDict(resp.headers)
        response.encoding = get_encoding_from_headers(response.headers)
        response.raw = resp
        response.reason = resp.reason
        # A prepared request's URL is a str (requests decodes a bytes URL when preparing it).
        response.url = req.url  # type: ignore[assignment]
        response.request = req
        response.connection = self
        return response

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        # kwargs is requests' "block=False", urllib3's default as well.
        super().init_poolmanager(*args, **kwargs)  # pragma: no mutate
        _watch(self.poolmanager)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        # requests passes no proxy_kwargs: dropping them is no mutation a test can see.
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)  # pragma: no mutate
        _watch(manager)
        return manager


def _frozen(proxies: Mapping[str, str] | None) -> Hashable:
    return tuple(proxies.items()) if proxies else None


def _watch(manager: PoolManager) -> None:
    # Only managers using urllib3's standard pools: a SOCKS proxy brings its own connections,
    # which keep the per-read timeouts (and gevent's bound) only.
    if manager.pool_classes_by_scheme is urllib3_poolmanager.pool_classes_by_scheme:
        manager.pool_classes_by_scheme = _WATCHED_POOLS


@dataclass(frozen=True)
class PreparedPost:
    """The session's request to the vendor, prepared once: what ``prepare_request`` and
    ``get_adapter`` would give on every call for the same session."""

    url: str
    header_items: list[tuple[str, str]]
    adapter: BaseAdapter


def prepared_post(session: requests.Session, url: str) -> PreparedPost:
    # requests upper-cases the method, so its case is no mutation worth testing.
    post = requests.Request("POST", url)  # pragma: no mutate
    prepared = session.prepare_request(post)
    return PreparedPost(
        # A prepared request's URL is a str: prepare_url always sets one. (cast only informs
        # the type checker.)
        url=cast(str, prepared.url),  # pragma: no mutate
        header_items=list(prepared.headers.items()),
        adapter=session.get_adapter(url),
    )


def settle_environment(session: requests.Session, url: str) -> None:
    """Read proxy and CA-bundle variables once, not on every call.

    With ``trust_env`` on, ``requests`` re-reads the proxy variables, the no-proxy list and
    ``~/.netrc`` for every request: a measurable share of a worker's CPU per token (see
    bench/RESULTS.md). The same settings apply, fixed at start-up; ``.netrc`` credentials are
    never wanted here (the vendor authenticates by API key).
    """
    if not session.trust_env:
        return
    session.proxies.update(requests.utils.get_environ_proxies(url))
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if bundle and session.verify is True:
        session.verify = bundle
    session.trust_env = False


def send_prepared(
    template: PreparedPost,
    session: requests.Session,
    payload: bytes,
    timeout: tuple[float, float],
) -> requests.Response:
    """POST ``payload`` along ``template`` through the session's adapter.


    The request goes straight to the session's adapter: ``Session.send`` would read a
    redirect's whole body, unbounded, even with ``allow_redirects=False`` (to offer the
    next request), and merges the session's headers, cookies, hooks and settings into a
    new request on every call, about a quarter of this client's CPU per token
    (bench/RESULTS.md). The request is prepared once, from the session as it is on the
    first call; each call fills a bare ``PreparedRequest`` with that URL and those headers
    plus the body and its length, which is all ``prepare_body`` would add for bytes (its
    ``copy`` would also copy a cookie jar and hooks no adapter reads). Proxies and TLS
    settings still come from the session; a redirect comes back as it is, for
    :meth:`_attempt` to refuse.
    """
    prepared = requests.PreparedRequest()
    prepared.method = "POST"
    prepared.url = template.url
    prepared.headers = CaseInsensitiveDict(template.header_items)
    # Header names are case-insensitive: the name's case is no behaviour.
    prepared.headers["Content-Length"] = str(len(payload))  # pragma: no mutate (name case)
    prepared.body = payload
    verify = session.verify
    # A test or the sandbox may mount its own adapter: the session's, as of the first call.
    return template.adapter.send(
        prepared,
        timeout=timeout,
        stream=True,
        proxies=session.proxies,
        # requests reads None as "do not check": certificates are always checked here.
        verify=True if verify is None else verify,
        cert=session.cert,
    )


def response_socket(raw: Any) -> Any:
    """The socket under a streamed urllib3 response (a gevent socket under gevent), so each
    read gets only the time left; ``None`` when there is none to reach."""
    return getattr(getattr(raw, "connection", None), "sock", None)
