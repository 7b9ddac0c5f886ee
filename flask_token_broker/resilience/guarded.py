"""The guarded Mindset call: the circuit breaker, the retries, the deadline, the translation.

This is the seam between the vendor client (which raises ``MindsetError``) and the HTTP views
(which answer ``BrokerError``): the translation happens here, once, with ``raise ... from``.
One :class:`GuardedCall` per vendor client, so one breaker per worker process.
"""

from __future__ import annotations

import functools
import logging
import time
from typing import Any

from ..errors import (
    BrokerError,
    VendorBadResponse,
    VendorRejected,
    VendorTimeout,
    VendorUnavailable,
)
from ..mindset.client import MindsetClient
from ..mindset.errors import (
    MindsetBadResponse,
    MindsetError,
    MindsetRejected,
    MindsetTimeout,
    MindsetUnavailable,
)
from ..mindset.vendor_api import AuthRequest
from ..observability import telemetry
from ..settings import ResilienceSettings
from .breaker import CLOSED, CircuitBreaker
from .retries import RetryPolicy, call_with_retries

# The circuit changes keep the logger name they were always written under.
log = logging.getLogger("broker.tokens")


class GuardedCall:
    """Calls ``client`` for a token the way the broker may: guarded and translated."""

    def __init__(self, client: MindsetClient, resilience: ResilienceSettings) -> None:
        self.client = client
        self.resilience = resilience
        self.retry_policy, self.breaker = vendor_guards(resilience)

    def __call__(self, request: AuthRequest) -> str:
        """One guarded vendor call for ``request``, its failure translated for the caller.

        Guarded: refused at once while the circuit is open; otherwise retried where that
        helps, and over within ``BROKER_DEADLINE`` whatever the vendor does.
        """
        if not self.breaker.allow():
            raise circuit_open_error(self.breaker)
        deadline = time.monotonic() + self.resilience.deadline
        try:
            # A partial, not a closure: each attempt goes straight from the loop to the client.
            attempt = functools.partial(self.client.authenticate, request)
            token = call_with_retries(attempt, self.retry_policy, deadline)
        except MindsetError as error:
            if counts_against_vendor(error):
                self.breaker.record_failure()
            else:
                self.breaker.record_success()
            raise broker_error_for(error) from error
        except BaseException:
            # Whatever ended the call (a bug, a killed greenlet), it must not leave a
            # half-open probe unanswered.
            self.breaker.record_failure()
            raise
        self.breaker.record_success()
        return token

    def readiness(self) -> tuple[str, dict[str, Any]]:
        """The ``mindset_circuit`` readiness check: degraded (never failed) while not closed."""
        snapshot = self.breaker.snapshot()
        return ("ok" if snapshot["state"] == CLOSED else "degraded"), snapshot


def vendor_guards(resilience: ResilienceSettings) -> tuple[RetryPolicy, CircuitBreaker]:
    policy = RetryPolicy(
        attempts=resilience.retry_attempts, retry_after_cap=resilience.retry_after_cap
    )
    breaker = CircuitBreaker(
        resilience.breaker_failures,
        resilience.breaker_cooldown,
        probe_timeout=resilience.deadline + 1.0,
        on_change=_circuit_changed,
    )
    return policy, breaker


def _circuit_changed(old: str, new: str) -> None:
    level = logging.WARNING if new != CLOSED else logging.INFO
    log.log(
        level,
        "mindset circuit %s -> %s%s",
        old,
        new,
        " (the vendor keeps failing; token requests are answered 503 at once)"
        if new == "open"
        else "",
        extra={"vendor": "mindset", "circuit": new},
    )
    telemetry.emit("circuit", vendor="mindset", state=new)


def counts_against_vendor(error: MindsetError) -> bool:
    """Outages and garbage count towards opening the circuit; a refusal proves the vendor up."""
    return isinstance(error, MindsetUnavailable | MindsetBadResponse)


def circuit_open_error(breaker: CircuitBreaker) -> VendorUnavailable:
    return VendorUnavailable(
        "The agent vendor is failing; the broker stops asking it for a while. "
        "Try again after Retry-After seconds.",
        log_hint=f"mindset circuit {breaker.state}: not calling the vendor "
        "(see the last vendor errors above; the circuit closes after one successful probe)",
        retry_after=max(1.0, breaker.retry_in()),
    )


def broker_error_for(error: MindsetError) -> BrokerError:
    """The caller-facing answer for a vendor failure; the operator's hint stays in the log."""
    hint = str(error)
    if isinstance(error, MindsetTimeout):
        return VendorTimeout(log_hint=hint)
    if isinstance(error, MindsetUnavailable):
        return VendorUnavailable(log_hint=hint, retry_after=error.retry_after)
    if isinstance(error, MindsetRejected):
        return VendorRejected(log_hint=hint)
    if isinstance(error, MindsetBadResponse):
        return VendorBadResponse(log_hint=hint)
    return VendorUnavailable(log_hint=hint)
