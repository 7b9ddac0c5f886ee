"""The session resolver: the broker's own keys, Flask-Login's, and a hint when neither is there."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import requests
import responses
from flask import Flask, flash
from flask.testing import FlaskClient
from flask_login import LoginManager, login_user, logout_user
from responses import matchers

from flask_token_broker.sandbox_vendor.tokens import token_claims
from harness.standin_process import StandinProcess

from . import fake_secrets
from .broker_server import BrokerServer, session_cookie
from .conftest import AUTH_URL, LogLines, build_app, mindset_settings

COOKIE = "session"


class HostUser:
    """What Flask-Login asks of a user class (its ``UserMixin``, written out typed)."""

    is_authenticated = True
    is_active = True
    is_anonymous = False

    def __init__(self, user_id: str) -> None:
        self.id = user_id

    def get_id(self) -> str:
        return self.id


def flask_login_host() -> Flask:
    """A host app that signs users in with Flask-Login and nothing else of the broker's."""
    host = Flask("flask_login_host")
    host.config["SECRET_KEY"] = fake_secrets.SECRET_KEY
    login_manager = LoginManager(host)
    login_manager.user_loader(HostUser)

    @host.post("/login/<user_id>")
    def login(user_id: str) -> str:
        login_user(HostUser(user_id), remember=True)
        return "signed in"

    @host.post("/logout")
    def logout() -> str:
        logout_user()
        flash("You are signed out.")
        return "signed out"

    return host


def host_session_cookie(path: str, *paths: str) -> str:
    """The session cookie the host's browser holds after posting to each path in turn."""
    client = flask_login_host().test_client()
    for each in (path, *paths):
        assert client.post(each).status_code == 200
    cookie = client.get_cookie(COOKIE)
    assert cookie is not None
    return cookie.value


def broker_with_cookie(settings: dict[str, str], cookie: str) -> FlaskClient:
    client = build_app(settings).test_client()
    client.set_cookie(COOKIE, cookie)
    return client


def signed_in_with_session(client: FlaskClient, **values: Any) -> FlaskClient:
    with client.session_transaction() as session:
        session.update(values)
    return client


def expect_token_for(vendor: responses.RequestsMock, user_id: str) -> None:
    vendor.post(
        AUTH_URL,
        json={"authToken": f"tok-{user_id}"},
        match=[matchers.json_params_matcher({"externalId": user_id}, strict_match=True)],
    )


def warnings_of(lines: LogLines) -> list[dict[str, Any]]:
    records = [json.loads(line) for line in lines]
    return [r for r in records if r["logger"] == "broker.users" and r["level"] == "warning"]


def test_a_flask_login_cookie_gets_a_token_from_the_sandbox_with_no_session_setting() -> None:
    cookie = host_session_cookie("/login/ada")
    client = broker_with_cookie({"SECRET_KEY": fake_secrets.SECRET_KEY}, cookie)
    response = client.get("/api/getusertoken")
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["authToken"]


def test_a_flask_login_cookie_gets_the_vendor_token_of_its_user() -> None:
    cookie = host_session_cookie("/login/ada")
    client = broker_with_cookie(mindset_settings(), cookie)
    with responses.RequestsMock() as vendor:
        expect_token_for(vendor, "ada")
        assert client.get("/api/getusertoken").get_json() == {"authToken": "tok-ada"}


def test_a_signed_out_flask_login_session_is_nobody_and_no_warning(broker_logs: LogLines) -> None:
    cookie = host_session_cookie("/login/ada", "/logout")
    client = broker_with_cookie(mindset_settings(), cookie)
    response = client.get("/api/getusertoken")
    assert response.status_code == 401
    assert response.get_json()["error"] == "not_signed_in"
    assert warnings_of(broker_logs) == []


def test_the_broker_key_wins_over_flask_login_when_a_session_has_both(
    client: FlaskClient,
) -> None:
    signed_in_with_session(client, user_id="ada", _user_id="grace")
    with responses.RequestsMock() as vendor:
        expect_token_for(vendor, "ada")
        assert client.get("/api/getusertoken").get_json() == {"authToken": "tok-ada"}


def test_a_chosen_id_key_turns_the_flask_login_key_off() -> None:
    client = build_app(mindset_settings(BROKER_SESSION_USER_ID_KEY="account")).test_client()
    signed_in_with_session(client, _user_id="ada")
    assert client.get("/api/getusertoken").status_code == 401


def test_a_session_without_a_known_user_key_warns_once_naming_keys_not_values(
    broker_logs: LogLines,
) -> None:
    client = build_app(mindset_settings()).test_client()
    signed_in_with_session(client, uid="private-user-value", account_ref="private-ref-value")
    for _ in range(3):
        assert client.get("/api/getusertoken").status_code == 401
    [warning] = warnings_of(broker_logs)
    message = warning["msg"]
    assert "'account_ref', 'uid'" in message
    assert "BROKER_SESSION_USER_ID_KEY" in message
    assert "user_id, _user_id" in message
    # The line tells the operator what to do, whole.
    assert message.endswith(
        "Set BROKER_SESSION_USER_ID_KEY to the key the host app writes the signed-in user's "
        "id under"
    )
    assert "private" not in broker_logs.joined()


def test_the_warning_names_the_chosen_key_and_clips_many_long_keys(broker_logs: LogLines) -> None:
    client = build_app(mindset_settings(BROKER_SESSION_USER_ID_KEY="account")).test_client()
    many = {f"{'k' * 60}{n:02d}": n for n in range(15)}
    signed_in_with_session(client, **many)
    assert client.get("/api/getusertoken").status_code == 401
    [warning] = warnings_of(broker_logs)
    message = warning["msg"]
    assert "holds none of the user id keys account;" in message
    assert f"'{'k' * 40}'" in message
    assert "k" * 41 not in message
    assert message.count("'k") == 10
    assert "and 5 more" in message


@pytest.mark.parametrize(("count", "ending"), [(10, "'k09'."), (11, "'k09' and 1 more.")])
def test_the_warning_lists_ten_keys_and_counts_the_rest(
    broker_logs: LogLines, count: int, ending: str
) -> None:
    client = build_app(mindset_settings()).test_client()
    signed_in_with_session(client, **{f"k{n:02d}": n for n in range(count)})
    assert client.get("/api/getusertoken").status_code == 401
    [warning] = warnings_of(broker_logs)
    keys = warning["msg"].split("its keys are ", 1)[1].split(" Set ", 1)[0]
    assert keys.startswith("'k00', ")
    assert keys.endswith(ending)


@pytest.mark.parametrize(
    "values",
    [
        {},
        {"_fresh": False, "_id": "x", "_remember": "clear", "csrf_token": "t"},
        {"_flashes": [["message", "bye"]]},
    ],
    ids=["empty", "flask-login-bookkeeping", "flashes"],
)
def test_a_signed_out_session_does_not_warn(broker_logs: LogLines, values: dict[str, Any]) -> None:
    client = build_app(mindset_settings()).test_client()
    if values:
        signed_in_with_session(client, **values)
    assert client.get("/api/getusertoken").status_code == 401
    assert warnings_of(broker_logs) == []


@pytest.mark.network
def test_the_production_server_takes_a_flask_login_cookie_and_warns_about_unknown_keys(
    tmp_path: Path,
) -> None:
    with StandinProcess(fake_secrets.API_KEY, fake_secrets.APP_UID) as standin:
        env = mindset_settings(MINDSET_API_HOST=standin.url)
        with BrokerServer(env, tmp_path, workers=1) as server:
            flask_login = host_session_cookie("/login/ada")
            response = requests.get(
                f"{server.url}/api/getusertoken",
                headers={"Cookie": f"{COOKIE}={flask_login}"},
                timeout=10,
            )
            assert response.status_code == 200, response.text
            assert token_claims(response.json()["authToken"])["sub"] == "ada"

            unknown = session_cookie({"account": "private-account-value"})
            for _ in range(2):
                refused = requests.get(
                    f"{server.url}/api/getusertoken",
                    headers={"Cookie": f"{COOKIE}={unknown}"},
                    timeout=10,
                )
                assert refused.json()["error"] == "not_signed_in"
            server.stop()
            logs = server.logs()
    assert logs.count("holds none of the user id keys user_id, _user_id") == 1
    assert "'account'" in logs
    assert "private-account-value" not in logs
