"""Run the stand-in vendor as a real process on loopback, for tests that cross the network.

    with StandinProcess("key", "app-uid", latency_ms=5) as vendor:
        requests.post(f"{vendor.url}/api/v1/appuid/app-uid/sdkusers/auth", ...)
        assert vendor.stats()["auth_calls"] == 1

The process picks a free port and announces it on stdout; :meth:`stop` (also on leaving the
``with`` block) terminates it and kills it if it lingers, so no test leaves one behind.
"""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import requests

from .processes import stop_process

REPO_ROOT = Path(__file__).resolve().parent.parent
READY_PREFIX = "STANDIN_READY "
START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0
CONTROL_TIMEOUT = (2.0, 5.0)


def _read_first_line(stream: IO[str], lines: queue.Queue[str]) -> None:
    lines.put(stream.readline())


class StandinProcess:
    """``python -m standin`` in a child process, with its control API as methods."""

    def __init__(self, api_key: str, app_uid: str, **options: Any) -> None:
        """``options``: host, latency_ms, token_format, jwt_ttl (as on the command line)."""
        self.api_key = api_key
        self.app_uid = app_uid
        self.host = str(options.pop("host", "127.0.0.1"))
        self._options = options
        self._proc: subprocess.Popen[str] | None = None
        self._session = requests.Session()
        self.url = ""
        self.port = 0

    def _command(self) -> list[str]:
        cmd = [sys.executable, "-m", "standin", "--host", self.host, "--port", "0"]
        cmd += ["--app-uid", self.app_uid]
        for name, value in self._options.items():
            cmd += [f"--{name.replace('_', '-')}", str(value)]
        return cmd

    def start(self) -> StandinProcess:
        # The key goes through the environment, not argv, so `ps` does not show it.
        env = {**os.environ, "STANDIN_API_KEY": self.api_key}
        self._proc = subprocess.Popen(
            self._command(), cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, text=True
        )
        assert self._proc.stdout is not None
        lines: queue.Queue[str] = queue.Queue()
        reader = threading.Thread(
            target=_read_first_line, args=(self._proc.stdout, lines), daemon=True
        )
        reader.start()
        try:
            line = lines.get(timeout=START_TIMEOUT)
        except queue.Empty:
            self.stop()
            raise RuntimeError(f"stand-in did not start within {START_TIMEOUT} s") from None
        if not line.startswith(READY_PREFIX):
            code = self.stop()
            raise RuntimeError(f"stand-in failed to start (exit {code}): {line!r}")
        self.url = line[len(READY_PREFIX) :].strip()
        self.port = int(self.url.rsplit(":", 1)[1])
        return self

    def stop(self) -> int | None:
        """Terminate, then kill after :data:`STOP_TIMEOUT`; returns the exit code."""
        self._session.close()
        proc, self._proc = self._proc, None
        if proc is None:
            return None
        stop_process(proc, STOP_TIMEOUT)
        if proc.stdout is not None:
            proc.stdout.close()
        return proc.returncode

    def __enter__(self) -> StandinProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # control API
    def _call(self, method: str, name: str, body: dict[str, Any] | None = None) -> Any:
        resp = self._session.request(
            method, f"{self.url}/_standin/{name}", json=body, timeout=CONTROL_TIMEOUT
        )
        resp.raise_for_status()
        return resp.json()

    def requests(self) -> list[dict[str, Any]]:
        """Requests the stand-in received, oldest first (headers lower-cased, body as JSON)."""
        result: list[dict[str, Any]] = self._call("GET", "requests")
        return result

    def clear(self) -> None:
        self._call("DELETE", "requests")

    def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "stats")
        return result

    def set_fault(self, mode: str, **options: Any) -> None:
        """``options``: status, retry_after, delay_ms, times, body (see standin.faults)."""
        self._call("POST", "fault", {"mode": mode, **options})

    def clear_fault(self) -> None:
        self._call("DELETE", "fault")

    def configure(self, **settings: Any) -> None:
        """``settings``: latency_ms, token_format, jwt_ttl."""
        self._call("POST", "config", settings)
