"""Run the broker's development server (``flask run``) as a real process on loopback.

    with BrokerProcess({"MINDSET_API_HOST": vendor.url, ...}) as broker:
        requests.get(f"{broker.url}/healthz", timeout=5)

For the demo page with the stand-in SDK, which only development serves; the production server
config runs through :class:`tests.broker_server.BrokerServer`.

The server binds port 0 and the real port is read from its start-up line, so parallel test
runs never collide. Its stderr is drained all along (a full pipe would block the server) and
kept in :attr:`BrokerProcess.lines`. :meth:`stop` terminates it and kills it if it lingers.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import IO

import requests

from .processes import stop_process

REPO_ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
# " * Running on http://127.0.0.1:41234"
_LISTENING = re.compile(r"Running on (http://127\.0\.0\.1:\d+)")


class BrokerProcess:
    """``flask --app wsgi run`` as a child process."""

    def __init__(self, settings: Mapping[str, str]) -> None:
        self.settings = dict(settings)
        self.url = ""
        self.lines: list[str] = []
        self._proc: subprocess.Popen[str] | None = None
        self._found = threading.Event()
        self._reader: threading.Thread | None = None

    def _command(self) -> list[str]:
        return [sys.executable, "-m", "flask", "--app", "wsgi", "run"]

    def _environment(self) -> dict[str, str]:
        keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")
        env = {name: os.environ[name] for name in keep if name in os.environ}
        env.update(
            {
                "BROKER_ENV_FILE": os.devnull,
                "PYTHONUNBUFFERED": "1",
                "FLASK_RUN_HOST": "127.0.0.1",
                "FLASK_RUN_PORT": "0",
            }
        )
        env.update(self.settings)
        return env

    def _drain(self, stream: IO[str]) -> None:
        for line in stream:
            self.lines.append(line.rstrip("\n"))
            match = _LISTENING.search(line)
            if match and not self._found.is_set():
                self.url = match.group(1)
                self._found.set()

    def start(self) -> BrokerProcess:
        self._proc = subprocess.Popen(
            self._command(),
            cwd=REPO_ROOT,
            env=self._environment(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert self._proc.stdout is not None
        self._reader = threading.Thread(target=self._drain, args=(self._proc.stdout,), daemon=True)
        self._reader.start()
        if not self._found.wait(START_TIMEOUT):
            self.stop()
            raise RuntimeError(
                f"broker did not start within {START_TIMEOUT} s:\n" + "\n".join(self.lines[-20:])
            )
        self._wait_until_ready()
        return self

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                if requests.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            if time.monotonic() > deadline or (self._proc and self._proc.poll() is not None):
                self.stop()
                raise RuntimeError("broker never answered /healthz:\n" + "\n".join(self.lines))
            time.sleep(0.1)

    def stop(self) -> int | None:
        proc, self._proc = self._proc, None
        if proc is None:
            return None
        stop_process(proc, STOP_TIMEOUT)
        # The reader sees end-of-file once the server is gone; then the pipe can be closed.
        if self._reader is not None:
            self._reader.join(STOP_TIMEOUT)
        if proc.stdout is not None:
            proc.stdout.close()
        return proc.returncode

    def __enter__(self) -> BrokerProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
