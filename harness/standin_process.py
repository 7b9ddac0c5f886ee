"""Run the stand-in vendor as a real process on loopback, for tests and the benchmark.

    with StandinProcess("key", "app-uid", latency_ms=5) as vendor:
        requests.post(f"{vendor.url}/api/v1/appuid/app-uid/sdkusers/auth", ...)
        assert vendor.stats()["auth_calls"] == 1

The process binds port 0 and announces its URL on stdout (``STANDIN_READY <url>``);
:meth:`stop` (also on leaving the ``with`` block) terminates it and kills it if it lingers.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import requests

from harness.processes import ManagedProcess

START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0
CONTROL_TIMEOUT = (2.0, 5.0)


class StandinProcess(ManagedProcess):
    """``python -m standin`` in a child process, with its control API as methods."""

    what = "stand-in vendor"

    def __init__(
        self, api_key: str, app_uid: str, *, log_path: Path | None = None, **options: Any
    ) -> None:
        """``options``: host, latency_ms, token_format, jwt_ttl (as on the command line)."""
        super().__init__(log_path=log_path, start_timeout=START_TIMEOUT, stop_timeout=STOP_TIMEOUT)
        self.api_key = api_key
        self.app_uid = app_uid
        self.host = str(options.pop("host", "127.0.0.1"))
        self._options = options
        self._session = requests.Session()
        self.url = ""
        self.port = 0

    def command(self) -> list[str]:
        cmd = [sys.executable, "-m", "standin", "--host", self.host, "--port", "0"]
        cmd += ["--app-uid", self.app_uid]
        for name, value in self._options.items():
            cmd += [f"--{name.replace('_', '-')}", str(value)]
        return cmd

    def environment(self) -> dict[str, str]:
        # The key goes through the environment, not argv, so `ps` does not show it.
        return {**os.environ, "STANDIN_API_KEY": self.api_key}

    def ready(self) -> None:
        self.url = self.wait_for_log(r"^STANDIN_READY (\S+)").group(1)
        self.port = int(self.url.rsplit(":", 1)[1])

    def stop(self) -> int | None:
        self._session.close()
        return super().stop()

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

    def reset(self) -> None:
        """Healthy again, with nothing recorded: the start of a test sharing the process."""
        self.clear_fault()
        self.clear()

    def configure(self, **settings: Any) -> None:
        """``settings``: latency_ms, token_format, jwt_ttl, api_keys (the keys accepted)."""
        self._call("POST", "config", settings)
