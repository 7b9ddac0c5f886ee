"""A circuit breaker: stop queueing doomed vendor calls while the vendor is down.

States::

    closed ──(failures consecutive failed token requests)──▶ open
    open ──(cooldown elapsed)──▶ half_open: exactly one probe call is let through
    half_open ──probe succeeds──▶ closed
    half_open ──probe fails──▶ open (a fresh cool-down)

While open (and while a half-open probe is in flight) callers are refused at once and told
:meth:`CircuitBreaker.retry_in`, instead of each waiting out the deadline.

The state is per process (per gunicorn worker): each worker learns of an outage from its own
calls, which costs at most ``failures`` requests per worker, and no shared store can take the
breaker down with it. The lock is held only for bookkeeping, never across a vendor call, so it
is safe in threads and, monkey-patched, in gevent workers.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

CLOSED = "closed"
OPEN = "open"
HALF_OPEN = "half_open"

# Told of every state change: (old state, new state).
StateListener = Callable[[str, str], None]


class CircuitBreaker:
    def __init__(
        self,
        failures: int,
        cooldown: float,
        *,
        probe_timeout: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        on_change: StateListener | None = None,
    ) -> None:
        if failures < 1 or cooldown <= 0:
            raise ValueError("failures must be at least 1 and cooldown positive")
        self.failures = failures
        self.cooldown = cooldown
        # A probe that never reports back (a crashed greenlet) must not hold the circuit
        # half-open forever: after this long another probe may go.
        self.probe_timeout = probe_timeout if probe_timeout is not None else cooldown
        self._clock = clock
        self._on_change = on_change
        self._lock = threading.Lock()
        self._state = CLOSED
        self._consecutive = 0
        self._opened_at = 0.0
        self._probe_started: float | None = None

    @property
    def state(self) -> str:
        with self._lock:
            changed = self._advance()
            current = self._state
        self._tell(changed)
        return current

    def allow(self) -> bool:
        """May a call go to the vendor now? In half-open, True for the one probe only."""
        with self._lock:
            changed = self._advance()
            if self._state == CLOSED:
                allowed = True
            elif self._state == OPEN:
                allowed = False
            elif self._probe_started is None or (
                self._clock() - self._probe_started >= self.probe_timeout
            ):
                self._probe_started = self._clock()
                allowed = True
            else:
                allowed = False
        self._tell(changed)
        return allowed

    def record_success(self) -> None:
        with self._lock:
            changed = self._move(CLOSED) if self._state != CLOSED else None
            self._consecutive = 0
            self._probe_started = None
        self._tell(changed)

    def record_failure(self) -> None:
        with self._lock:
            self._consecutive += 1
            changed = None
            if self._state == HALF_OPEN or (
                self._state == CLOSED and self._consecutive >= self.failures
            ):
                changed = self._move(OPEN)
                self._opened_at = self._clock()
                self._probe_started = None
        self._tell(changed)

    def retry_in(self) -> float:
        """Seconds until a call may go again: the rest of the cool-down, 0 when closed."""
        with self._lock:
            changed = self._advance()
            if self._state == OPEN:
                wait = max(0.0, self._opened_at + self.cooldown - self._clock())
            elif self._state == HALF_OPEN and self._probe_started is not None:
                # The probe decides soon; a caller should come back in about a second.
                wait = 1.0
            else:
                wait = 0.0
        self._tell(changed)
        return wait

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            changed = self._advance()
            snapshot: dict[str, Any] = {
                "state": self._state,
                "consecutive_failures": self._consecutive,
                "failure_threshold": self.failures,
                "cooldown_seconds": self.cooldown,
            }
            if self._state == OPEN:
                remaining = self._opened_at + self.cooldown - self._clock()
                snapshot["retry_in_seconds"] = round(max(0.0, remaining), 1)
        self._tell(changed)
        return snapshot

    def _advance(self) -> tuple[str, str] | None:
        """Open turns half-open once the cool-down is over (called with the lock held)."""
        if self._state == OPEN and self._clock() - self._opened_at >= self.cooldown:
            self._probe_started = None
            return self._move(HALF_OPEN)
        return None

    def _move(self, new: str) -> tuple[str, str]:
        old, self._state = self._state, new
        return old, new

    def _tell(self, changed: tuple[str, str] | None) -> None:
        # Outside the lock: a listener may log, emit metrics, or read the breaker itself.
        if changed is not None and self._on_change is not None:
            self._on_change(*changed)
