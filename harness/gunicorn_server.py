"""Run the broker exactly as ``make serve`` does (``gunicorn -c gunicorn.conf.py wsgi:app``).

    with GunicornServer(environment, log_path) as broker:
        requests.get(f"{broker.url}/api/getusertoken", cookies=...)

Bind it to ``127.0.0.1:0`` (``BROKER_BIND``): the URL is read from gunicorn's own
"Listening at" line, so parallel runs never collide. Start-up waits until a worker answers.
The master and its workers run in a session of their own and are stopped together.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

from harness.processes import ManagedProcess, answers

GUNICORN = str(Path(sys.executable).parent / "gunicorn")
LISTENING = r"Listening at: (http://127\.0\.0\.1:\d+)"


def isolated_environment(settings: Mapping[str, str], workers: int = 2) -> dict[str, str]:
    """``settings`` as the broker's only settings (none from a shell or a ``.env`` file), with
    ``workers`` workers, bound to a free loopback port."""
    return {
        **{k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")},
        "BROKER_ENV_FILE": os.devnull,
        "BROKER_BIND": "127.0.0.1:0",
        "BROKER_WORKERS": str(workers),
        **settings,
    }


class GunicornServer(ManagedProcess):
    """The production server with ``environment`` as its whole environment."""

    what = "broker (gunicorn)"

    def __init__(self, environment: Mapping[str, str], log_path: Path) -> None:
        super().__init__(
            [GUNICORN, "-c", "gunicorn.conf.py", "wsgi:app"],
            env=environment,
            log_path=log_path,
            group=True,
        )
        self.url = ""

    def ready(self) -> None:
        self.url = self.wait_for_log(LISTENING).group(1)
        self.wait_until(lambda: answers(f"{self.url}/api/getusertoken"), "a worker answered")
