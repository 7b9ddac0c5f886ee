"""The terminal commands as an operator types them: ``.venv/bin/flask --app wsgi ...`` as a real
process, in a directory of the operator's choosing, with nothing but the given environment."""

from __future__ import annotations

import json
import os
import socket
import subprocess  # nosec B404
import sys
import time
from pathlib import Path

import pytest

from flask_token_broker.version import VERSION
from harness.processes import ROOT, free_port, stop_process

FLASK = str(Path(sys.executable).parent / "flask")
MINDSET = "MINDSET_API_HOST=acme.example\nMINDSET_API_KEY=key-{0}-0123456789\nMINDSET_APP_UID={0}\n"


def flask_cli(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``flask --app wsgi <args>`` run from ``cwd``; no developer setting leaks in."""
    environment = {"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), **env}
    # A fixed argv, no shell.
    return subprocess.run(  # nosec B603
        [FLASK, "--app", "wsgi", *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def checked_app_uid(cwd: Path, **env: str) -> str:
    result = flask_cli(cwd, "config", "check", **env)
    assert result.returncode == 0, result.stdout + result.stderr
    return str(json.loads(result.stdout)["settings"]["mindset"]["app_uid"])


@pytest.fixture
def operator_dir(tmp_path: Path) -> Path:
    """A working directory holding a stray ``.env`` and the broker's real settings file."""
    (tmp_path / ".env").write_text(MINDSET.format("stray-dotenv-uid"))
    (tmp_path / "broker.env").write_text(MINDSET.format("broker-file-uid"))
    return tmp_path


def test_config_check_reads_broker_env_file_not_flasks_dotenv(operator_dir: Path) -> None:
    assert checked_app_uid(operator_dir, BROKER_ENV_FILE="broker.env") == "broker-file-uid"


@pytest.mark.parametrize("value", ["shell-uid", "stray-dotenv-uid"])
def test_the_environment_wins_over_every_file(operator_dir: Path, value: str) -> None:
    # Also when the shell's value is the one in Flask's .env: it is the operator's, kept.
    uid = checked_app_uid(operator_dir, BROKER_ENV_FILE="broker.env", MINDSET_APP_UID=value)
    assert uid == value


def test_a_dotenv_in_a_parent_directory_is_not_read(operator_dir: Path) -> None:
    below = operator_dir / "deploy"
    below.mkdir()
    result = flask_cli(below, "config", "check", BROKER_ENV_FILE=os.devnull)
    report = json.loads(result.stdout)
    assert report["flows"] == ["mindset-sandbox"]
    assert "stray-dotenv-uid" not in result.stdout + result.stderr


def test_config_check_exits_1_on_an_unimportable_resolver(tmp_path: Path) -> None:
    result = flask_cli(
        tmp_path,
        "config",
        "check",
        BROKER_ENV_FILE=os.devnull,
        BROKER_USER_RESOLVER="myapp.auth:broker_user",
    )
    report = json.loads(result.stdout)
    assert result.returncode == 1
    assert report["ok"] is False
    assert any("cannot import module 'myapp.auth'" in problem for problem in report["problems"])


def test_commands_never_say_broker_ready(tmp_path: Path) -> None:
    for args in (["config", "check"], ["token", "mint", "--external-id", "ada"]):
        result = flask_cli(tmp_path, *args, BROKER_ENV_FILE=os.devnull)
        assert result.returncode == 0, result.stderr
        assert "broker ready" not in result.stderr


def test_flask_run_says_ready_only_once_it_listens(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        refused = flask_cli(tmp_path, "run", "--port", port, BROKER_ENV_FILE=os.devnull)
    assert refused.returncode != 0
    assert "already in use" in refused.stderr
    assert "broker ready" not in refused.stderr

    # A free port: the ready line follows Werkzeug's "Running on".
    server = subprocess.Popen(  # nosec B603
        [FLASK, "--app", "wsgi", "run", "--port", str(free_port())],
        cwd=tmp_path,
        env={"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), "BROKER_ENV_FILE": os.devnull},
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines = []
        deadline = time.monotonic() + 30
        assert server.stderr is not None
        while time.monotonic() < deadline:
            line = server.stderr.readline()
            lines.append(line)
            if "broker ready" in line or not line:
                break
    finally:
        stop_process(server)
        if server.stderr is not None:
            server.stderr.close()
    output = "".join(lines)
    assert f"broker ready: version={VERSION}" in output
    assert output.index("Running on") < output.index("broker ready")
