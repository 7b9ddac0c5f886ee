"""``kill -HUP`` on the production server under load: a rotated key with no failed request, and
an invalid new configuration refused while the old workers keep serving.

A real gunicorn reads ``MINDSET_API_KEY`` from ``MINDSET_API_KEY_FILE`` and mints tokens from
the stand-in vendor process; client threads ask for tokens all along, each request for a new
user so each one reaches the vendor.
"""

from __future__ import annotations

import itertools
import os
import re
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from harness.standin_process import StandinProcess

from . import fake_secrets
from .broker_server import BrokerServer, session_cookie
from .conftest import mindset_settings
from .test_ops_processes import METRICS_TOKEN, scrape, token_requests

pytestmark = pytest.mark.network

OLD_KEY = "mk_live_rotation_OLD_0123456789abcdef"
NEW_KEY = "mk_live_rotation_NEW_0123456789abcdef"
CLIENTS = 3
WAIT = 30.0
BOOTED = re.compile(r"Booting worker with pid: (\d+)")


class Load:
    """Client threads asking for tokens until stopped; every answer that is not 200 is kept."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.done = 0
        self.failures: list[str] = []
        self.resent = 0
        self._users = itertools.count()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(CLIENTS)]

    def _run(self) -> None:
        # A kept-alive session per client, as a load balancer keeps its connections.
        with requests.Session() as session:
            while not self._stop.is_set():
                cookie = session_cookie({"user_id": f"user-{next(self._users)}"})
                try:
                    response = self._get(session, cookie)
                    outcome = None if response.status_code == 200 else response.text[:200]
                except requests.RequestException as error:
                    outcome = f"{type(error).__name__}: {error}"
                with self._lock:
                    self.done += 1
                    if outcome is not None:
                        self.failures.append(outcome)

    def _get(self, session: requests.Session, cookie: str) -> requests.Response:
        def get() -> requests.Response:
            return session.get(
                f"{self.url}/api/getusertoken", headers={"Cookie": f"session={cookie}"}, timeout=10
            )

        try:
            return get()
        except requests.Timeout:
            raise
        except requests.ConnectionError:
            # A retiring worker closes its idle kept-alive connections; one that closes just as
            # the next request is sent on it never saw that request. HTTP lets a client resend
            # an idempotent request then, and the load balancer of deploy/nginx.conf does
            # (proxy_next_upstream error): once, on a fresh connection. A broker that is down
            # fails the second try too, and a timeout is never retried.
            with self._lock:
                self.resent += 1
            return get()

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(WAIT)

    def wait_for(self, more: int) -> None:
        """Until ``more`` further requests have been answered."""
        target = self.done + more
        until(lambda: self.done >= target, f"{more} more requests answered")


def until(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not check():
        assert time.monotonic() < deadline, f"not {what} within {WAIT:g} s"
        time.sleep(0.05)


def write_atomically(path: Path, content: str) -> None:
    """As an orchestrator updates a mounted secret: a whole new file renamed into place."""
    staged = path.with_suffix(".new")
    staged.write_text(content)
    os.replace(staged, path)


def fifo_in_place_of(path: Path) -> None:
    path.unlink()
    os.mkfifo(path)


def keys_seen(vendor: StandinProcess) -> list[str]:
    return [seen["headers"].get("x-api-key", "") for seen in vendor.requests()]


@pytest.fixture
def vendor() -> Iterator[StandinProcess]:
    with StandinProcess(OLD_KEY, fake_secrets.APP_UID) as process:
        yield process


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    key_file, env_file = tmp_path / "mindset_api_key", tmp_path / "broker.env"
    key_file.write_text(OLD_KEY + "\n")
    env_file.write_text("BROKER_DEADLINE=8\n")
    return key_file, env_file


def reloadable_settings(
    vendor: StandinProcess, files: tuple[Path, Path], **extra: str
) -> dict[str, str]:
    """The key from its file, the rest of the configuration from the env file, and rate
    limits far above the test's load."""
    key_file, env_file = files
    return mindset_settings(
        MINDSET_API_HOST=vendor.url,
        MINDSET_API_KEY="",
        MINDSET_API_KEY_FILE=str(key_file),
        BROKER_ENV_FILE=str(env_file),
        BROKER_RATE_LIMIT="100000/minute",
        BROKER_RATE_LIMIT_PER_IP="100000/minute",
        **extra,
    )


@pytest.fixture
def server(
    vendor: StandinProcess, files: tuple[Path, Path], tmp_path: Path
) -> Iterator[BrokerServer]:
    with BrokerServer(reloadable_settings(vendor, files), tmp_path, workers=2) as process:
        until(lambda: process.output().count("broker ready") == 2, "both workers ready")
        yield process
    for key in (OLD_KEY, NEW_KEY):
        assert key not in process.logs()


def booted(server: BrokerServer) -> list[str]:
    return BOOTED.findall(server.output())


def reload_and_wait(server: BrokerServer, first_workers: list[str]) -> None:
    """HUP, then until the new workers have booted and the old ones have exited."""
    os.kill(server.pid, signal.SIGHUP)
    until(lambda: len(booted(server)) == 2 * len(first_workers), "new workers booted")
    until(
        lambda: all(f"pid: {pid})" in server.output() for pid in first_workers),
        "the old workers exited",
    )


def test_a_rotated_key_takes_effect_on_hup_with_no_failed_request(
    server: BrokerServer, vendor: StandinProcess, files: tuple[Path, Path]
) -> None:
    key_file, _ = files
    first_workers = booted(server)
    with Load(server.url) as load:
        load.wait_for(30)
        # The vendor accepts both keys while the broker moves to the new one.
        vendor.configure(api_keys=[OLD_KEY, NEW_KEY])
        write_atomically(key_file, NEW_KEY + "\n")
        reload_and_wait(server, first_workers)
        vendor.clear()
        load.wait_for(30)
        assert set(keys_seen(vendor)) == {NEW_KEY}
        # The old key revoked: nothing still uses it.
        vendor.configure(api_keys=[NEW_KEY])
        load.wait_for(30)
    assert load.failures == []
    assert "broker configuration reloaded" in server.output()


@pytest.mark.parametrize(
    ("break_it", "named"),
    [
        (lambda key, env: env.write_text("BROKER_DEADLINE=abc\n"), "BROKER_DEADLINE"),
        (lambda key, env: write_atomically(key, ""), "MINDSET_API_KEY_FILE"),
        (lambda key, env: key.unlink(), "MINDSET_API_KEY_FILE"),
        # A FIFO in the key file's place: the reload must not wait for a writer.
        (lambda key, env: fifo_in_place_of(key), "MINDSET_API_KEY_FILE"),
        (lambda key, env: write_atomically(key, "two\nlines"), "MINDSET_API_KEY"),
        (lambda key, env: env.write_text("BROKER_KEEPALIVE=long\n"), "BROKER_KEEPALIVE"),
        (
            lambda key, env: env.write_text("BROKER_USER_RESOLVER=no_such_module:resolve\n"),
            "BROKER_USER_RESOLVER",
        ),
    ],
    ids=[
        "bad-setting",
        "empty-key-file",
        "missing-key-file",
        "fifo-key-file",
        "key-no-header-carries",
        "bad-server-setting",
        "unimportable-resolver",
    ],
)
def test_an_invalid_new_configuration_is_refused_and_the_old_workers_keep_serving(
    server: BrokerServer,
    vendor: StandinProcess,
    files: tuple[Path, Path],
    break_it: Callable[[Path, Path], object],
    named: str,
) -> None:
    workers = booted(server)
    with Load(server.url) as load:
        load.wait_for(20)
        break_it(*files)
        os.kill(server.pid, signal.SIGHUP)
        until(lambda: "reload refused" in server.output(), "the reload refused")
        load.wait_for(30)
    (refusal,) = [line for line in server.output().splitlines() if "reload refused" in line]
    assert named in refusal
    assert "keep serving the previous configuration" in refusal
    assert load.failures == []
    assert load.resent == 0  # no worker retired, so no connection was closed under a client
    # No worker was replaced, and the master still runs them.
    assert booted(server) == workers
    assert server.process is not None
    assert server.process.poll() is None
    assert set(keys_seen(vendor)) == {OLD_KEY}


def test_a_worker_started_after_a_refused_reload_loads_the_accepted_configuration(
    server: BrokerServer, vendor: StandinProcess, files: tuple[Path, Path]
) -> None:
    key_file, _ = files
    victim, survivor = booted(server)
    write_atomically(key_file, "")
    os.kill(server.pid, signal.SIGHUP)
    until(lambda: "reload refused" in server.output(), "the reload refused")
    # A worker that dies now (out of memory, killed by an operator) is replaced by the master:
    # the replacement must not read the file that the reload refused.
    os.kill(int(victim), signal.SIGKILL)
    until(lambda: len(booted(server)) == 3, "a replacement worker booted")
    until(lambda: server.output().count("broker ready") == 3, "the replacement ready")
    with Load(server.url) as load:
        load.wait_for(40)
    assert load.failures == []
    assert "exited with code 1" not in server.output()
    assert "configuration error" not in server.output()
    assert set(keys_seen(vendor)) == {OLD_KEY}
    assert survivor in booted(server)


def test_sigterm_lets_a_request_in_flight_finish_and_refuses_new_ones(
    server: BrokerServer, vendor: StandinProcess
) -> None:
    vendor.set_fault("slow", delay_ms=4000)
    answers: list[int] = []
    cookie = session_cookie({"user_id": "in-flight"})

    def ask() -> None:
        response = requests.get(
            f"{server.url}/api/getusertoken", headers={"Cookie": f"session={cookie}"}, timeout=15
        )
        answers.append(response.status_code)

    in_flight = threading.Thread(target=ask)
    in_flight.start()
    until(lambda: vendor.stats()["auth_calls"] == 1, "the request reached the vendor")
    os.kill(server.pid, signal.SIGTERM)
    signalled = time.monotonic()
    # The master closes its listening socket at once; each worker notices within about a
    # second and stops accepting too. Whatever is accepted until then is answered.
    while True:
        try:
            assert requests.get(f"{server.url}/healthz", timeout=2).status_code == 200
        except requests.ConnectionError:
            break
        assert time.monotonic() - signalled < 3, "new connections still accepted"
        time.sleep(0.05)
    assert in_flight.is_alive()  # refused while the request in flight still waits on the vendor
    in_flight.join(15)
    assert answers == [200]
    assert server.process is not None
    assert server.process.wait(15) == 0


def test_metrics_counted_before_a_reload_are_still_counted_after_it(
    vendor: StandinProcess, files: tuple[Path, Path], tmp_path: Path
) -> None:
    settings = reloadable_settings(vendor, files, BROKER_METRICS_TOKEN=METRICS_TOKEN)
    with BrokerServer(settings, tmp_path, workers=2) as server:
        first_workers = booted(server)
        with Load(server.url) as load:
            load.wait_for(20)
        before = token_requests(scrape(server.url))
        assert before >= 20
        reload_and_wait(server, first_workers)
        # A reload replaces the workers, not the counts they made: a counter that fell back
        # to zero would read as a restart to every rate() over it.
        assert token_requests(scrape(server.url)) == before


def resolver_source(user_id: str) -> str:
    return f"def broker_user():\n    return {{'id': {user_id!r}}}\n"


def test_a_reload_loads_the_host_resolvers_current_code(
    vendor: StandinProcess, files: tuple[Path, Path], tmp_path: Path
) -> None:
    """The master checks a host's resolver without importing it, so the workers a reload
    starts import the module as it is now, not as the master first saw it."""
    code = tmp_path / "host_code"
    code.mkdir()
    module = code / "host_auth.py"
    module.write_text(resolver_source("before-reload"))
    settings = reloadable_settings(
        vendor, files, BROKER_USER_RESOLVER="host_auth:broker_user", PYTHONPATH=str(code)
    )

    def minted_for(url: str) -> list[str]:
        vendor.clear()
        assert requests.get(f"{url}/api/getusertoken", timeout=10).status_code == 200
        return [call["json"]["externalId"] for call in vendor.requests()]

    with BrokerServer(settings, tmp_path, workers=2) as broker:
        until(lambda: broker.output().count("broker ready") == 2, "both workers ready")
        first_workers = booted(broker)
        assert minted_for(broker.url) == ["before-reload"]
        write_atomically(module, resolver_source("after-reload"))
        reload_and_wait(broker, first_workers)
        assert minted_for(broker.url) == ["after-reload"]
    assert "reload refused" not in broker.output()
