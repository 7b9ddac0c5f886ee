"""The production server (``gunicorn -c gunicorn.conf.py wsgi:app``) as a child process.

Started on a free loopback port with the given environment, its stderr (gunicorn's and the
broker's JSON lines) kept in a file; stopped with SIGTERM, killed if it lingers.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

import requests
from flask import Flask

REPO_ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT = 30.0
STOP_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def session_cookie(secret_key: str, values: dict[str, str]) -> str:
    """A session cookie as the host app would sign it (production cookies are Secure, so a
    client on plain-HTTP loopback must send it by hand)."""
    app = Flask("host")
    app.secret_key = secret_key
    serializer = app.session_interface.get_signing_serializer(app)  # type: ignore[attr-defined]
    assert serializer is not None
    return str(serializer.dumps(values))


class ServerProcess:
    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        base = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("MINDSET_", "TYPINGMIND_", "BROKER_")) and k != "SECRET_KEY"
        }
        self.env = {
            **base,
            "BROKER_ENV_FILE": os.devnull,
            "BROKER_BIND": f"127.0.0.1:{self.port}",
            **env,
        }
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> ServerProcess:
        log = self.log_path.open("wb")
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
            cwd=REPO_ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited: {self.logs()[-2000:]}")
            try:
                if requests.get(f"{self.url}/openapi.json", timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.2)
        self.__exit__(None, None, None)
        raise RuntimeError(f"gunicorn did not start within {START_TIMEOUT} s")

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    @property
    def pid(self) -> int:
        """The gunicorn master's process id (its children are the workers)."""
        if self._proc is None:
            raise RuntimeError("the server is not running")
        return self._proc.pid

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")

    def worker_boots(self) -> int:
        return self.logs().count("Booting worker with pid")
