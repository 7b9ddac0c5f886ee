"""A small ``requests``-based client for Mindset's user-token endpoints.

One :class:`requests.Session` per client (so one connection pool per worker process), a
``(connect, read)`` timeout on every call, the whole attempt bounded by its deadline, no
redirect ever followed, and every ``requests`` failure translated into the
:mod:`.errors` tree at this boundary. The client knows nothing of Flask, sessions
or browsers: it turns an :class:`~.vendor_api.AuthRequest` into an ``authToken`` or an
exception.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

import requests
import urllib3

from .answers import token_in
from .deadline import AttemptOverrun, whole_attempt_bound
from .errors import (
    MindsetError,
    MindsetRejected,
    MindsetTimeout,
    MindsetUnavailable,
)
from .transport import (
    PreparedPost,
    WatchedAdapter,
    prepared_post,
    send_prepared,
    settle_environment,
)
from .vendor_api import AuthRequest, endpoint_for

log = logging.getLogger("broker.mindset")

USER_AGENT = "mindset-token-broker/1.0"
# Compact JSON, as json.dumps(..., separators=(",", ":")) writes it, from one encoder:
# json.dumps with any option builds a new encoder on every call.
_ENCODE_JSON = json.JSONEncoder(separators=(",", ":")).encode

# Told of every attempt: (outcome, HTTP status or None, seconds taken).
AttemptObserver = Callable[[str, "int | None", float], None]


class MindsetClient:
    """Mints user tokens from one Mindset app."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        app_uid: str,
        *,
        # The operator's settings (MINDSET_API_FLAVOR, MINDSET_*_TIMEOUT, MINDSET_POOL_SIZE):
        # config.py declares their defaults, so none is restated here.
        flavor: str,
        connect_timeout: float,
        read_timeout: float,
        pool_size: int,
        session: requests.Session | None = None,
        observer: AttemptObserver | None = None,
    ) -> None:
        self.endpoint = endpoint_for(flavor)
        self.flavor = flavor
        self.observer = observer
        self.timeout = (connect_timeout, read_timeout)
        self.url = self.endpoint.url(base_url, app_uid)
        self.session = session or requests.Session()
        # What every request repeats (URL, headers, adapter), prepared at the first call: see
        # _post.
        self._template: PreparedPost | None = None
        settle_environment(self.session, self.url)
        # Sized for the worker's concurrency, so concurrent calls reuse kept-alive connections
        # instead of opening (and throwing away) one each. Retries are the caller's decision.
        adapter = WatchedAdapter(pool_size)
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)
        self.session.headers.update(
            {
                "Content-Type": "application/json",
                "Accept": "application/json",
                # Header names are case-insensitive (the value is pinned by a test).
                "User-Agent": USER_AGENT,  # pragma: no mutate
                "x-api-key": api_key,
                # Uncompressed: each body read below is then exactly one bounded socket read.
                # Names and codings are case-insensitive; the value is pinned by a test.
                "Accept-Encoding": "identity",  # pragma: no mutate
            }
        )

    def body_for(self, request: AuthRequest) -> dict[str, Any]:
        """The JSON body the vendor documents for this flavor."""
        return self.endpoint.body(request)

    def authenticate(self, request: AuthRequest, *, deadline: float | None = None) -> str:
        """Return the vendor's ``authToken`` for this user, or raise a ``MindsetError``.

        One attempt, over by ``deadline`` (a ``time.monotonic()`` instant; by default the
        connect plus read timeout from now) whatever the vendor does: the timeouts shrink to
        the time left and the whole attempt is cut off at the deadline (:mod:`.deadline`), so
        a vendor that drips its answer byte by byte cannot stretch a read timeout into
        minutes. Only a 2xx body is read, at most :data:`MAX_BODY_BYTES` of it; a redirect
        is refused, never followed.
        """
        payload = _ENCODE_JSON(self.body_for(request)).encode()
        started = time.perf_counter()
        if deadline is None:
            deadline = time.monotonic() + sum(self.timeout)
        try:
            status, token = self._attempt(payload, deadline)
        except MindsetError as error:
            self._log_attempt(started, type(error).__name__, error.status)
            raise
        self._log_attempt(started, "ok", status)
        return token

    def _attempt(self, payload: bytes, deadline: float) -> tuple[int, str]:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise MindsetTimeout("no time left for a Mindset call", phase="deadline")
        connect, read = self.timeout
        timeout = (min(connect, remaining), min(read, remaining))
        try:
            with whole_attempt_bound(deadline):
                response = self._post(payload, timeout)
                try:
                    token = token_in(response, deadline)
                finally:
                    response.close()
        except AttemptOverrun:
            raise MindsetTimeout(
                f"Mindset did not answer completely within the {remaining:.2f} s left",
                phase="deadline",
            ) from None
        except requests.exceptions.ConnectTimeout as exc:
            raise MindsetTimeout(
                f"Mindset did not accept a connection within {timeout[0]:g} s", phase="connect"
            ) from exc
        except (requests.exceptions.Timeout, urllib3.exceptions.TimeoutError) as exc:
            raise MindsetTimeout(f"Mindset did not answer within {timeout[1]:g} s") from exc
        except (requests.exceptions.SSLError, urllib3.exceptions.SSLError) as exc:
            # A certificate or TLS problem will not fix itself on retry: it is configuration.
            raise MindsetRejected(
                "TLS with Mindset failed; check MINDSET_API_HOST and the CA bundle", status=0
            ) from exc
        except (requests.exceptions.RequestException, urllib3.exceptions.HTTPError) as exc:
            raise MindsetUnavailable(
                f"could not reach Mindset ({type(exc).__name__}); check MINDSET_API_HOST "
                "and the network"
            ) from exc
        return response.status_code, token

    def _post(self, payload: bytes, timeout: tuple[float, float]) -> requests.Response:
        """``session.post(url, data=payload, stream=True)`` without following redirects and
        without re-preparing what never changes (:func:`.transport.send_prepared`); a
        redirect comes back as it is, for :meth:`_attempt` to refuse."""
        template = self._template
        if template is None:
            template = self._template = prepared_post(self.session, self.url)
        return send_prepared(template, self.session, payload, timeout)

    def _log_attempt(self, started: float, outcome: str, status: int | None) -> None:
        seconds = time.perf_counter() - started
        log.info(
            "mindset call %s",
            outcome,
            extra={
                "vendor": "mindset",
                "vendor_status": status,
                "vendor_outcome": outcome,
                "vendor_ms": round(seconds * 1000, 1),
            },
        )
        if self.observer is not None:
            self.observer(outcome, status, seconds)
