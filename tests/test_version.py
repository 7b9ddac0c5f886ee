"""One version, shown wherever an operator looks: the CLI, /healthz, metrics, the ready line."""

from __future__ import annotations

import tomllib

from flask import Flask
from flask.testing import FlaskClient

from app.commands import diagnosis_requested, unconfigured_app
from app.observability.metrics import process_metrics
from app.ready_line import log_ready
from app.version import VERSION
from harness.processes import ROOT

from .conftest import LogLines


def test_the_version_is_pyprojects() -> None:
    with (ROOT / "pyproject.toml").open("rb") as project:
        assert tomllib.load(project)["project"]["version"] == VERSION


def test_broker_version_prints_it(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["broker", "version"])
    assert (result.exit_code, result.stdout) == (0, f"{VERSION}\n")


def test_broker_version_works_with_a_broken_configuration() -> None:
    assert diagnosis_requested(["--app", "wsgi", "broker", "version"])
    broken = unconfigured_app({"MINDSET_API_HOST": "acme.example"})
    result = broken.test_cli_runner().invoke(args=["broker", "version"])
    assert (result.exit_code, result.stdout) == (0, f"{VERSION}\n")


def test_healthz_says_the_version(client: FlaskClient) -> None:
    assert client.get("/healthz").get_json() == {"status": "ok", "version": VERSION}


def test_metrics_carry_build_info(app: Flask) -> None:
    exposition = process_metrics().exposition().decode()
    assert f'broker_build_info{{version="{VERSION}"}} 1.0' in exposition


def test_the_ready_line_says_the_version(app: Flask, broker_logs: LogLines) -> None:
    assert "broker ready" not in broker_logs.joined()  # building the app is not serving
    log_ready(app)
    assert f"broker ready: version={VERSION} env=development" in broker_logs.joined()
