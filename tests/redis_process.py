"""A real ``redis-server`` on a free loopback port in a temporary directory, for one test."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

import redis

from .processes import stop_process

START_TIMEOUT = 10.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class RedisProcess:
    """``with RedisProcess() as server: server.url``; ``stop()`` ends it early."""

    def __init__(self) -> None:
        executable = shutil.which("redis-server")
        if executable is None:
            raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
        self.executable = executable
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.port = 0
        self._dir: tempfile.TemporaryDirectory[str] | None = None

    def __enter__(self) -> RedisProcess:
        self._dir = tempfile.TemporaryDirectory(prefix="broker-redis-")
        # Another process may take a probed port first: try a few.
        for _ in range(5):
            if self._start(free_port()):
                return self
            self.stop()
        self.__exit__(None, None, None)
        raise RuntimeError("redis-server did not start")

    def start_again(self) -> None:
        """A new server on the same port, as after a Redis restart (with its data lost)."""
        self.stop()
        if not self._start(self.port):
            raise RuntimeError("redis-server did not start again on its port")

    def _start(self, port: int) -> bool:
        assert self._dir is not None
        self.port = port
        self.process = subprocess.Popen(
            [
                self.executable,
                "--port", str(port),
                "--bind", "127.0.0.1",
                "--dir", self._dir.name,
                "--save", "",
                "--appendonly", "no",
                "--logfile", str(Path(self._dir.name) / "redis.log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        self.url = f"redis://127.0.0.1:{port}/0"
        return self._wait_ready()

    def _wait_ready(self) -> bool:
        client = redis.Redis.from_url(self.url, socket_timeout=0.5, socket_connect_timeout=0.5)
        deadline = time.monotonic() + START_TIMEOUT
        try:
            while time.monotonic() < deadline:
                if self.process is None or self.process.poll() is not None:
                    return False
                try:
                    if client.ping():
                        return True
                except redis.RedisError:
                    time.sleep(0.02)
            return False
        finally:
            client.close()

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_timeout=2, socket_connect_timeout=2)

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process, START_TIMEOUT)

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None
