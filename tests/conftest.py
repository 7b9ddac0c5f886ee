"""Shared fixtures: an isolated environment, apps built from explicit settings, a test client
that fails any test whose response leaks a configured secret, and captured log lines."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import settings as hypothesis_settings
from werkzeug.test import TestResponse

from app import create_app
from flask_token_broker.observability.logs import JsonFormatter

from . import fake_secrets

# `make mutation` runs the same property tests against hundreds of mutants: each run must draw
# the same examples (a verdict that depends on the random seed is no verdict), keep no example
# database between mutants, and not fail on time when mutmut's trampolines slow every call.
hypothesis_settings.register_profile(
    "mutation", derandomize=True, database=None, deadline=None, print_blob=False
)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

# https: production refuses a plain-http vendor host off loopback.
MINDSET_BASE = "https://mindset.test"
AUTH_URL = f"{MINDSET_BASE}/api/v1/appuid/{fake_secrets.APP_UID}/sdkusers/auth"

# Every secret-looking value configured anywhere in the run; tests may add theirs.
KNOWN_SECRETS: set[str] = set(fake_secrets.ALL)


def assert_no_secret(text: str, where: str) -> None:
    for secret in KNOWN_SECRETS:
        assert secret not in text, f"a configured secret leaked into {where}"


class SecretCheckingClient(FlaskClient):
    """A test client that checks every response's headers and body for secrets."""

    def open(self, *args: Any, **kwargs: Any) -> TestResponse:
        response = super().open(*args, **kwargs)
        assert_no_secret(response.get_data(as_text=True), "a response body")
        assert_no_secret(str(response.headers), "response headers")
        return response


class LogLines(list[str]):
    def joined(self) -> str:
        return "\n".join(self)


class _Capture(logging.Handler):
    def __init__(self, sink: LogLines) -> None:
        super().__init__(logging.DEBUG)
        self.sink = sink
        self.setFormatter(JsonFormatter())

    def emit(self, record: logging.LogRecord) -> None:
        self.sink.append(self.format(record))


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No developer's .env or shell variables may change what a test sees."""
    for name in list(os.environ):
        if name.startswith(("MINDSET_", "TYPINGMIND_", "BROKER_")) or name in (
            "SECRET_KEY",
            "SECRET_KEY_FILE",
            "PORT",
        ):
            monkeypatch.delenv(name)
    monkeypatch.setenv("BROKER_ENV_FILE", os.devnull)


@pytest.fixture(autouse=True)
def broker_logs() -> Iterator[LogLines]:
    """Every broker log line of the test, as formatted for operators; secrets fail the test."""
    lines = LogLines()
    handler = _Capture(lines)
    logger = logging.getLogger("broker")
    logger.addHandler(handler)
    try:
        yield lines
    finally:
        logger.removeHandler(handler)
    assert_no_secret(lines.joined(), "the logs")


def mindset_settings(**extra: str) -> dict[str, str]:
    return {
        "MINDSET_API_HOST": MINDSET_BASE,
        "MINDSET_API_KEY": fake_secrets.API_KEY,
        "MINDSET_APP_UID": fake_secrets.APP_UID,
        "SECRET_KEY": fake_secrets.SECRET_KEY,
        **extra,
    }


_built_apps: list[Flask] = []


def build_app(settings: dict[str, str]) -> Flask:
    app = create_app(settings)
    app.test_client_class = SecretCheckingClient
    app.testing = True
    _built_apps.append(app)
    return app


@pytest.fixture(autouse=True)
def close_built_apps() -> Iterator[None]:
    """Each test closes the connections of the apps it built (vendor pool, Redis clients).

    Left to the garbage collector, a socket is closed during some later test, whose
    ``ResourceWarning`` then fails that test instead.
    """
    yield
    while _built_apps:
        close_connections(_built_apps.pop())


def close_connections(app: Flask) -> None:
    for extension in list(app.extensions.values()):
        tokens = getattr(extension, "mindset", None)
        if tokens is not None:
            tokens.client.session.close()
            if tokens.shared is not None:
                tokens.shared.client.close()
    limits = app.extensions.get("broker_rate_limits")
    if limits is not None:
        # Redis counter storage holds a client, the in-memory one a sweep timer.
        limits.close()


@pytest.fixture
def settings() -> dict[str, str]:
    """Override per test module to change the app the ``app`` fixture builds."""
    return mindset_settings()


@pytest.fixture
def app(settings: dict[str, str]) -> Flask:
    return build_app(settings)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def sign_in(client: FlaskClient, user_id: Any = "ada", **fields: Any) -> None:
    """Pre-seed the session as a host app's sign-in would."""
    with client.session_transaction() as session:
        session["user_id"] = user_id
        for key, value in fields.items():
            session[f"user_{key}"] = value
