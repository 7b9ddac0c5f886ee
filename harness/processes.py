"""A child process started for a test or the benchmark: started, waited for, stopped for sure.

    with ManagedProcess(["redis-server", "--port", str(port)]) as server:
        server.wait_until(lambda: pinged(port), "redis-server answered PING")

Its stdout and stderr go to one log file, never to a pipe: a chatty process could fill a pipe
nobody reads and hang. Readiness is read from that file (:meth:`ManagedProcess.wait_for_log`)
or probed (:meth:`ManagedProcess.wait_until`), both bounded in time and cut short when the
process exits. Stopping is SIGTERM, a bounded wait, then SIGKILL, so nothing is left behind.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess  # nosec B404
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import requests

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
POLL_INTERVAL = 0.05
LOG_TAIL = 3000


def free_port() -> int:
    """A loopback port that was free a moment ago, for a server that cannot report the one it
    bound. Another process may take it first: prefer port 0 where the server says its port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def stop_process(
    process: subprocess.Popen[Any], timeout: float = STOP_TIMEOUT, *, group: bool = False
) -> int | None:
    """SIGTERM, wait up to ``timeout``, then SIGKILL; returns the exit code.

    ``group``: signal the process's whole session (it was started with one of its own), so
    the workers of a server go too. A process that ignores SIGTERM or hangs on exit still ends.
    """
    if process.poll() is None:
        _signal(process, signal.SIGTERM, group)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            _signal(process, signal.SIGKILL, group)
            process.wait(timeout)
    return process.returncode


def _signal(process: subprocess.Popen[Any], number: signal.Signals, group: bool) -> None:
    # It may have exited between the poll and the signal.
    with contextlib.suppress(ProcessLookupError):
        if group:
            os.killpg(process.pid, number)
        else:
            process.send_signal(number)


def run_to_end(
    argv: Sequence[str], env: Mapping[str, str], timeout: float = 60.0
) -> subprocess.CompletedProcess[str]:
    """A command that ends by itself (a CLI call, a start-up that is refused), run from the
    repository root with ``env`` as its whole environment; its output captured as text.
    Bounded by ``timeout``; its exit code is for the caller to judge."""
    # A fixed argv built by the caller, no shell.
    return subprocess.run(  # nosec B603
        list(argv),
        cwd=ROOT,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def answers(url: str, status: int | None = None) -> bool:
    """Whether ``url`` answers at all (or with ``status``) within a second."""
    try:
        response = requests.get(url, timeout=1)
    except requests.RequestException:
        return False
    return status is None or response.status_code == status


class ManagedProcess:
    """``argv`` as a child process; subclasses override :meth:`command` and :meth:`ready`.

    ``what``: its name in error messages. ``log_path``: where its output goes (a temporary
    file, removed at :meth:`stop`, if none).
    ``group``: start it in a session of its own and stop the whole session (a server's workers).
    ``cwd``: its working directory (the repository's root if none).
    :meth:`start` may be called again after :meth:`stop`; the log file is appended to.
    """

    what = "process"

    def __init__(
        self,
        argv: Sequence[str] = (),
        *,
        what: str | None = None,
        env: Mapping[str, str] | None = None,
        log_path: Path | None = None,
        group: bool = False,
        cwd: Path = ROOT,
        start_timeout: float = START_TIMEOUT,
        stop_timeout: float = STOP_TIMEOUT,
    ) -> None:
        self.argv = list(argv)
        self.cwd = cwd
        self.what = what or self.what
        self.env = dict(env) if env is not None else None
        self.log_path = log_path
        self.group = group
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.process: subprocess.Popen[bytes] | None = None
        self._temporary_log = log_path is None
        self._kept_logs = ""
        self._log_offset = 0

    def command(self) -> list[str]:
        return self.argv

    def environment(self) -> dict[str, str] | None:
        """The child's whole environment (``None``: this process's)."""
        return self.env

    def ready(self) -> None:
        """Return once the process serves; raise (via the waits below) if it never does."""

    @property
    def pid(self) -> int:
        if self.process is None:
            raise RuntimeError(f"the {self.what} is not running")
        return self.process.pid

    def start(self) -> Self:
        if self.log_path is None:
            handle, name = tempfile.mkstemp(prefix=re.sub(r"\W+", "-", self.what), suffix=".log")
            os.close(handle)
            self.log_path = Path(name)
        with self.log_path.open("ab") as log:
            # A log may hold an earlier run's lines (a restart, a reused name): readiness is
            # read only from what this run writes.
            self._log_offset = log.tell()
            # A fixed argv built by the caller, no shell.
            self.process = subprocess.Popen(  # nosec B603
                self.command(),
                cwd=self.cwd,
                env=self.environment(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=self.group,
            )
        try:
            self.ready()
        except BaseException:
            self.stop()
            raise
        return self

    def logs(self) -> str:
        """Everything it wrote to stdout and stderr so far (also after :meth:`stop`)."""
        if self.log_path is None or not self.log_path.exists():
            return self._kept_logs
        return self.log_path.read_text(errors="replace")

    def output(self) -> str:
        """What it wrote since the last :meth:`start`."""
        if self.log_path is None or not self.log_path.exists():
            return ""
        with self.log_path.open("rb") as log:
            log.seek(self._log_offset)
            return log.read().decode(errors="replace")

    def failure(self, problem: str) -> RuntimeError:
        """An error naming the process, what went wrong and the end of its output."""
        tail = self.output()[-LOG_TAIL:]
        return RuntimeError(f"{self.what}: {problem}; its output ends:\n{tail}")

    def wait_until(self, check: Callable[[], bool], what: str) -> None:
        """Poll ``check`` until it holds; fail at the start timeout or when the process exits."""
        deadline = time.monotonic() + self.start_timeout
        while not check():
            if self.process is None or self.process.poll() is not None:
                code = None if self.process is None else self.process.returncode
                raise self.failure(f"exited (code {code}) before {what}")
            if time.monotonic() > deadline:
                raise self.failure(f"not {what} within {self.start_timeout:g} s")
            time.sleep(POLL_INTERVAL)

    def wait_for_log(self, pattern: str) -> re.Match[str]:
        """The first match of ``pattern`` (multi-line) in what it wrote since it started."""
        compiled = re.compile(pattern, re.MULTILINE)
        found: list[re.Match[str]] = []

        def written() -> bool:
            match = compiled.search(self.output())
            if match:
                found.append(match)
            return match is not None

        self.wait_until(written, f"logged {pattern!r}")
        return found[0]

    def stop(self) -> int | None:
        """Stop it (SIGTERM, bounded wait, SIGKILL); its exit code, or None if not running."""
        process, self.process = self.process, None
        if process is None:
            return None
        stop_process(process, self.stop_timeout, group=self.group)
        if self._temporary_log and self.log_path is not None:
            self._kept_logs = self.logs()
            self.log_path.unlink(missing_ok=True)
            self.log_path = None
        return process.returncode

    def finish(self) -> None:
        """On leaving the ``with`` block, after :meth:`stop`: release or check what is left."""

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
        self.finish()
