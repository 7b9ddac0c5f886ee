"""Rate limits on the routes that hand out credentials, checked with ``limits`` directly.

Two limits, both shared by every rate-limited route of the app:

- per signed-in user (``BROKER_RATE_LIMIT``, default 60/minute), keyed by a keyed hash of the
  user id (the raw id never reaches the counter store), skipped when nobody is signed in;
- per client address (``BROKER_RATE_LIMIT_PER_IP``, default 600/minute; an IPv6 network of
  ``BROKER_RATE_LIMIT_IPV6_PREFIX`` bits), counting every request, anonymous ones and
  preflights included, keyed by a keyed hash of the address (addresses are personal data).
  The address is the socket peer unless ``BROKER_PROXY_HOPS`` trusts that many proxies.

A breach is answered ``429 rate_limited`` with ``Retry-After`` before the view runs. Counters
live in memory (per process) or, with ``BROKER_REDIS_URL``, in Redis shared by all instances;
if Redis fails, counting goes on in memory and Redis is tried again with back-off.

Checked with ``limits`` rather than through Flask-Limiter, whose general machinery cost more
CPU than minting a token; the keys, the window strategy and the fallback are the ones it used,
so counters in a shared Redis carry over. A blueprint opts in with :func:`rate_limited` (or
:func:`.cross_site.token_routes`, which adds cross-site protection) before it is registered.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import math
import time
from collections.abc import Callable
from typing import Any, NamedTuple

from flask import Blueprint, Flask, Response, current_app, request
from flask.blueprints import BlueprintSetupState
from limits import RateLimitItem, parse_many
from limits.storage import RedisStorage, Storage
from limits.strategies import SlidingWindowCounterRateLimiter

from ..errors import error_response
from ..minting.sealing import derive_key
from ..observability import telemetry
from ..observability.logs import assign_request_id
from ..observability.telemetry import note_user
from ..settings import Settings
from ..state import Broker
from ..users import UserResolver
from .limit_storage import SweptMemoryStorage

EXTENSION = "broker_rate_limits"
SCOPE_USER = "user"
SCOPE_IP = "ip"
# The first part of every counter key after the library's own ``LIMITER`` namespace.
KEY_PREFIX = "broker"
log = logging.getLogger("broker.rate_limits")

# Hex digits of an address's keyed hash in counter keys: no two addresses share a budget.
ADDRESS_HASH_LENGTH = 32
# Redis for counters must answer fast or be skipped: a token request never waits on it long.
REDIS_TIMEOUT_SECONDS = 1
# While Redis is unreachable it is tried again after 1, 2, 4 ... 32 s, then every 1-32 s anew.
MAX_RECHECK_EXPONENT = 5


def client_address() -> str:
    """The caller's address as trusted by ``BROKER_PROXY_HOPS`` (see ``ProxyFix``)."""
    # Any fixed text would do: the addressless requests share one budget, whatever it is named.
    return request.remote_addr or "unknown"  # pragma: no mutate


def address_group(address: str, ipv6_prefix: int) -> str:
    """Whose budget an address spends: an IPv4 address its own, an IPv6 address its network's.

    One IPv6 host usually holds a whole /64 and picks any address in it, so a budget per
    address would be a budget per request. An IPv4-mapped IPv6 address (``::ffff:1.2.3.4``,
    from a dual-stack socket) is the IPv4 address it carries.
    """
    if ":" not in address:
        return address  # IPv4 as the server wrote it, or no address at all
    try:
        ip = ipaddress.IPv6Address(address)
    except ValueError:
        return address
    if ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ipaddress.IPv6Interface((ip, ipv6_prefix)).network)


class AddressKey:
    """The per-address limit's key: HMAC-SHA256 of the client address (its IPv6 network,
    :func:`address_group`), keyed with a key derived from ``SECRET_KEY`` once at start-up, so
    instances sharing Redis share counters and nobody reading Redis without the key learns or
    can test an address."""

    def __init__(self, secret_key: str, ipv6_prefix: int) -> None:
        self._key = derive_key(secret_key, "rate-limit addresses")
        self.ipv6_prefix = ipv6_prefix

    def __call__(self) -> str:
        group = address_group(client_address(), self.ipv6_prefix)
        # UTF-8; a lone surrogate (no server sends one, a hostile one might) still has a key.
        address = group.encode(errors="surrogatepass")
        digest = hmac.new(self._key, address, hashlib.sha256).hexdigest()
        return digest[:ADDRESS_HASH_LENGTH]


class Breach(NamedTuple):
    """The limit a request went over, and where its counter is."""

    scope: str
    item: RateLimitItem
    key: str
    counted_by: SlidingWindowCounterRateLimiter


class RateLimits:
    """The app's two limits, its counter store and the in-memory fallback while Redis is out."""

    # The back-off of rechecks while Redis is out: set when it goes out, read only until then.
    _rechecks: int
    _last_recheck: float

    def __init__(
        self, settings: Settings, address_key: AddressKey, resolve_user: UserResolver
    ) -> None:
        protection = settings.protection
        self.resolve_user = resolve_user
        keys: dict[str, Callable[[], str | None]] = {
            SCOPE_USER: self._user_key,
            SCOPE_IP: address_key,
        }
        limits = [(SCOPE_USER, item) for item in parse_many(protection.rate_limit)]
        limits += [(SCOPE_IP, item) for item in parse_many(protection.rate_limit_per_ip)]
        # Shortest window first (a stable sort: the user's before the address's within one),
        # and counting stops at the first breach, so a refused request spends no longer budget.
        limits.sort(key=lambda limit: limit[1].GRANULARITY.seconds)
        self._limits = [(scope, item, keys[scope]) for scope, item in limits]
        self.storage: Storage = (
            RedisStorage(
                settings.redis_url,
                # redis-py would wait 5 s to connect; given None, it would take socket_timeout.
                socket_connect_timeout=REDIS_TIMEOUT_SECONDS,  # pragma: no mutate
                socket_timeout=REDIS_TIMEOUT_SECONDS,
            )
            if settings.redis_url
            else SweptMemoryStorage()
        )
        self._counting = SlidingWindowCounterRateLimiter(self.storage)
        self._fallback_storage = SweptMemoryStorage() if settings.redis_url else None
        self._fallback = (
            SlidingWindowCounterRateLimiter(self._fallback_storage)
            if self._fallback_storage
            else None
        )
        self.storage_dead = False

    def _user_key(self) -> str | None:
        """The per-user limit's key, or None when nobody is signed in (the limit is skipped)."""
        try:
            user = self.resolve_user()
        except Exception:
            # The view meets the same failure (the answer is kept for the request) and answers
            # it; raised here it would pass for a counter store outage.
            return None
        return None if user is None else note_user(user.id)

    def check(self) -> Response | None:
        """Before a rate-limited route's view: count the request, or answer 429."""
        if request.endpoint is None:
            return None
        try:
            breach = self._count(self._strategy())
        except Exception:
            if self._fallback is None or self.storage_dead:
                # Counting must never take token requests down with it.
                log.exception("rate limits could not be checked; the request is let through")
                return None
            log.warning(
                "rate limit storage unreachable (BROKER_REDIS_URL): counting in memory, per "
                "process, until it answers again"
            )
            self.storage_dead = True
            self._rechecks, self._last_recheck = 0, time.time()
            breach = self._count(self._fallback)
        return None if breach is None else self._refuse(breach)

    def _strategy(self) -> SlidingWindowCounterRateLimiter:
        if not self.storage_dead or self._fallback is None:
            return self._counting
        if self._recheck_due() and self.storage.check():
            log.info("rate limit storage reachable again: counters are shared once more")
            self.storage_dead = False
            return self._counting
        return self._fallback

    def _recheck_due(self) -> bool:
        if self._rechecks > MAX_RECHECK_EXPONENT:
            self._rechecks = 0
        now = time.time()
        if now - self._last_recheck > 2**self._rechecks:
            self._last_recheck = now
            self._rechecks += 1
            return True
        return False

    def _count(self, strategy: SlidingWindowCounterRateLimiter) -> Breach | None:
        for scope, item, key_of in self._limits:
            key = key_of()
            if not key:
                continue
            if not strategy.hit(item, KEY_PREFIX, key, scope):
                return Breach(scope, item, key, strategy)
        return None

    def _refuse(self, breach: Breach) -> Response:
        """429 in the broker's error shape; ``Retry-After`` is when the window lets one through."""
        assign_request_id()  # the limits run before the blueprints' own hooks
        retry_after = self._seconds_until_reset(breach)
        telemetry.emit("rate_limited", scope=breach.scope)
        log.info(
            "rate_limited: %s limit %s reached; the caller must wait %d s",
            breach.scope,
            breach.item,
            retry_after,
            extra={"error_code": "rate_limited", "status": 429, "scope": breach.scope},
        )
        return error_response(
            429,
            "rate_limited",
            "Too many requests: wait Retry-After seconds before asking again.",
            retryable=True,
            retry_after=retry_after,
        )

    def _seconds_until_reset(self, breach: Breach) -> int:
        try:
            window = breach.counted_by.get_window_stats(
                breach.item, KEY_PREFIX, breach.key, breach.scope
            )
            reset_at: float = int(window.reset_time + 1)
        except Exception:  # the counter store failing here must not turn a 429 into a 500
            log.warning("could not read the rate limit window; answering Retry-After 1")
            reset_at = time.time()  # unknown: the shortest wait, below
        return max(1, math.ceil(reset_at - time.time()))

    def readiness(self) -> tuple[str, dict[str, Any]]:
        """Degraded (never failed) while Redis is unreachable and counters are per process."""
        if self.storage_dead:
            return "degraded", {
                "storage": "memory (fallback)",
                "hint": (
                    "Redis at BROKER_REDIS_URL is unreachable; limits are per process meanwhile"
                ),
            }
        return "ok", {"storage": "redis"}

    def close(self) -> None:
        """Release the Redis client's connections (in-memory stores hold none)."""
        for storage in (self.storage, self._fallback_storage):
            client = getattr(storage, "storage", None)
            close = getattr(client, "close", None)
            if callable(close):
                close()


def init_rate_limits(app: Flask, broker: Broker) -> RateLimits:
    """Create the app's limits; blueprints marked with :func:`rate_limited` are counted."""
    settings = broker.settings
    address_key = AddressKey(settings.secret_key, settings.protection.ipv6_prefix)
    limits = RateLimits(settings, address_key, broker.resolve_user)
    app.extensions[EXTENSION] = limits
    if settings.redis_url:
        broker.readiness_checks["rate_limit_storage"] = limits.readiness
    return limits


def rate_limited(blueprint: Blueprint) -> Blueprint:
    """Put every route of ``blueprint`` under the per-user and per-address limits.

    The check is the blueprint's own hook, after those registered before it: on a token
    route, after the cross-site refusal, so a refused cross-site request costs no user lookup
    and no counter (:func:`~flask_token_broker.protection.cross_site.token_routes`).
    """
    blueprint.record(_require_limits)
    blueprint.before_request(check_rate_limits)
    return blueprint


def check_rate_limits() -> Response | None:
    """``before_request`` of a rate-limited blueprint: count the request, or answer 429."""
    limits: RateLimits = current_app.extensions[EXTENSION]
    return limits.check()


def _require_limits(state: BlueprintSetupState) -> None:
    limits: RateLimits | None = state.app.extensions.get(EXTENSION)
    if limits is None:
        raise RuntimeError(
            f"blueprint {state.blueprint.name} is rate-limited, but the app has no broker rate "
            "limits: add TokenBroker to the app before registering it"
        )
