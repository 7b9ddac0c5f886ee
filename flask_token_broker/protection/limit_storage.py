"""The in-process store for rate-limit counters: the ``limits`` memory store, swept less often.

``limits``' ``MemoryStorage`` removes expired counters from a timer that fires every 10 ms
and walks every key it holds. With a counter per signed-in user that walk became the
busiest code in a worker (a third of its CPU with 2000 users in rotation, measured with
py-spy under ``make bench``). Counters are already checked for expiry whenever they are read,
so the sweep only returns memory; once a second is plenty for that.

The sweep runs inline, on the first counter update after a second has passed, not from a
timer thread: under gevent a timer "thread" is a greenlet, and one was started again and again
(17 sweeps a second instead of one, 10% of a worker's CPU with 2000 users). A sweep of a few
thousand counters takes a fraction of a millisecond.

Registered under the ``broker-memory://`` scheme, so ``limits`` can also build it from a URI
like any other store.
"""

from __future__ import annotations

import time

from limits.storage import MemoryStorage

SWEEP_INTERVAL = 1.0


class SweptMemoryStorage(MemoryStorage):
    # The registry of ``limits`` reads this list when the class is created.
    STORAGE_SCHEME = ["broker-memory"]  # noqa: RUF012

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options: str):
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        # The base class has already started its 10 ms timer: stop it, sweeps run inline.
        self.timer.cancel()
        self.timer.join()  # a cancelled timer ends at once; then no thread of it is left
        self.sweeps = 0
        self._next_sweep = time.monotonic() + SWEEP_INTERVAL

    def _MemoryStorage__schedule_expiry(self) -> None:
        # The base class calls its private ``__schedule_expiry`` on every counter update;
        # this sweeps at most once a second, in the caller, with no timer.
        now = time.monotonic()
        if now < self._next_sweep:
            return
        self._next_sweep = now + SWEEP_INTERVAL
        self.sweeps += 1
        self._MemoryStorage__expire_events()  # type: ignore[attr-defined]
