"""Run the example host app (``python -m examples.flask_login_host``) as a real process."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .conftest import assert_no_secret
from .processes import stop_process

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


@contextmanager
def running_host(settings: dict[str, str], log_dir: Path) -> Iterator[str]:
    """Start the host with ``settings`` as its environment; yield its base URL; stop it.

    Its log lines (stderr) are checked for every known secret once it has stopped.
    """
    env = {
        **{k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")},
        "PYTHONPATH": str(ROOT),
        "BROKER_ENV_FILE": os.devnull,
        **settings,
    }
    stderr_path = log_dir / "host.stderr"
    with stderr_path.open("w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "examples.flask_login_host", "--port", "0"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    stdout = process.stdout
    assert stdout is not None
    lines: queue.Queue[str] = queue.Queue()
    # A thread, so waiting for the ready line is bounded even if the process hangs silently.
    threading.Thread(target=lambda: lines.put(stdout.readline()), daemon=True).start()
    try:
        ready = lines.get(timeout=START_TIMEOUT)
        assert ready.startswith("HOST_READY "), stderr_path.read_text()
        yield ready.split()[1]
    finally:
        stop_process(process, STOP_TIMEOUT)
        stdout.close()
        assert_no_secret(stderr_path.read_text(), "the host process's logs")
