"""Run the broker under its production server config (gunicorn) as a real process.

    with BrokerServer({"MINDSET_API_HOST": vendor.url, ...}, tmp_path) as broker:
        requests.get(f"{broker.url}/api/getusertoken", cookies=...)

:class:`harness.gunicorn_server.GunicornServer` with the test's settings as the only broker
settings; leaving the block stops the whole process group and checks its logs for every
known secret.
"""

from __future__ import annotations

from pathlib import Path

from harness import cookies
from harness.gunicorn_server import GunicornServer, isolated_environment

from . import fake_secrets
from .conftest import assert_no_secret


def session_cookie(values: dict[str, str]) -> str:
    """A session cookie as a Flask host app sharing the tests' ``SECRET_KEY`` would write it."""
    return cookies.session_cookie(values, fake_secrets.SECRET_KEY)


class BrokerServer(GunicornServer):
    """``gunicorn -c gunicorn.conf.py wsgi:app`` with ``settings`` as its environment."""

    def __init__(self, settings: dict[str, str], log_dir: Path, *, workers: int = 2) -> None:
        super().__init__(isolated_environment(settings, workers), log_dir / "broker.stderr")
        self.settings = settings
        self.workers = workers

    def finish(self) -> None:
        assert_no_secret(self.logs(), "the production server's logs")
