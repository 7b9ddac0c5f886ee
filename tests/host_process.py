"""Run the example host project (``python -m app`` in ``examples/flask_login_host``) as a real
process, importing the broker from this checkout."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from harness.processes import ROOT, ManagedProcess

from .conftest import assert_no_secret
from .example_host import EXAMPLE_DIR

HOST_READY = r"^HOST_READY (\S+)"


def host_process(
    settings: dict[str, str],
    log_dir: Path,
    *,
    python: str = sys.executable,
    project_dir: Path = EXAMPLE_DIR,
    broker_path: Path | None = ROOT,
) -> ManagedProcess:
    """The host in ``project_dir`` under ``python`` with ``settings`` as its environment.

    ``broker_path``: put on ``PYTHONPATH`` so the host imports the broker from there; ``None``
    when ``python`` has the broker installed.
    """
    env = {
        **{k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")},
        "BROKER_ENV_FILE": os.devnull,
        **settings,
    }
    if broker_path is not None:
        env["PYTHONPATH"] = str(broker_path)
    return ManagedProcess(
        [python, "-m", "app", "--port", "0"],
        what="example host app",
        env=env,
        cwd=project_dir,
        log_path=log_dir / "host.log",
    )


@contextmanager
def serving(host: ManagedProcess) -> Iterator[str]:
    """Start ``host``; yield its base URL; stop it, then check its logs for every known secret."""
    try:
        with host:
            yield host.wait_for_log(HOST_READY).group(1)
    finally:
        assert_no_secret(host.logs(), "the host process's logs")


def running_host(settings: dict[str, str], log_dir: Path) -> AbstractContextManager[str]:
    """The example host from this checkout, with ``settings`` as its environment."""
    return serving(host_process(settings, log_dir))
