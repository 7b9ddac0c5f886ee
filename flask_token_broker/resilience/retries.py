"""When a failed Mindset call is worth repeating within one token request, and how long to wait.

A small explicit loop rather than urllib3's ``Retry``: the decision depends on the whole
request's deadline, on the vendor's ``Retry-After`` and on what the failure means, which a
per-connection retry cannot see. The rules:

- repeat only what can succeed on a second try: connection failures (refused, reset), connect
  timeouts, and HTTP 429, 502, 503, 504; never other 4xx, never TLS errors, never a read
  timeout (the vendor is slow; asking again only adds load);
- wait with exponential back-off and full jitter (a random wait between 0 and the back-off), so
  many workers that failed together do not retry together;
- a vendor ``Retry-After`` up to ``retry_after_cap`` is waited out; a longer one ends the loop
  and is passed on to the caller;
- stop after ``attempts`` tries or when the deadline leaves no room for another attempt.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from ..mindset.errors import (
    RETRY_AT_ONCE_STATUSES,
    MindsetError,
    MindsetTimeout,
    MindsetUnavailable,
)

log = logging.getLogger("broker.mindset")

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


class Attempt(Protocol[T_co]):
    """One try, which must be over by ``deadline`` (a ``time.monotonic()`` instant)."""

    def __call__(self, *, deadline: float) -> T_co: ...


# An attempt with less time than this left is not worth starting.
MIN_ATTEMPT_SECONDS = 0.05


def pause(seconds: float) -> None:
    """How the loop waits: ``time.sleep`` looked up now, so gevent's patched one is used."""
    time.sleep(seconds)


@dataclass(frozen=True)
class RetryPolicy:
    # The operator's settings (BROKER_RETRY_ATTEMPTS, BROKER_RETRY_AFTER_CAP): config.py
    # declares their defaults, so none is restated here.
    attempts: int
    retry_after_cap: float
    # The back-off's own shape, not a setting.
    base_delay: float = 0.1
    max_delay: float = 1.0

    def wait_before_retry(self, error: MindsetError, attempt: int) -> float | None:
        """Seconds to wait before attempt ``attempt + 1``, or None when it is not worth it."""
        if attempt >= self.attempts or not worth_retrying(error):
            return None
        retry_after = getattr(error, "retry_after", None)
        if retry_after is not None:
            return retry_after if retry_after <= self.retry_after_cap else None
        ceiling = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        # Jitter spreads retries out; it guards nothing, so a non-cryptographic source is right.
        return random.uniform(0, ceiling)  # noqa: S311  # nosec B311


def worth_retrying(error: MindsetError) -> bool:
    if isinstance(error, MindsetTimeout):
        return error.phase == "connect"
    if isinstance(error, MindsetUnavailable):
        return error.status is None or error.status in RETRY_AT_ONCE_STATUSES
    return False


def call_with_retries(
    attempt: Attempt[T],
    policy: RetryPolicy,
    deadline: float,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] | None = None,
) -> T:
    """``attempt(deadline=deadline)`` until it succeeds, the policy gives up, or time runs out.

    ``deadline`` is a ``clock()`` instant; ``attempt`` must itself finish by it. The last
    failure is raised unchanged, so its ``retry_after`` reaches the caller.
    """
    number = 1
    while True:
        try:
            return attempt(deadline=deadline)
        except MindsetError as error:
            wait = policy.wait_before_retry(error, number)
            if wait is None or clock() + wait + MIN_ATTEMPT_SECONDS >= deadline:
                raise
            log.info(
                "mindset retry %d in %.2f s after %s",
                number + 1,
                wait,
                type(error).__name__,
                extra={"vendor": "mindset", "retry_in_ms": round(wait * 1000, 1)},
            )
            (sleep or pause)(wait)
            number += 1
