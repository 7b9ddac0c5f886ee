"""The demo sign-in: writes the same session keys a host app would; absent unless enabled."""

from __future__ import annotations

import pytest
import responses
from flask.testing import FlaskClient

from .conftest import AUTH_URL, LogLines, build_app, mindset_settings


@pytest.fixture
def settings() -> dict[str, str]:
    return mindset_settings(BROKER_DEMO_LOGIN="1")


def test_login_then_token_then_logout(client: FlaskClient) -> None:
    with responses.RequestsMock() as vendor:
        vendor.post(AUTH_URL, json={"authToken": "tok-ada"})
        login = client.post("/demo/login", data={"external_id": "ada", "name": "Ada"})
        assert login.status_code == 200
        assert login.get_json()["signedIn"]["id"] == "ada"
        assert "HttpOnly" in login.headers["Set-Cookie"]
        assert client.get("/api/getusertoken").get_json() == {"authToken": "tok-ada"}
        sent = vendor.calls[0].request.body
        assert isinstance(sent, bytes)
        assert b'"externalId":"ada"' in sent
        assert b'"name":"Ada"' in sent

    assert client.post("/demo/logout").status_code == 200
    assert client.get("/api/getusertoken").status_code == 401


def test_login_accepts_json(client: FlaskClient) -> None:
    response = client.post("/demo/login", json={"external_id": "bob", "email": "bob@x.io"})
    assert response.get_json()["signedIn"] == {"id": "bob", "email": "bob@x.io", "name": None}


@pytest.mark.parametrize(
    "payload",
    [{}, {"external_id": ""}, {"external_id": 5}, {"external_id": "a" * 5000}, ["ada"]],
)
def test_login_refuses_bad_fields_with_400(client: FlaskClient, payload: object) -> None:
    response = client.post("/demo/login", json=payload)
    assert response.status_code == 400
    assert response.get_json()["error"] in ("missing_field", "invalid_field")


def test_demo_routes_do_not_exist_when_off() -> None:
    client = build_app(mindset_settings()).test_client()
    response = client.post("/demo/login", data={"external_id": "ada"})
    assert response.status_code == 404
    assert response.get_json()["error"] == "not_found"


@pytest.mark.parametrize(
    "resolver",
    [
        {"BROKER_USER_RESOLVER": "jwt", "BROKER_JWT_SECRET": "j" * 40},
        {"BROKER_USER_RESOLVER": "headers", "BROKER_TRUSTED_PROXIES": "127.0.0.1"},
    ],
)
def test_demo_login_is_off_when_users_do_not_come_from_the_session(
    resolver: dict[str, str], broker_logs: LogLines
) -> None:
    """It writes the session, which these resolvers never read: it could sign nobody in."""
    client = build_app(mindset_settings(BROKER_DEMO_LOGIN="1", **resolver)).test_client()
    assert client.post("/demo/login", data={"external_id": "ada"}).status_code == 404
    assert client.get("/demo/").status_code == 404
    assert "/demo/login" not in client.get("/openapi.json").get_json()["paths"]
    assert "the demo login is off" in broker_logs.joined()
