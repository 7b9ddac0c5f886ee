"""Run the broker's development server (``flask run``) as a real process on loopback.

    with BrokerProcess({"MINDSET_API_HOST": vendor.url, ...}) as broker:
        requests.get(f"{broker.url}/healthz", timeout=5)

For the demo page with the stand-in SDK, which only development serves; the production server
config runs through :class:`tests.broker_server.BrokerServer`.

The server binds port 0 and the real port is read from its start-up line, so parallel test
runs never collide; start-up waits until ``/healthz`` answers 200.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

from harness.processes import ManagedProcess, answers

# " * Running on http://127.0.0.1:41234"
LISTENING = r"Running on (http://127\.0\.0\.1:\d+)"


class BrokerProcess(ManagedProcess):
    """``flask --app wsgi run`` as a child process."""

    what = "broker (flask run)"

    def __init__(self, settings: Mapping[str, str]) -> None:
        super().__init__([sys.executable, "-m", "flask", "--app", "wsgi", "run"])
        self.settings = dict(settings)
        self.url = ""

    def environment(self) -> dict[str, str]:
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

    def ready(self) -> None:
        self.url = self.wait_for_log(LISTENING).group(1)
        self.wait_until(lambda: answers(f"{self.url}/healthz", 200), "/healthz answered 200")
