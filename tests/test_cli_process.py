"""The terminal commands as an operator types them: ``.venv/bin/flask --app wsgi ...`` as a real
process, in a directory of the operator's choosing, with nothing but the given environment."""

from __future__ import annotations

import json
import os
import subprocess  # nosec B404
import sys
from pathlib import Path

import pytest

from harness.processes import ROOT

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
