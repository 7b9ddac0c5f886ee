"""``make bench``'s ``BENCH_SERVER``: the same broker under another server, set up alike.

The comparison is only fair if every server gets the production environment, the same
header-read bound and loopback only; these tests pin that, and that a real granian serves it.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest
import requests

from .file_modules import load_module

ROOT = Path(__file__).resolve().parent.parent


def load_servers() -> ModuleType:
    # bench/ is scripts, not a package.
    return load_module("bench_servers", ROOT / "bench" / "servers.py")


servers = load_servers()


def option(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


def test_an_unknown_server_is_refused_naming_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="gunicorn, granian, uwsgi"):
        servers.broker_server("waitress", {}, tmp_path / "broker.log")


def test_each_server_bounds_header_reads_by_the_brokers_setting(tmp_path: Path) -> None:
    env = {"BROKER_HEADER_TIMEOUT": "2.5", "BROKER_WORKERS": "3"}
    granian = servers.granian_command(env, 8001)
    assert option(granian, "--http1-header-read-timeout") == "2500"
    assert option(granian, "--workers") == "3"
    assert option(granian, "--host") == "127.0.0.1"
    uwsgi = servers.uwsgi_command(env, 8002, tmp_path / "uwsgi.sock")
    assert option(uwsgi, "--http-headers-timeout") == "2"
    assert option(uwsgi, "--processes") == "3"
    assert option(uwsgi, "--http") == "127.0.0.1:8002"
    # granian takes at most 60 s; the broker's default (10 s) is used when none is set.
    assert (
        option(
            servers.granian_command({"BROKER_HEADER_TIMEOUT": "300"}, 1),
            "--http1-header-read-timeout",
        )
        == "60000"
    )
    assert option(servers.granian_command({}, 1), "--http1-header-read-timeout") == "10000"


def test_the_alternatives_run_as_production_with_fresh_metrics(tmp_path: Path) -> None:
    metrics = tmp_path / "metrics"
    metrics.mkdir()
    (metrics / "counter_1.db").write_bytes(b"old")
    env = servers.production_env({"BROKER_ENV": "development", "SECRET_KEY": "x"}, metrics)
    assert env["BROKER_ENV"] == "production"
    assert env["PROMETHEUS_MULTIPROC_DIR"] == str(metrics)
    assert env["SECRET_KEY"] == "x"
    assert not list(metrics.glob("*.db"))


@pytest.mark.skipif(not (servers.BIN / "granian").exists(), reason="granian is not installed")
def test_granian_serves_the_broker_app(tmp_path: Path) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "BROKER_ENV_FILE": "/dev/null",
        "SECRET_KEY": "test-secret-key-0123456789abcdef0123456789abcdef",
        "MINDSET_API_HOST": "http://127.0.0.1:9",
        "MINDSET_API_KEY": "test-api-key-0123456789",
        "MINDSET_APP_UID": "test-app",
        "BROKER_WORKERS": "1",
    }
    with servers.broker_server("granian", env, tmp_path / "broker.log") as broker:
        response = requests.get(f"{broker.url}/api/getusertoken", timeout=5)
    assert response.status_code == 401
    assert response.headers["Content-Type"] == "application/json"
    assert "error" in response.json()
