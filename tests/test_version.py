"""One version, shown wherever an operator looks: the CLI, /healthz, metrics, the ready line."""

from __future__ import annotations

import tomllib

from flask import Flask
from flask.testing import FlaskClient

import flask_token_broker
from flask_token_broker.commands import diagnosis_requested, diagnostics_app
from flask_token_broker.observability.telemetry import process_metrics
from flask_token_broker.ready_line import log_ready
from flask_token_broker.routes import ops
from flask_token_broker.version import VERSION
from harness.processes import ROOT

from .conftest import LogLines


def test_the_distribution_takes_its_version_from_the_package() -> None:
    # One source: the wheel's version is read from flask_token_broker.version at build time
    # (the built wheel's metadata is checked by tests/test_installed_host.py).
    with (ROOT / "pyproject.toml").open("rb") as project:
        project_table = tomllib.load(project)
    assert "version" not in project_table["project"]
    assert project_table["project"]["dynamic"] == ["version"]
    dynamic = project_table["tool"]["setuptools"]["dynamic"]["version"]
    assert dynamic == {"attr": "flask_token_broker.version.VERSION"}


def test_the_package_says_its_version() -> None:
    assert flask_token_broker.__version__ == VERSION


def test_broker_version_prints_it(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["broker", "version"])
    assert (result.exit_code, result.stdout) == (0, f"{VERSION}\n")


def test_broker_version_works_with_a_broken_configuration() -> None:
    assert diagnosis_requested(["--app", "wsgi", "broker", "version"])
    broken = diagnostics_app({"MINDSET_API_HOST": "acme.example"})
    result = broken.test_cli_runner().invoke(args=["broker", "version"])
    assert (result.exit_code, result.stdout) == (0, f"{VERSION}\n")


def test_healthz_says_the_version(client: FlaskClient) -> None:
    assert client.get("/healthz").get_json() == {"status": "ok", "version": VERSION}


def test_metrics_carry_build_info(app: Flask) -> None:
    exposition = ops.exposition(process_metrics()).decode()
    assert f'broker_build_info{{version="{VERSION}"}} 1.0' in exposition


def test_the_ready_line_says_the_version(app: Flask, broker_logs: LogLines) -> None:
    assert "broker ready" not in broker_logs.joined()  # building the app is not serving
    log_ready(app)
    assert f"broker ready: version={VERSION} env=development" in broker_logs.joined()
