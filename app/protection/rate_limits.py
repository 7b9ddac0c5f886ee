"""Rate limits on the routes that hand out credentials, with Flask-Limiter.

Two limits, both shared by every rate-limited route of the app:

- per signed-in user (``BROKER_RATE_LIMIT``, default 60/minute), keyed by a keyed hash of the
  user id (the raw id never reaches the counter store), skipped when nobody is signed in;
- per client address (``BROKER_RATE_LIMIT_PER_IP``, default 600/minute), counting every
  request, anonymous ones and preflights included, keyed by a keyed hash of the address (as
  users are: addresses are personal data, and Redis is no place for a log of them). The
  address is the socket peer unless ``BROKER_PROXY_HOPS`` trusts that many proxies'
  ``X-Forwarded-For`` (Werkzeug's ``ProxyFix``, applied by the standalone app).

A breach is answered ``429 rate_limited`` in the JSON error shape with ``Retry-After``, before
the view runs, so the vendor is never called. Counters live in memory (per process) or, with
``BROKER_REDIS_URL``, in Redis shared by all instances; if Redis fails, Flask-Limiter falls
back to in-memory counters and checks Redis again with back-off, so the broker keeps serving.

A blueprint opts in with :func:`rate_limited` (or :func:`.cross_site.token_routes`, which
also adds cross-site protection), before it is registered on the app.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import time
from typing import Any, cast

from flask import Blueprint, Flask, Response, current_app, g, request
from flask.blueprints import BlueprintSetupState
from flask_limiter import Limiter, RateLimitExceeded

from config import Settings

from ..errors import error_response
from ..minting.sealing import derive_key
from ..observability import telemetry
from ..observability.logs import note_user
from ..observability.request_ids import assign_request_id
from ..state import Broker, current_broker
from .limit_storage import SweptMemoryStorage

EXTENSION = "broker_rate_limits"
SCOPE_USER = "user"
SCOPE_IP = "ip"
log = logging.getLogger("broker.rate_limits")

# Hex digits of an address's keyed hash in counter keys: far past any chance that two
# addresses share a budget.
ADDRESS_HASH_LENGTH = 32

# Redis for counters must answer fast or be skipped: a token request never waits on it long.
REDIS_OPTIONS: dict[str, str | int] = {"socket_connect_timeout": 1, "socket_timeout": 1}


def client_address() -> str:
    """The caller's address as trusted by ``BROKER_PROXY_HOPS`` (see ``ProxyFix``)."""
    return request.remote_addr or "unknown"


class AddressKey:
    """The per-address limit's key: HMAC-SHA256 of the client address, keyed with a key
    derived from ``SECRET_KEY`` once at start-up, so instances sharing Redis share counters
    and nobody reading Redis without the key learns or can test an address."""

    def __init__(self, secret_key: str) -> None:
        self._key = derive_key(secret_key, "rate-limit addresses")

    def __call__(self) -> str:
        address = client_address().encode("utf-8", "surrogatepass")
        digest = hmac.new(self._key, address, hashlib.sha256).hexdigest()
        return digest[:ADDRESS_HASH_LENGTH]


def _signed_in_user_id() -> str | None:
    if "_rate_limit_user" not in g:
        try:
            user = current_broker().resolve_user()
        except Exception:
            # The view meets the same failure (the answer is kept for the request) and answers
            # it; raised here it would pass for a counter store outage.
            user = None
        g._rate_limit_user = None if user is None else user.id
    user_id: str | None = g._rate_limit_user
    return user_id


def _user_key() -> str:
    return note_user(_signed_in_user_id() or "")


def _nobody_signed_in() -> bool:
    return _signed_in_user_id() is None


def init_rate_limits(app: Flask, broker: Broker) -> Limiter:
    """Create the app's limiter; blueprints marked with :func:`rate_limited` join it."""
    settings = broker.settings
    storage = settings.redis_url or f"{SweptMemoryStorage.STORAGE_SCHEME[0]}://"
    address_key = AddressKey(settings.secret_key)
    limiter = Limiter(
        address_key,
        app=app,
        storage_uri=storage,
        storage_options=REDIS_OPTIONS if settings.redis_url else {},
        # A sliding window kept as two counters per key: nearly as smooth as a moving window,
        # but constant work per request. A moving window keeps one entry per request, and the
        # in-memory store re-copies those lists every 10 ms: at a few hundred requests a
        # second that costs more CPU than minting the token.
        strategy="sliding-window-counter",
        # Redis down must not take token requests down: count in memory meanwhile.
        in_memory_fallback_enabled=True,
        swallow_errors=True,
        key_prefix="broker",
        headers_enabled=False,
    )
    app.extensions[EXTENSION] = _LimitsForApp(limiter, settings, address_key)
    app.register_error_handler(RateLimitExceeded, rate_limited_response)
    if settings.redis_url:
        broker.readiness_checks["rate_limit_storage"] = lambda: _storage_readiness(limiter)
    return limiter


def _storage_readiness(limiter: Limiter) -> tuple[str, dict[str, Any]]:
    """Degraded (never failed) while Redis is unreachable and counters are per process."""
    if limiter._storage_dead:
        return "degraded", {
            "storage": "memory (fallback)",
            "hint": "Redis at BROKER_REDIS_URL is unreachable; limits are per process meanwhile",
        }
    return "ok", {"storage": "redis"}


class _LimitsForApp:
    def __init__(self, limiter: Limiter, settings: Settings, address_key: AddressKey) -> None:
        self.limiter = limiter
        protection = settings.protection
        self.per_user = limiter.shared_limit(
            protection.rate_limit,
            scope=SCOPE_USER,
            key_func=_user_key,
            exempt_when=_nobody_signed_in,
        )
        self.per_ip = limiter.shared_limit(
            protection.rate_limit_per_ip, scope=SCOPE_IP, key_func=address_key
        )

    def protect(self, blueprint: Blueprint) -> None:
        self.per_user(blueprint)
        self.per_ip(blueprint)


def rate_limited(blueprint: Blueprint) -> Blueprint:
    """Put every route of ``blueprint`` under the per-user and per-address limits."""
    blueprint.record(_join_limits)
    return blueprint


def _join_limits(state: BlueprintSetupState) -> None:
    limits: _LimitsForApp | None = state.app.extensions.get(EXTENSION)
    if limits is None:
        raise RuntimeError(
            f"blueprint {state.blueprint.name} is rate-limited, but the app has no broker rate "
            "limits: call init_broker(app, settings) before registering it"
        )
    limits.protect(cast(Blueprint, state.blueprint))


def rate_limited_response(error: RateLimitExceeded) -> Response:
    """429 in the broker's error shape; ``Retry-After`` is when the window lets one through."""
    assign_request_id()  # the limiter runs before the blueprints' own hooks
    scope = _scope_of(error)
    retry_after = _seconds_until_reset()
    telemetry.note(outcome="rate_limited")
    telemetry.emit("rate_limited", scope=scope)
    log.info(
        "rate_limited: %s limit %s reached; the caller must wait %d s",
        scope,
        error.description,
        retry_after,
        extra={"error_code": "rate_limited", "status": 429, "scope": scope},
    )
    return error_response(
        429,
        "rate_limited",
        "Too many requests: wait Retry-After seconds before asking again.",
        retryable=True,
        retry_after=retry_after,
    )


def _scope_of(error: RateLimitExceeded) -> str:
    scope: Any = getattr(error.limit, "scope", None)
    return scope if scope in (SCOPE_USER, SCOPE_IP) else "other"


def _seconds_until_reset() -> int:
    limits: _LimitsForApp | None = current_app.extensions.get(EXTENSION)
    current = limits.limiter.current_limit if limits else None
    try:
        reset_at = current.reset_at if current else time.time() + 1
    except Exception:  # the counter store failing here must not turn a 429 into a 500
        log.warning("could not read the rate limit window; answering Retry-After 1")
        reset_at = time.time() + 1
    return max(1, math.ceil(reset_at - time.time()))
