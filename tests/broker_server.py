"""Run the broker under its production server config (gunicorn) as a real process.

    with BrokerServer({"MINDSET_API_HOST": vendor.url, ...}, tmp_path) as broker:
        requests.get(f"{broker.url}/api/getusertoken", cookies=...)

:class:`harness.gunicorn_server.GunicornServer` with the test's settings as the only broker
settings; leaving the block stops the whole process group and checks its logs for every
known secret.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from harness import cookies
from harness.gunicorn_server import GunicornServer, isolated_environment
from harness.standin_process import StandinProcess

from . import fake_secrets
from .conftest import assert_no_secret, mindset_settings


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


@contextmanager
def broker_beside_standin(
    log_dir: Path, *, workers: int = 2, **settings: str
) -> Iterator[BrokerServer]:
    """The production server calling a stand-in vendor process of its own: the tests' Mindset
    settings, with ``settings`` over them."""
    with (
        StandinProcess(fake_secrets.API_KEY, fake_secrets.APP_UID) as vendor,
        BrokerServer(
            mindset_settings(MINDSET_API_HOST=vendor.url, **settings), log_dir, workers=workers
        ) as process,
    ):
        yield process
