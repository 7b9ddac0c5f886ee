"""Each flow and each resolver against the stand-in Mindset API running as a real process."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
from flask.testing import FlaskClient

from flask_token_broker.sandbox_vendor.tokens import token_claims
from harness.standin_process import StandinProcess

from . import fake_secrets
from .conftest import KNOWN_SECRETS, build_app, sign_in
from .host_process import running_host

pytestmark = pytest.mark.network

LEGACY_PATH = "/api-authenticate-embedded-user"
SDK3_PATH = f"/api/v1/appuid/{fake_secrets.APP_UID}/sdkusers/auth"
ACCOUNT = "acct_" + "s" * 20
HOST_PASSWORD = "host-demo-password-0123456789"
KNOWN_SECRETS.add(HOST_PASSWORD)


@pytest.fixture(scope="module")
def standin() -> Iterator[StandinProcess]:
    with StandinProcess(fake_secrets.API_KEY, fake_secrets.APP_UID) as vendor:
        yield vendor


@pytest.fixture(autouse=True)
def fresh(standin: StandinProcess) -> None:
    standin.clear()
    standin.clear_fault()


def settings_for(standin: StandinProcess, **extra: str) -> dict[str, str]:
    return {
        "MINDSET_API_HOST": standin.url,
        "MINDSET_API_KEY": fake_secrets.API_KEY,
        "MINDSET_APP_UID": fake_secrets.APP_UID,
        "SECRET_KEY": fake_secrets.SECRET_KEY,
        **extra,
    }


def only_call(standin: StandinProcess) -> dict[str, Any]:
    calls = standin.requests()
    assert len(calls) == 1
    return calls[0]


def test_legacy_flavor_against_the_standin(standin: StandinProcess) -> None:
    app = build_app(
        settings_for(standin, MINDSET_API_FLAVOR="legacy", MINDSET_ACCOUNT_UIDS=ACCOUNT)
    )
    client = app.test_client()
    sign_in(client, "ada", email="ada@example.com")

    response = client.get("/api/getusertoken")

    assert response.status_code == 200
    assert token_claims(response.get_json()["authToken"])["sub"] == "ada@example.com"
    call = only_call(standin)
    assert call["path"] == LEGACY_PATH
    assert call["json"] == {
        "userEmail": "ada@example.com",
        "addToAccounts": [{"accountUid": ACCOUNT}],
    }
    assert call["status"] == 201


def test_legacy_domain_address_against_the_standin(standin: StandinProcess) -> None:
    app = build_app(
        settings_for(
            standin, MINDSET_API_FLAVOR="legacy", MINDSET_LEGACY_EMAIL_DOMAIN="users.example.com"
        )
    )
    client = app.test_client()
    sign_in(client, "u-42")
    assert client.get("/api/getusertoken").status_code == 200
    assert only_call(standin)["json"] == {"userEmail": "u-42@users.example.com"}


def session_request(client: FlaskClient) -> dict[str, Any]:
    sign_in(client, "ada")
    return {}


def headers_request(client: FlaskClient) -> dict[str, Any]:
    return {"headers": {"X-Forwarded-User": "ada"}, "environ_base": {"REMOTE_ADDR": "10.0.0.5"}}


def jwt_request(client: FlaskClient) -> dict[str, Any]:
    token = jwt.encode(
        {"sub": "ada", "exp": int(time.time()) + 60}, fake_secrets.IDP_JWT_SECRET, "HS256"
    )
    return {"headers": {"Authorization": f"Bearer {token}"}}


def custom_request(client: FlaskClient) -> dict[str, Any]:
    client.set_cookie("host_user", "ada")
    return {}


@pytest.mark.parametrize(
    ("resolver", "extra", "prepare"),
    [
        ("session", {}, session_request),
        ("headers", {"BROKER_TRUSTED_PROXIES": "10.0.0.0/24"}, headers_request),
        ("jwt", {"BROKER_JWT_SECRET": fake_secrets.IDP_JWT_SECRET}, jwt_request),
        ("tests.host_resolvers:from_cookie", {}, custom_request),
    ],
)
def test_every_resolver_gets_a_mindset_token_from_the_standin(
    standin: StandinProcess, resolver: str, extra: dict[str, str], prepare: Any
) -> None:
    app = build_app(settings_for(standin, BROKER_USER_RESOLVER=resolver, **extra))
    client = app.test_client()
    assert client.get("/api/getusertoken").status_code == 401  # nobody yet
    response = client.get("/api/getusertoken", **prepare(client))
    assert response.status_code == 200
    assert token_claims(response.get_json()["authToken"])["sub"] == "ada"
    assert only_call(standin)["path"] == SDK3_PATH


def test_example_host_process_gets_a_token_for_its_logged_in_user(
    standin: StandinProcess, tmp_path: Path
) -> None:
    settings = {**settings_for(standin), "HOST_DEMO_PASSWORD": HOST_PASSWORD}
    with running_host(settings, tmp_path) as host, requests.Session() as browser:
        assert browser.get(f"{host}/api/getusertoken", timeout=10).status_code == 401
        browser.post(
            f"{host}/login",
            data={"username": "ada", "password": HOST_PASSWORD},
            allow_redirects=False,
            timeout=10,
        )
        response = browser.get(f"{host}/api/getusertoken", timeout=10)
    assert response.status_code == 200
    assert token_claims(response.json()["authToken"])["sub"] == "ada"
    assert only_call(standin)["json"] == {"externalId": "ada", "name": "Ada Lovelace"}
