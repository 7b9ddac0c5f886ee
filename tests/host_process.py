"""Run the example host app (``python -m examples.flask_login_host``) as a real process."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from harness.processes import ROOT, ManagedProcess

from .conftest import assert_no_secret


@contextmanager
def running_host(settings: dict[str, str], log_dir: Path) -> Iterator[str]:
    """Start the host with ``settings`` as its environment; yield its base URL; stop it.

    Its log lines are checked for every known secret once it has stopped.
    """
    env = {
        **{k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")},
        "PYTHONPATH": str(ROOT),
        "BROKER_ENV_FILE": os.devnull,
        **settings,
    }
    host = ManagedProcess(
        [sys.executable, "-m", "examples.flask_login_host", "--port", "0"],
        what="example host app",
        env=env,
        log_path=log_dir / "host.log",
    )
    try:
        with host:
            yield host.wait_for_log(r"^HOST_READY (\S+)").group(1)
    finally:
        assert_no_secret(host.logs(), "the host process's logs")
