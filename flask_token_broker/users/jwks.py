"""Fetching the identity provider's keys (``BROKER_JWKS_URL``): no redirect, a bounded body.

PyJWT's :class:`jwt.PyJWKClient` caches the key set and refetches it when a token names an
unknown ``kid``; only its fetch is replaced here. The broker never follows a redirect (keys
would be taken from wherever a 3xx points; :mod:`..redirects` names its host in the log) and
never reads more than :data:`MAX_JWKS_BYTES`, nor for longer than the timeout in all: a key
set is a few kilobytes, and an endpoint sending more, or slower, is not one to trust.

An outage of the provider costs it at most one fetch per worker per cooldown
(``BROKER_JWKS_REFRESH_COOLDOWN``): one fetch at a time, and after a failed one no other until
the cooldown has passed.
Meanwhile every request that needs a key fails at once (``503 identity_provider_unavailable``)
instead of waiting for a fetch of its own.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
import urllib.request
from http.client import HTTPException, HTTPResponse
from typing import Any
from urllib.error import HTTPError, URLError

import jwt

from ..redirects import redirect_target

log = logging.getLogger("broker.users")

# Providers publish a handful of keys, each under 2 KiB; this leaves room for dozens.
MAX_JWKS_BYTES = 256 * 1024
# PyJWKClient's own default cooldown, and the least time a failed fetch keeps others off.
DEFAULT_COOLDOWN = 30.0
MIN_UNAVAILABLE_SECONDS = 1.0


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    """A 3xx becomes an :class:`HTTPError` instead of a second request."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class BoundedJWKClient(jwt.PyJWKClient):
    """:class:`jwt.PyJWKClient` whose fetch follows no redirect, reads a bounded body, runs
    one at a time and, once failed, is not tried again before the cooldown."""

    def __init__(self, uri: str, **options: Any) -> None:
        super().__init__(uri, **options)
        cooldown = float(options.get("cooldown_duration", DEFAULT_COOLDOWN))
        self.unavailable_for = max(MIN_UNAVAILABLE_SECONDS, cooldown)
        # Built with the app, after gevent patched threading: under gevent a cooperative lock.
        self._one_fetch = threading.Lock()
        self._unavailable_until = -math.inf  # never failed

    def fetch_data(self) -> Any:
        with self._one_fetch:
            # "<=" would differ from "<" only at one exact instant.
            if time.monotonic() < self._unavailable_until:  # pragma: no mutate
                # Never shown (users/jwt.py logs the type only): its wording is no behaviour.
                message = "BROKER_JWKS_URL failed moments ago"  # pragma: no mutate
                raise jwt.PyJWKClientConnectionError(message)  # pragma: no mutate
            try:
                return self._fetch()
            except jwt.PyJWKClientConnectionError:
                self._unavailable_until = time.monotonic() + self.unavailable_for
                raise

    def _fetch(self) -> Any:
        # http(s) only: PyJWKClient refuses other schemes, config.py requires https (or http
        # on loopback).
        # The broker passes neither headers nor an SSL context (PyJWKClient's defaults: none);
        # both are kept for PyJWKClient's contract, so no test can tell them from their absence.
        request = urllib.request.Request(url=self.uri, headers=self.headers)  # noqa: S310  # pragma: no mutate
        handlers: list[Any] = [_RefuseRedirects()]
        if self.ssl_context is not None:  # pragma: no mutate
            handlers.append(
                urllib.request.HTTPSHandler(context=self.ssl_context)  # pragma: no mutate
            )
        opener = urllib.request.build_opener(*handlers)
        deadline = time.monotonic() + self.timeout
        try:
            with opener.open(request, timeout=self.timeout) as response:  # nosec B310
                body = _bounded_read(response, deadline)
        except HTTPError as error:
            error.close()
            if 300 <= error.code < 400:
                log.warning(
                    "BROKER_JWKS_URL answered HTTP %s, a redirect to %s, which the broker never "
                    "follows; set BROKER_JWKS_URL to the keys' final address",
                    error.code,
                    redirect_target(error.headers.get("Location")),  # pragma: no mutate - any case
                )
            # The messages raised to PyJWT below are never shown (users/jwt.py logs the
            # exception's type only), so their wording is no behaviour.
            raise jwt.PyJWKClientConnectionError(
                f"BROKER_JWKS_URL answered HTTP {error.code}"  # pragma: no mutate
            ) from None
        except (URLError, TimeoutError, HTTPException, OSError) as error:
            raise jwt.PyJWKClientConnectionError(
                f"could not fetch BROKER_JWKS_URL ({type(error).__name__})"  # pragma: no mutate
            ) from error
        try:
            data = json.loads(body)
        except ValueError:
            # An HTML error page or a login form: the provider (or the URL) is failing, not
            # the user's token, so the caller answers 503 and can retry, as for any outage.
            log.warning("BROKER_JWKS_URL did not answer JSON; it is not a key set")
            raise jwt.PyJWKClientConnectionError(
                "BROKER_JWKS_URL did not answer JSON"  # pragma: no mutate
            ) from None
        # What PyJWT's own fetch does with a good answer: check it, cache it, note the time
        # (the clock of its refresh cooldown for unknown kids; the contract test checks it).
        # (PyJWT's get_jwk_set caches the fetched set again, so the put is no behaviour here.)
        if not isinstance(data, dict):  # PyJWT's own wording, shown nowhere either
            raise jwt.PyJWKClientError(
                "The JWKS endpoint did not return a JSON object"  # pragma: no mutate
            )
        if self.jwk_set_cache is not None:  # pragma: no mutate
            self.jwk_set_cache.put(data)  # pragma: no mutate
        self._last_successful_fetch = time.monotonic()
        return data


def _bounded_read(response: HTTPResponse, deadline: float) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        # ">=" would differ only at the deadline's very instant; the message is never shown.
        if time.monotonic() > deadline:  # pragma: no mutate
            raise TimeoutError(
                "the key set took longer than BROKER_JWKS_TIMEOUT to arrive"  # pragma: no mutate
            )
        chunk = response.read1(MAX_JWKS_BYTES + 1 - size)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > MAX_JWKS_BYTES:
            log.warning(
                "BROKER_JWKS_URL answered more than %d bytes; it is not a key set",
                MAX_JWKS_BYTES,
            )
            raise jwt.PyJWKClientConnectionError(
                "BROKER_JWKS_URL answered an oversized body"  # pragma: no mutate
            )
        chunks.append(chunk)
