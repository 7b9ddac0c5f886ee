"""The deadline watchdog on its own: which sockets it cuts, when, and which it leaves alone.

A fresh :class:`Watchdog` per test (the module's own one is built at import), with socket
pairs on this machine standing in for vendor connections. A cut shows as the blocked read
returning at once with nothing; every bound on elapsed time is far above scheduling noise.
"""

from __future__ import annotations

import socket
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from flask_token_broker.mindset import deadline as deadline_module
from flask_token_broker.mindset.deadline import TICK, Watchdog

# Far above a loaded machine's scheduling delays, far below a missed deadline's wait (10 s).
LATE = 2.0
NEVER = 10.0


class Connection:
    """What a urllib3 connection carries for the watchdog (mindset/transport.py)."""

    _watch_handle: socket.socket | None = None
    _watch_owner: Any = None


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    ours, theirs = socket.socketpair()
    ours.settimeout(NEVER)
    try:
        yield ours, theirs
    finally:
        ours.close()
        theirs.close()


_opened: list[tuple[Watchdog, Connection]] = []


@pytest.fixture(autouse=True)
def release_handles() -> Iterator[None]:
    """Each connection closes in the end, and with it the watchdog's handle on its socket."""
    yield
    while _opened:
        watchdog, connection = _opened.pop()
        watchdog.release(connection)


def connected(watchdog: Watchdog, attempt: Any, sock: socket.socket) -> Connection:
    """A connection that opened ``sock`` while ``attempt`` was running."""
    connection = Connection()
    _opened.append((watchdog, connection))
    token = deadline_module._current.set(attempt)
    try:
        watchdog.adopt(connection, sock)
    finally:
        deadline_module._current.reset(token)
    return connection


def seconds_until_cut(sock: socket.socket) -> float:
    started = time.monotonic()
    assert sock.recv(1) == b""  # shut down, not answered
    return time.monotonic() - started


def is_cut(sock: socket.socket, wait: float) -> bool:
    sock.settimeout(wait)
    try:
        return sock.recv(1) == b""
    except TimeoutError:
        return False


def test_a_running_attempt_is_cut_off_at_its_deadline(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    watchdog = Watchdog()
    attempt = watchdog.watch(time.monotonic() + 0.3)
    connected(watchdog, attempt, pair[0])
    assert seconds_until_cut(pair[0]) < 0.3 + LATE
    assert attempt.fired
    thread = watchdog._thread
    assert thread is not None
    # A daemon, named so that it can be recognised in a thread dump.
    assert thread.daemon is True
    assert thread.name == "mindset-deadline-watchdog"


def test_a_finished_attempt_is_not_cut(pair: tuple[socket.socket, socket.socket]) -> None:
    watchdog = Watchdog()
    attempt = watchdog.watch(time.monotonic() + 0.2)
    connected(watchdog, attempt, pair[0])
    watchdog.finish(attempt)
    assert not is_cut(pair[0], 0.2 + 0.5)
    assert not attempt.fired


def test_a_connection_taken_over_by_a_later_attempt_is_not_cut_by_the_earlier_deadline(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    watchdog = Watchdog()
    first = watchdog.watch(time.monotonic() + 0.2)
    connection = connected(watchdog, first, pair[0])
    later = watchdog.watch(time.monotonic() + NEVER)
    token = deadline_module._current.set(later)  # the kept-alive connection serves a new call
    try:
        watchdog.bind(connection)
    finally:
        deadline_module._current.reset(token)
    assert not is_cut(pair[0], 0.2 + 0.5)
    assert first.fired


def test_an_attempt_that_fired_before_connecting_is_cut_as_soon_as_it_connects(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    watchdog = Watchdog()
    attempt = watchdog.watch(time.monotonic() + 0.05)
    for _ in range(100):
        if attempt.fired:
            break
        time.sleep(0.05)
    assert attempt.fired
    connected(watchdog, attempt, pair[0])
    assert seconds_until_cut(pair[0]) < LATE


def test_deadlines_keep_being_honoured_one_after_another(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    watchdog = Watchdog()
    # A deadline passing with no connection bound, then the heap empty for a while.
    unconnected = watchdog.watch(time.monotonic() + 0.05)
    time.sleep(0.3)
    assert unconnected.fired
    attempt = watchdog.watch(time.monotonic() + 0.2)
    connected(watchdog, attempt, pair[0])
    assert seconds_until_cut(pair[0]) < 0.2 + LATE


def test_an_earlier_deadline_wakes_a_watchdog_waiting_for_a_later_one(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    watchdog = Watchdog()
    watchdog.watch(time.monotonic() + NEVER)
    time.sleep(0.1)  # the watchdog now sleeps until that one
    attempt = watchdog.watch(time.monotonic() + 0.2)
    connected(watchdog, attempt, pair[0])
    assert seconds_until_cut(pair[0]) < 0.2 + LATE


def test_many_finished_attempts_do_not_delay_a_running_one(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    watchdog = Watchdog()
    due = time.monotonic() + 0.3
    for _ in range(200):  # finished calls whose deadlines come due together
        watchdog.finish(watchdog.watch(due))
    attempt = watchdog.watch(due + 0.01)
    connected(watchdog, attempt, pair[0])
    assert seconds_until_cut(pair[0]) < 0.3 + LATE


def test_an_idle_watchdog_sleeps_until_the_next_deadline(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    watchdog = Watchdog()
    waits: list[float | None] = []
    wake = watchdog._wake

    class CountingCondition(threading.Condition):
        def wait(self, timeout: float | None = None) -> bool:
            waits.append(timeout)
            return super().wait(timeout)

    watchdog._wake = CountingCondition(watchdog._lock)
    del wake
    watchdog.watch(time.monotonic() + NEVER)
    time.sleep(20 * TICK)
    # One sleep until the deadline, not one per tick.
    assert len(waits) <= 2


def test_after_a_fork_the_watchdog_starts_afresh(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    watchdog = Watchdog()
    # The parent's state as the child inherits it: a thread that does not run in the child,
    # a held lock, and the parent's deadlines.
    watchdog._thread = threading.Thread(target=lambda: None)
    watchdog._lock.acquire()
    watchdog._heap.append((time.monotonic(), 0, deadline_module._Attempt()))
    watchdog._forget_thread()  # what os.fork runs in the child
    attempt = watchdog.watch(time.monotonic() + 0.2)
    connected(watchdog, attempt, pair[0])
    assert seconds_until_cut(pair[0]) < 0.2 + LATE


def test_cutting_a_connection_already_closed_is_harmless() -> None:
    sock = socket.socket()
    sock.close()
    connection = Connection()
    connection._watch_handle = sock
    deadline_module._cut(connection)  # no OSError escapes into the watchdog thread
    deadline_module._cut(Connection())  # nor does a connection without a handle fail


class _Monkey:
    """gevent.monkey as a gevent worker's process has it: ``patched`` are the patched modules."""

    def __init__(self, *patched: str) -> None:
        self.patched = set(patched)

    def is_module_patched(self, name: str) -> bool:
        return name in self.patched


@pytest.mark.parametrize(
    ("monkey", "gevent_bounds_the_attempt"),
    [
        (None, False),  # gevent never imported: a host app without it
        (_Monkey(), False),  # imported, nothing patched: a threaded server that has gevent
        (_Monkey("thread", "time"), False),  # patched, but not the socket the call waits on
        (_Monkey("socket"), True),  # a gevent worker
    ],
)
def test_gevent_bounds_an_attempt_only_where_it_patched_the_socket(
    monkeypatch: pytest.MonkeyPatch, monkey: _Monkey | None, gevent_bounds_the_attempt: bool
) -> None:
    """Elsewhere a gevent Timeout could not interrupt a blocked socket read: the watchdog must."""
    if monkey is None:
        monkeypatch.delitem(sys.modules, "gevent.monkey", raising=False)
    else:
        monkeypatch.setitem(sys.modules, "gevent.monkey", monkey)
    assert deadline_module._gevent_patched_socket() is gevent_bounds_the_attempt
