"""A small ``requests``-based client for Mindset's user-token endpoints.

One :class:`requests.Session` per client (so one connection pool per worker process), a
``(connect, read)`` timeout on every call, and every ``requests`` failure translated into the
:mod:`app.mindset.errors` tree at this boundary. The client knows nothing of Flask, sessions
or browsers: it turns an :class:`AuthRequest` into an ``authToken`` or an exception.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from .errors import (
    MindsetBadResponse,
    MindsetError,
    MindsetRejected,
    MindsetTimeout,
    MindsetUnavailable,
    error_for_status,
)

log = logging.getLogger("broker.mindset")

FLAVOR_SDK3 = "sdk3"
FLAVOR_LEGACY = "legacy"

# A token is a short credential; anything longer is not one.
MAX_TOKEN_LENGTH = 16_384
USER_AGENT = "mindset-token-broker/1.0"

# Told of every attempt: (outcome, HTTP status or None, seconds taken).
AttemptObserver = Callable[[str, "int | None", float], None]


@dataclass(frozen=True)
class AuthRequest:
    """What identifies a user to Mindset. Exactly one of the two identifiers is set."""

    external_id: str | None = None
    user_email: str | None = None
    name: str | None = None
    account_uids: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if (self.external_id is None) == (self.user_email is None):
            raise ValueError("exactly one of external_id and user_email must be set")


class MindsetClient:
    """Mints user tokens from one Mindset app."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        app_uid: str,
        *,
        flavor: str = FLAVOR_SDK3,
        connect_timeout: float = 3.05,
        read_timeout: float = 5.0,
        pool_size: int = 256,
        session: requests.Session | None = None,
        observer: AttemptObserver | None = None,
    ) -> None:
        if flavor not in (FLAVOR_SDK3, FLAVOR_LEGACY):
            raise ValueError(f"unknown Mindset API flavor {flavor!r}")
        self.flavor = flavor
        self.observer = observer
        self.timeout = (connect_timeout, read_timeout)
        if flavor == FLAVOR_SDK3:
            self.url = f"{base_url}/api/v1/appuid/{app_uid}/sdkusers/auth"
        else:
            self.url = f"{base_url}/api-authenticate-embedded-user"
        self.session = session or requests.Session()
        self._template: requests.PreparedRequest | None = None
        _settle_environment(self.session, self.url)
        # Sized for the worker's concurrency, so concurrent calls reuse kept-alive connections
        # instead of opening (and throwing away) one each. Retries are the caller's decision.
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size, max_retries=0)
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)
        self.session.headers.update(
            {
                "Content-Type": "application/json",
                "Accept": "application/json",
                "User-Agent": USER_AGENT,
                "x-api-key": api_key,
            }
        )

    def body_for(self, request: AuthRequest) -> dict[str, Any]:
        """The JSON body the vendor documents for this flavor."""
        if self.flavor == FLAVOR_LEGACY:
            if request.user_email is None:
                raise ValueError("the legacy endpoint identifies users by email only")
            legacy: dict[str, Any] = {"userEmail": request.user_email}
            if request.account_uids:
                legacy["addToAccounts"] = [{"accountUid": uid} for uid in request.account_uids]
            return legacy
        body: dict[str, Any] = (
            {"externalId": request.external_id}
            if request.external_id is not None
            else {"userEmail": request.user_email}
        )
        if request.name:
            body["name"] = request.name
        if request.account_uids:
            body["accountUids"] = list(request.account_uids)
        return body

    def authenticate(self, request: AuthRequest) -> str:
        """Return the vendor's ``authToken`` for this user, or raise a ``MindsetError``."""
        payload = json.dumps(self.body_for(request), separators=(",", ":")).encode()
        started = time.perf_counter()
        try:
            response = self._post(payload)
            token = self._token_from(response)
        except MindsetError as error:
            self._log_attempt(started, type(error).__name__, getattr(error, "status", None))
            raise
        except requests.exceptions.Timeout as exc:
            self._log_attempt(started, "MindsetTimeout", None)
            raise MindsetTimeout(f"Mindset did not answer within {self.timeout} s") from exc
        except requests.exceptions.SSLError as exc:
            # A certificate or TLS problem will not fix itself on retry: it is configuration.
            self._log_attempt(started, "MindsetRejected", None)
            raise MindsetRejected(
                "TLS with Mindset failed; check MINDSET_API_HOST and the CA bundle", status=0
            ) from exc
        except requests.exceptions.RequestException as exc:
            self._log_attempt(started, "MindsetUnavailable", None)
            raise MindsetUnavailable(
                f"could not reach Mindset ({type(exc).__name__}); check MINDSET_API_HOST "
                "and the network"
            ) from exc
        self._log_attempt(started, "ok", response.status_code)
        return token

    def _post(self, payload: bytes) -> requests.Response:
        """``session.post(url, data=payload)`` without re-preparing what never changes.

        ``Session.post`` merges the session's headers, cookies, hooks and settings into a new
        request on every call, about a quarter of this client's CPU per token (bench/RESULTS.md).
        The request is prepared once, from the session as it is on the first call; each call
        copies it and sets the body. Proxies and TLS settings still come from the session.
        """
        if self._template is None:
            self._template = self.session.prepare_request(requests.Request("POST", self.url))
        prepared = self._template.copy()
        prepared.prepare_body(payload, None)
        return self.session.send(
            prepared,
            timeout=self.timeout,
            proxies=self.session.proxies,
            verify=self.session.verify,
            cert=self.session.cert,
        )

    def _token_from(self, response: requests.Response) -> str:
        if not 200 <= response.status_code < 300:
            raise error_for_status(response.status_code, response.headers.get("Retry-After"))
        try:
            data = json.loads(response.content)
        except ValueError:
            raise MindsetBadResponse(
                f"Mindset answered HTTP {response.status_code} with a body that is not JSON; "
                "check MINDSET_API_HOST points at the Mindset API"
            ) from None
        token = data.get("authToken") if isinstance(data, dict) else None
        if not isinstance(token, str) or not 0 < len(token) <= MAX_TOKEN_LENGTH:
            raise MindsetBadResponse(
                f"Mindset answered HTTP {response.status_code} without a usable authToken"
            )
        if not token.isprintable() or token != token.strip():
            raise MindsetBadResponse("Mindset's authToken holds unprintable characters")
        return token

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


def _settle_environment(session: requests.Session, url: str) -> None:
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
