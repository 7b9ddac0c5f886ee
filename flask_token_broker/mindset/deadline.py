"""Cut a whole vendor attempt off at its deadline, in every worker model.

Socket timeouts bound each read, not their sum: a vendor that sends its status line, headers
or body a byte at a time passes every one of them. Two mechanisms, one per worker model:

- under gevent (the production default), a ``gevent.Timeout`` interrupts the attempt wherever
  it waits;
- with threads (the development server, a host's own threaded server), one shared
  watchdog thread keeps a heap of deadlines and, when one passes, shuts down the socket of the
  attempt that owns it. The blocked read returns at once, whatever it was reading (TLS
  handshake, headers or body), and the attempt reports that its deadline fired.

Per call the watchdog costs a heap push and two short lock holds, no thread and no timer
(about 3 us measured, against some 350-400 us of client CPU per token). A deadline is
honoured within :data:`TICK` of its instant.
"""

from __future__ import annotations

import contextlib
import contextvars
import heapq
import itertools
import os
import socket
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

# How late past its deadline an attempt may be cut off; the watchdog never sleeps less, so
# however many calls are in flight it wakes at most 1/TICK times a second.
TICK = 0.05


class AttemptOverrun(Exception):
    """The whole attempt outlived its deadline (raised by :func:`whole_attempt_bound`)."""


class _Attempt:
    # Its deadline is kept in the watchdog's heap entry, the only place that reads it.
    __slots__ = ("connection", "done", "fired")

    def __init__(self) -> None:
        self.connection: Any = None
        self.done = False  # pragma: no mutate - None would read the same
        self.fired = False  # pragma: no mutate - None would read the same


# The attempt running in this thread (or greenlet), for the connection it uses to find.
_current: contextvars.ContextVar[_Attempt | None] = contextvars.ContextVar(
    "mindset_attempt", default=None
)


class Watchdog:
    """One thread cutting off, at their deadlines, the attempts that are still running.

    Finished attempts stay in the heap until their deadline (removing them would cost a search
    per call) and are skipped then. Each connection carries a duplicate of its socket, made
    when it connects: shutting that down ends every read of the connection, even during the
    TLS handshake, when the original socket object has already been handed to ``ssl``. A
    connection answers to the attempt that bound it last, so a deadline never cuts a kept-alive
    connection that another attempt has taken since.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._heap: list[tuple[float, int, _Attempt]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None
        os.register_at_fork(after_in_child=self._forget_thread)

    def _forget_thread(self) -> None:
        # A forked worker inherits the heap but not the thread: start afresh.
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._heap = []
        self._thread = None

    def watch(self, deadline: float) -> _Attempt:
        attempt = _Attempt()
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="mindset-deadline-watchdog", daemon=True
                )
                self._thread.start()
            heapq.heappush(self._heap, (deadline, next(self._order), attempt))
            # Deadlines mostly arrive in order; wake the thread only for an earlier one.
            if self._heap[0][2] is attempt:
                self._wake.notify()
        return attempt

    def finish(self, attempt: _Attempt) -> None:
        with self._lock:
            attempt.done = True
            # Drops the reference while the attempt waits in the heap ("" would do as well).
            attempt.connection = None  # pragma: no mutate

    def bind(self, connection: Any) -> None:
        """``connection`` now serves the current attempt (if any)."""
        attempt = _current.get()
        if attempt is None:
            return
        with self._lock:
            if attempt.done:
                return
            attempt.connection = connection
            connection._watch_owner = attempt
            if attempt.fired:
                _cut(connection)

    def adopt(self, connection: Any, sock: socket.socket) -> None:
        """``connection`` has just opened ``sock``: keep a handle to shut it down with."""
        handle = sock.dup()
        with self._lock:
            old, connection._watch_handle = connection._watch_handle, handle
        if old is not None:
            old.close()
        self.bind(connection)

    def release(self, connection: Any) -> None:
        """``connection`` has closed its socket: close the handle too."""
        with self._lock:
            handle, connection._watch_handle = connection._watch_handle, None
            connection._watch_owner = None  # pragma: no mutate - no attempt is "" either
        if handle is not None:
            handle.close()

    def _run(self) -> None:
        with self._lock:
            while True:
                now = time.monotonic()
                # "<" would differ only at the very instant of a deadline.
                while self._heap and self._heap[0][0] <= now:  # pragma: no mutate
                    attempt = heapq.heappop(self._heap)[2]
                    if attempt.done:
                        continue
                    attempt.fired = True
                    connection = attempt.connection
                    if connection is not None and connection._watch_owner is attempt:
                        _cut(connection)
                wait = max(self._heap[0][0] - now, TICK) if self._heap else None
                self._wake.wait(wait)


def _cut(connection: Any) -> None:
    handle = connection._watch_handle
    if handle is None:
        return
    with contextlib.suppress(OSError):  # already closed by the peer: nothing left to cut
        handle.shutdown(socket.SHUT_RDWR)


WATCHDOG = Watchdog()


@contextlib.contextmanager
def whole_attempt_bound(deadline: float) -> Iterator[None]:
    """Raise :class:`AttemptOverrun` if the attempt inside is still running at ``deadline``.

    Whatever the cut-off made the attempt raise (a reset, a short body, a parse error) is
    replaced by the overrun: the deadline is the reason, and the only one worth reporting.
    """
    if _gevent_patched_socket():
        with _gevent_bound(deadline - time.monotonic()):
            yield
        return
    attempt = WATCHDOG.watch(deadline)
    token = _current.set(attempt)
    try:
        yield
    except Exception:
        if attempt.fired:
            raise AttemptOverrun() from None
        raise
    finally:
        _current.reset(token)
        WATCHDOG.finish(attempt)
    if attempt.fired:
        raise AttemptOverrun()


def _gevent_patched_socket() -> bool:
    """Whether gevent's monkey-patching replaced ``socket`` in this process (a gevent worker).

    gevent is optional for a host app: where it was never imported, nothing is patched, and
    the attempt is bounded by the watchdog thread.
    """
    monkey = sys.modules.get("gevent.monkey")
    return monkey is not None and bool(monkey.is_module_patched("socket"))


@contextlib.contextmanager
def _gevent_bound(seconds: float) -> Iterator[None]:
    # Only reached once gevent has patched this process, so it is imported.
    Timeout = sys.modules["gevent"].Timeout
    timer = Timeout(seconds)
    timer.start()
    try:
        yield
    except Timeout as fired:
        if fired is not timer:
            raise
        raise AttemptOverrun() from None
    finally:
        timer.close()
