"""A real ``redis-server`` on a free loopback port, without persistence, for a test or a run.

with RedisProcess() as server:
    server.client().set("k", "v")
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Self

import redis

from harness.processes import ManagedProcess, free_port

START_TIMEOUT = 10.0
# Another process may take a probed port before redis-server binds it: try a few.
PORT_ATTEMPTS = 5


class RedisProcess(ManagedProcess):
    """``with RedisProcess() as server: server.url``; ``stop()`` ends it early.

    ``directory``: its working directory (a temporary one, removed on leaving, if none).
    """

    what = "redis-server"

    def __init__(self, directory: Path | None = None, *, log_path: Path | None = None) -> None:
        super().__init__(log_path=log_path, start_timeout=START_TIMEOUT)
        executable = shutil.which("redis-server")
        if executable is None:
            raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
        self.executable = executable
        self.directory = directory
        self._temporary: tempfile.TemporaryDirectory[str] | None = None
        self.port = 0
        self.url = ""

    def command(self) -> list[str]:
        if self.directory is None:
            raise RuntimeError("redis-server has no directory: start() picks one")
        return [
            self.executable,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.directory),
            "--save", "",
            "--appendonly", "no",
        ]  # fmt: skip

    def ready(self) -> None:
        client = redis.Redis.from_url(self.url, socket_timeout=0.5, socket_connect_timeout=0.5)
        try:
            self.wait_until(lambda: _pings(client), f"answering PING on port {self.port}")
        finally:
            client.close()

    def _start_on(self, port: int) -> None:
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        super().start()

    def start(self) -> Self:
        if self.directory is None:
            self._temporary = tempfile.TemporaryDirectory(prefix="broker-redis-")
            self.directory = Path(self._temporary.name)
        for attempt in range(PORT_ATTEMPTS):
            try:
                self._start_on(free_port())
                return self
            except RuntimeError:
                if attempt == PORT_ATTEMPTS - 1:
                    self._remove_directory()
                    raise
        raise AssertionError("unreachable")

    def start_again(self) -> None:
        """A new server on the same port, as after a Redis restart (with its data lost)."""
        self.stop()
        self._start_on(self.port)

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_timeout=2, socket_connect_timeout=2)

    def finish(self) -> None:
        self._remove_directory()

    def _remove_directory(self) -> None:
        if self._temporary is not None:
            self._temporary.cleanup()
            self._temporary = None
            self.directory = None


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
