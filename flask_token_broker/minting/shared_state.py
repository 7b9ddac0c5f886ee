"""State shared by all broker instances through Redis (``BROKER_REDIS_URL``).

Two things live here: reusable tokens, and cross-instance coalescing (one instance calls the
vendor for a key, the others wait for its outcome). Every value is sealed (:mod:`.sealing`)
and every key is namespaced and expires: a reusable token at its reuse deadline, an outcome a
few seconds after it was published, a flight lock when its leader's vendor call must be over.

Redis is an optimisation, never a dependency of a token request: any Redis error switches
this instance to its per-process state for ``retry_after`` seconds, with one warning, and
every method here answers "nothing shared" instead of raising.

Keys (``<prefix>`` is ``BROKER_REDIS_PREFIX``, ``<key>`` a keyed request digest)::

    <prefix>:token:<key>          a reusable token and its deadline     PX = until deadline
    <prefix>:flight:<key>         the id of the flight minting for key  PX = flight bound
    <prefix>:outcome:<key>:<id>   that flight's token or failure        PX = OUTCOME_TTL_MS
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any, Protocol

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from ..settings import RedisSettings
from .sealing import Sealer, derive_key

log = logging.getLogger("broker.redis")

# Waiters poll every few ms; an outcome only has to outlive that, plus a slow waiter.
OUTCOME_TTL_MS = 3_000
# Polling starts fast (a vendor answer may be a few ms away) and slows down to this.
POLL_FIRST = 0.002
POLL_MAX = 0.02
# While Redis stays down, one warning per this many seconds.
WARN_EVERY = 60.0
# Connections per worker process; above the concurrency a worker is configured for.
MAX_CONNECTIONS = 1024
# Flight ids are this many random bytes: unique across instances, so that a late leader can
# never release or answer for a flight another instance now leads.
FLIGHT_ID_BYTES = 8
# "Never": Redis has not been down, no warning has been logged yet.
_LONG_AGO = float("-inf")

# A kept token, else the flight: lead it (take the lock) or follow its current holder. A
# script runs atomically, so reading then taking the lock cannot race another instance.
_BEGIN = """
if ARGV[3] == '1' then
  local kept = redis.call('get', KEYS[1])
  if kept then return {'token', kept} end
end
local holder = redis.call('get', KEYS[2])
if holder then return {'follow', holder} end
redis.call('set', KEYS[2], ARGV[1], 'PX', ARGV[2])
return {'lead', ARGV[1]}
"""

# Release the flight only if it is still ours, and publish its outcome, in one round trip.
_FINISH = """
if redis.call('get', KEYS[1]) == ARGV[1] then redis.call('del', KEYS[1]) end
redis.call('set', KEYS[2], ARGV[2], 'PX', ARGV[3])
return 1
"""


class Clock(Protocol):
    """What the shared state reads the time with (the :mod:`time` module; tests pass their own)."""

    def monotonic(self) -> float: ...

    def time(self) -> float: ...

    def sleep(self, seconds: float, /) -> None: ...


@dataclass(frozen=True)
class Kept:
    """A reusable token found in Redis, and until when it may be handed out."""

    token: str
    until: float


@dataclass(frozen=True)
class Flight:
    """This instance's part in a shared flight: ``leader`` mints, others wait for ``flight_id``.

    ``shared`` is false when this instance mints on its own, outside any flight.
    """

    key: str
    flight_id: str
    leader: bool
    shared: bool = True


class SharedState:
    def __init__(
        self, url: str, settings: RedisSettings, secret_key: str, *, clock: Clock = time
    ) -> None:
        self.prefix = settings.prefix
        self.retry_after = settings.retry_after
        self.clock = clock
        self.client = redis.Redis.from_url(url, **_connection_options(settings))
        self._begin = self.client.register_script(_BEGIN)
        self._finish = self.client.register_script(_FINISH)
        self._sealer = Sealer(derive_key(secret_key, "redis-values"))
        self._lock = threading.Lock()
        self._down_until = _LONG_AGO
        self._last_warning = _LONG_AGO
        self._unreachable = False  # pragma: no mutate (only its truth is read: None = False)

    # -- health ------------------------------------------------------------------------------

    @property
    def usable(self) -> bool:
        return self.clock.monotonic() >= self._down_until

    def _failed(self, error: redis.RedisError) -> None:
        now = self.clock.monotonic()
        with self._lock:
            self._down_until = now + self.retry_after
            self._unreachable = True
            warn = now - self._last_warning >= WARN_EVERY
            if warn:
                self._last_warning = now
        if warn:
            log.warning(
                "Redis unreachable (%s): serving with per-instance state (no token reuse or "
                "coalescing across instances) and retrying every %g s; check BROKER_REDIS_URL "
                "and the Redis server",
                type(error).__name__,
                self.retry_after,
            )

    def _recovered(self) -> None:
        if self._unreachable:
            with self._lock:
                was, self._unreachable = self._unreachable, False
                self._last_warning = _LONG_AGO
            if was:
                log.info("Redis reachable again: sharing state across instances")

    def readiness(self) -> tuple[str, dict[str, Any]]:
        """``ok``, or ``degraded`` while Redis is unreachable; never ``failed``."""
        try:
            self.client.ping()
        except redis.RedisError as error:
            self._failed(error)
            return "degraded", {"error": type(error).__name__, "fallback": "per-instance state"}
        self._down_until = _LONG_AGO
        self._recovered()
        return "ok", {}

    # -- reusable tokens and flights --------------------------------------------------------

    def begin(self, key: str, bound_ms: int, *, reuse: bool) -> Kept | Flight | None:
        """One round trip: a reusable token for ``key`` (when ``reuse``), else this instance's
        part in the flight for it (lead, or follow the one in progress); ``None`` without Redis.
        """
        flight_id = secrets.token_hex(FLIGHT_ID_BYTES)
        token_name = f"{self.prefix}:token:{key}"
        answer = self._call(
            self._begin,
            keys=[token_name, f"{self.prefix}:flight:{key}"],
            args=[flight_id, bound_ms, 1 if reuse else 0],
        )
        if answer is _FAILED:
            return None
        kind, value = answer
        if kind == b"token":
            entry = self._load(token_name, value) or {}
            token, until = entry.get("token"), entry.get("until")
            if (
                isinstance(token, str)
                and isinstance(until, int | float)
                and until > self.clock.time()
            ):
                return Kept(token, until)
            # Unreadable or stale: mint without a flight rather than guess.
            return Flight(key, flight_id, leader=False, shared=False)
        return Flight(key, value.decode(), leader=kind == b"lead")

    def put_token(self, key: str, token: str, until: float) -> None:
        milliseconds = int((until - self.clock.time()) * 1000)
        if milliseconds > 0:
            name = f"{self.prefix}:token:{key}"
            sealed = self._seal(name, {"token": token, "until": until})
            self._call(self.client.set, name, sealed, px=milliseconds)

    # -- coalescing across instances ---------------------------------------------------------

    def finish_flight(self, flight: Flight, outcome: dict[str, Any]) -> None:
        """Publish the leader's outcome (token or failure) to the waiters and release the lock."""
        result = f"{self.prefix}:outcome:{flight.key}:{flight.flight_id}"
        self._call(
            self._finish,
            keys=[f"{self.prefix}:flight:{flight.key}", result],
            args=[flight.flight_id, self._seal(result, outcome), OUTCOME_TTL_MS],
        )

    def await_flight(self, flight: Flight, max_wait: float) -> dict[str, Any] | None:
        """The leader's outcome, or ``None`` if it vanished, took too long or Redis failed."""
        lock = f"{self.prefix}:flight:{flight.key}"
        result = f"{self.prefix}:outcome:{flight.key}:{flight.flight_id}"
        deadline = self.clock.monotonic() + max_wait
        pause = POLL_FIRST
        while self.clock.monotonic() < deadline:
            self.clock.sleep(pause)
            pause = min(pause * 2, POLL_MAX)
            answer = self._call(self.client.mget, result, lock)
            if answer is _FAILED:
                return None
            sealed, holder = answer
            if sealed is not None:
                return self._load(result, sealed)
            if holder is None or holder.decode() != flight.flight_id:
                return None
        return None

    # -- plumbing ----------------------------------------------------------------------------

    def _call(self, command: Any, *args: Any, **kwargs: Any) -> Any:
        if not self.usable:
            return _FAILED
        try:
            answer = command(*args, **kwargs)
        except redis.RedisError as error:
            self._failed(error)
            return _FAILED
        if self._unreachable:
            self._recovered()
        return answer

    def _seal(self, name: str, value: dict[str, Any]) -> bytes:
        return self._sealer.seal(json.dumps(value).encode(), name.encode())

    def _load(self, name: str, sealed: Any) -> dict[str, Any] | None:
        if not isinstance(sealed, bytes):
            return None
        plain = self._sealer.open(sealed, name.encode())
        if plain is None:
            log.warning(
                "a value in Redis could not be opened (written with another SECRET_KEY, or "
                "altered); ignoring it. Instances sharing BROKER_REDIS_URL must share SECRET_KEY"
            )
            return None
        value = json.loads(plain)
        return value if isinstance(value, dict) else None


def _connection_options(settings: RedisSettings) -> dict[str, Any]:
    """A bounded wait on every connection and command, and no retry: a slow or failing Redis
    costs a request at most ``settings.timeout`` before it falls back to this instance."""
    return {
        "socket_timeout": settings.timeout,
        "socket_connect_timeout": settings.timeout,
        # A failed command is not retried here: the caller falls back at once.
        "retry": Retry(NoBackoff(), 0),
        "max_connections": MAX_CONNECTIONS,
    }


class _Failed:
    """Marks a Redis call that failed (``None`` is a valid Redis answer)."""


_FAILED: Any = _Failed()
