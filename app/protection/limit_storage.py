"""The in-process store for rate-limit counters: the ``limits`` memory store, swept less often.

``limits``' ``MemoryStorage`` removes expired counters from a timer that fires every 10 ms
and walks every key it holds. With a counter per signed-in user that walk became the
busiest code in a worker (a third of its CPU with 2000 users in rotation, measured with
py-spy under ``make bench``). Counters are already checked for expiry whenever they are read,
so the sweep only returns memory; once a second is plenty for that.

Registered under the ``broker-memory://`` scheme, so ``limits`` can also build it from a URI
like any other store.
"""

from __future__ import annotations

import threading

from limits.storage import MemoryStorage

SWEEP_INTERVAL = 1.0


class SweptMemoryStorage(MemoryStorage):
    # The registry of ``limits`` reads this list when the class is created.
    STORAGE_SCHEME = ["broker-memory"]  # noqa: RUF012

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options: str):
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        # The base class has already started its 10 ms timer; start the slow one instead.
        self.timer.cancel()
        self._start_sweep()

    def _MemoryStorage__schedule_expiry(self) -> None:
        # The base class calls its private ``__schedule_expiry`` on every counter update;
        # this replaces it with the same logic at a slower pace.
        if not self.timer.is_alive():
            self._start_sweep()

    def _start_sweep(self) -> None:
        sweep = self._MemoryStorage__expire_events  # type: ignore[attr-defined]
        self.timer = threading.Timer(SWEEP_INTERVAL, sweep)
        # A pending sweep must never keep a stopping process alive.
        self.timer.daemon = True
        self.timer.start()
