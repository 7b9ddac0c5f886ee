"""Request coalescing inside one process: concurrent callers with one key share one call.

The first caller for a key (the leader) runs the work; callers arriving while it runs wait
for its outcome, a value or an exception, and get the same one. Nothing is remembered after
the call ends: the next caller starts a new call, so a failure is shared, never cached.

It works with OS threads (``flask run``, a host's threaded server) and with gevent greenlets (the
production worker): ``threading.Event`` is looked up when a call starts, after gevent's
monkey-patching has replaced it with a cooperative one, and the lock only guards dictionary
operations that never yield.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")

# A waiter gives up on a leader that takes longer than this and does the work itself; the
# leader's own timeouts end its call well before, so this only guards against a lost leader.
DEFAULT_MAX_WAIT = 30.0


class _Call(Generic[T]):
    __slots__ = ("done", "error", "followers", "value")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.followers = 0
        # Read only after the leader stored its value, so the initial one is never seen.
        self.value: T | None = None  # pragma: no mutate
        self.error: BaseException | None = None


class Coalescer(Generic[T]):
    """Single-flight calls keyed by a string."""

    def __init__(self, max_wait: float = DEFAULT_MAX_WAIT) -> None:
        self.max_wait = max_wait
        self._lock = threading.Lock()
        self._calls: dict[str, _Call[T]] = {}

    def waiting(self, key: str) -> int:
        """How many callers are waiting on the call in flight for ``key``."""
        call = self._calls.get(key)
        return 0 if call is None else call.followers

    def run(self, key: str, work: Callable[[], T]) -> tuple[T, bool]:
        """``(value, shared)``: ``shared`` is true when another caller's call answered."""
        with self._lock:
            call = self._calls.get(key)
            leader = call is None
            if call is None:
                call = self._calls[key] = _Call()
            else:
                call.followers += 1
        if leader:
            return self._lead(key, call, work), False
        if not call.done.wait(self.max_wait):
            return work(), False
        if call.error is not None:
            raise _copy_of(call.error)
        return call.value, True  # type: ignore[return-value]

    def _lead(self, key: str, call: _Call[T], work: Callable[[], T]) -> T:
        try:
            call.value = work()
            return call.value
        except BaseException as error:
            call.error = error
            raise
        finally:
            with self._lock:
                del self._calls[key]
            call.done.set()


def _copy_of(error: BaseException) -> BaseException:
    """Each waiter raises its own copy: one instance raised in many places grows one traceback."""
    try:
        duplicate = copy.copy(error)
    except Exception:
        return error
    duplicate.__cause__ = error.__cause__
    return duplicate.with_traceback(None)
