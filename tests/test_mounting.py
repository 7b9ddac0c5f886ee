"""The broker mounted inside a host Flask app: the Flask-Login example, config from the host's
``app.config``, the host's resolver, and the host's own error pages left alone."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
import responses
from flask import Flask, abort
from flask.testing import FlaskClient
from responses import matchers

from app.broker import init_broker
from app.state import current_broker
from config import ConfigError
from examples.flask_login_host import create_host_app

from . import fake_secrets
from .conftest import (
    AUTH_URL,
    KNOWN_SECRETS,
    SecretCheckingClient,
    mindset_settings,
)
from .host_process import running_host

PASSWORD = "host-demo-password-0123456789"
KNOWN_SECRETS.add(PASSWORD)


def host_config(**extra: str) -> dict[str, str]:
    return {**mindset_settings(), "HOST_DEMO_PASSWORD": PASSWORD, **extra}


@pytest.fixture
def host() -> FlaskClient:
    app = create_host_app(host_config())
    app.test_client_class = SecretCheckingClient
    return app.test_client()


@pytest.fixture
def vendor() -> Any:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


def log_in(client: FlaskClient, username: str = "ada", password: str = PASSWORD) -> int:
    response = client.post("/login", data={"username": username, "password": password})
    return response.status_code


def test_example_host_gets_a_token_for_its_logged_in_user(host: FlaskClient, vendor: Any) -> None:
    vendor.post(
        AUTH_URL,
        json={"authToken": "tok-ada"},
        match=[
            matchers.json_params_matcher(
                {"externalId": "ada", "name": "Ada Lovelace"}, strict_match=True
            )
        ],
    )
    assert log_in(host) == 302

    response = host.get("/api/getusertoken")

    assert response.status_code == 200
    assert response.get_json() == {"authToken": "tok-ada"}
    assert response.headers["Cache-Control"] == "no-store"


def test_example_host_without_login_is_the_brokers_401(host: FlaskClient, vendor: Any) -> None:
    assert log_in(host, password="wrong") == 401
    response = host.get("/api/getusertoken")
    assert response.status_code == 401
    assert response.get_json()["error"] == "not_signed_in"


def test_logging_out_of_the_host_ends_broker_tokens(host: FlaskClient, vendor: Any) -> None:
    vendor.post(AUTH_URL, json={"authToken": "tok-ada"})
    log_in(host)
    assert host.get("/api/getusertoken").status_code == 200
    host.post("/logout")
    assert host.get("/api/getusertoken").status_code == 401


def test_host_error_pages_stay_the_hosts(host: FlaskClient) -> None:
    response = host.get("/no-such-page")
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    assert "Host app: page not found" in response.get_data(as_text=True)
    # ... while the broker's own routes keep their JSON answers.
    broker_404 = host.get("/api/typingmind/authcode")
    assert broker_404.status_code == 404
    assert broker_404.get_json()["error"] == "not_configured"


def test_host_route_errors_are_not_turned_into_broker_json() -> None:
    app = Flask(__name__)
    app.config.update(mindset_settings())

    @app.get("/admin")
    def admin() -> str:
        abort(403)

    init_broker(app)
    response = app.test_client().get("/admin")
    assert response.status_code == 403
    assert response.mimetype == "text/html"


def test_init_broker_reads_prefixed_keys_from_the_host_config() -> None:
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=fake_secrets.SECRET_KEY,
        MINDSET_API_HOST="acme.api.mindset.ai",
        MINDSET_API_KEY=fake_secrets.API_KEY,
        MINDSET_APP_UID=fake_secrets.APP_UID,
        MINDSET_READ_TIMEOUT=2,  # typed values, as a host's config holds them
        TYPINGMIND_JWT_SECRET=fake_secrets.TYPINGMIND_SECRET,
        TYPINGMIND_URL="https://chat.example.com",
    )
    init_broker(app)
    with app.app_context():
        broker = current_broker()
    assert broker.settings.secret_key == fake_secrets.SECRET_KEY
    assert broker.mindset is not None
    assert broker.mindset.settings.base_url == "https://acme.api.mindset.ai"
    assert broker.mindset.settings.read_timeout == 2.0
    assert broker.flows() == ["mindset", "typingmind"]
    assert broker.resolver_name == "session"


def test_init_broker_in_a_host_raises_config_errors_for_the_host_to_handle() -> None:
    app = Flask(__name__)
    app.config.update(MINDSET_API_HOST="acme.api.mindset.ai")
    with pytest.raises(ConfigError, match="MINDSET_API_KEY"):
        init_broker(app)


# --- the example as a real process --------------------------------------------------------------


@pytest.fixture
def host_process(tmp_path: Path) -> Iterator[str]:
    settings = {
        "SECRET_KEY": fake_secrets.SECRET_KEY,
        "HOST_DEMO_PASSWORD": PASSWORD,
        "TYPINGMIND_JWT_SECRET": fake_secrets.TYPINGMIND_SECRET,
        "TYPINGMIND_URL": "https://chat.example.com/?team=1",
    }
    with running_host(settings, tmp_path) as url:
        yield url


@pytest.mark.network
def test_example_host_runs_as_a_process_and_signs_its_user_into_typingmind(
    host_process: str,
) -> None:
    with requests.Session() as browser:
        assert browser.get(f"{host_process}/api/typingmind/authcode", timeout=10).status_code == 401
        response = browser.post(
            f"{host_process}/login",
            data={"username": "grace", "password": PASSWORD},
            allow_redirects=False,
            timeout=10,
        )
        assert response.status_code == 302

        login = browser.get(f"{host_process}/typingmind/login", allow_redirects=False, timeout=10)

    assert login.status_code == 302
    location = login.headers["Location"]
    assert location.startswith("https://chat.example.com/?team=1&externalAuthCode=")
    code = location.split("externalAuthCode=", 1)[1]
    claims = jwt.decode(code, fake_secrets.TYPINGMIND_SECRET, algorithms=["HS256"])
    assert claims["user"] == {"id": "grace", "email": "grace@example.com", "name": "Grace Hopper"}
