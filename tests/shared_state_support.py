"""What the shared-state tests share: a clock they move themselves, and Redis's view of values.

The broker code runs in the test's process against a real ``redis-server`` (``RedisProcess``);
the clock decides only what the broker believes the time is, never how long Redis waits.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import redis

from flask_token_broker.minting.sealing import Sealer, derive_key

from . import fake_secrets

# The key every instance sharing a Redis derives from SECRET_KEY (another version included).
SEALER = Sealer(derive_key(fake_secrets.SECRET_KEY, "redis-values"))


class FakeClock:
    """Time that moves only when the test, or a waiter's ``sleep``, moves it.

    Kept in whole microseconds, so sums of pauses land exactly on a deadline.
    """

    def __init__(self) -> None:
        self._monotonic_us = 0
        self._wall_us = 1_700_000_000 * 1_000_000
        self.slept: list[float] = []
        # Called after each sleep: what another instance does while this one waits.
        self.on_sleep: Callable[[], None] = lambda: None

    def monotonic(self) -> float:
        return self._monotonic_us / 1_000_000

    def time(self) -> float:
        return self._wall_us / 1_000_000

    def sleep(self, seconds: float, /) -> None:
        self.slept.append(seconds)
        self.advance(seconds)
        self.on_sleep()

    def advance(self, seconds: float) -> None:
        step = round(seconds * 1_000_000)
        self._monotonic_us += step
        self._wall_us += step


def seal(name: str, value: Any) -> bytes:
    """``value`` as an instance sharing this SECRET_KEY would store it under ``name``."""
    return SEALER.seal(json.dumps(value).encode(), name.encode())


def opened(client: redis.Redis, name: str) -> Any:
    """The value stored under ``name``, opened as another instance would open it."""
    sealed = client.get(name)
    assert isinstance(sealed, bytes), f"nothing stored under {name}"
    plain = SEALER.open(sealed, name.encode())
    assert plain is not None, f"{name} does not open with the shared key"
    return json.loads(plain)
