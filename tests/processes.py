"""Stopping a child process the tests started: politely first, then for sure."""

from __future__ import annotations

import subprocess
from typing import Any

STOP_TIMEOUT = 10.0


def stop_process(process: subprocess.Popen[Any], timeout: float = STOP_TIMEOUT) -> int | None:
    """SIGTERM, wait up to ``timeout``, then SIGKILL; returns the exit code.

    A test never leaves a process behind, even one that ignores SIGTERM or hangs on exit.
    """
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)
    return process.returncode
