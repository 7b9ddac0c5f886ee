"""Run the broker under its production server config (gunicorn) as a real process.

    with BrokerServer({"MINDSET_API_HOST": vendor.url, ...}, tmp_path) as broker:
        requests.get(f"{broker.url}/api/getusertoken", cookies=...)

The server binds port 0 on loopback and the URL is read from gunicorn's own "Listening at"
line; start-up waits until a worker answers. Leaving the block stops the whole process group
and checks its logs for every known secret.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import TracebackType

import requests
from flask import Flask
from flask.sessions import SecureCookieSessionInterface

from . import fake_secrets
from .conftest import assert_no_secret

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
LISTENING = re.compile(r"Listening at: (http://127\.0\.0\.1:\d+)")


def session_cookie(values: dict[str, str]) -> str:
    """A session cookie exactly as a Flask host app sharing ``SECRET_KEY`` would write it.

    Sent as a plain cookie header, since production marks the broker's own cookies Secure and
    a plain-HTTP loopback client would not send those back.
    """
    host = Flask("host")
    host.secret_key = fake_secrets.SECRET_KEY
    serializer = SecureCookieSessionInterface().get_signing_serializer(host)
    assert serializer is not None
    return str(serializer.dumps(values))


class BrokerServer:
    """``gunicorn -c gunicorn.conf.py wsgi:app`` with ``settings`` as its environment."""

    def __init__(self, settings: dict[str, str], log_dir: Path, *, workers: int = 2) -> None:
        self.settings = settings
        self.workers = workers
        self.log_path = log_dir / "broker.stderr"
        self.url = ""
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> BrokerServer:
        env = {
            **{k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")},
            "BROKER_ENV_FILE": os.devnull,
            "BROKER_BIND": "127.0.0.1:0",
            "BROKER_WORKERS": str(self.workers),
            **self.settings,
        }
        gunicorn = Path(sys.executable).parent / "gunicorn"
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [str(gunicorn), "-c", "gunicorn.conf.py", "wsgi:app"],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        try:
            self.url = self._wait_until_listening()
            self._wait_until_answering()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_until_listening(self) -> str:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            match = LISTENING.search(self.logs())
            if match:
                return match.group(1)
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"broker exited at start-up:\n{self.logs()}")
            time.sleep(0.05)
        raise RuntimeError(f"broker did not listen within {START_TIMEOUT} s:\n{self.logs()}")

    def _wait_until_answering(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            try:
                requests.get(f"{self.url}/api/getusertoken", timeout=1)
                return
            except requests.RequestException:
                time.sleep(0.05)
        raise RuntimeError(f"no broker worker answered within {START_TIMEOUT} s:\n{self.logs()}")

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> int | None:
        process = self.process
        if process is None:
            return None
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=STOP_TIMEOUT)
        return process.returncode

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
        # Wait for the log reader of a killed group to settle before scanning it.
        threading.Event().wait(0.05)
        assert_no_secret(self.logs(), "the production server's logs")
