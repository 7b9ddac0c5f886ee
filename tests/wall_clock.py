"""The wall clock frozen for a test, for code (like the ``limits`` library) that reads
``time.time`` itself and cannot be handed a clock."""

from __future__ import annotations

import time

import pytest


class Clock:
    """``time.time`` at ``now``, which the test moves by assigning it."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def frozen_wall_clock(monkeypatch: pytest.MonkeyPatch, now: float) -> Clock:
    """Replace ``time.time`` with a :class:`Clock` at ``now`` for the test's duration."""
    clock = Clock(now)
    monkeypatch.setattr(time, "time", clock)
    return clock
