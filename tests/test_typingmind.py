"""TypingMind externalAuthCode: the JWT, the JSON route, the login redirect, config and CLI."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from flask import Flask
from flask.testing import FlaskClient

from flask_token_broker.ready_line import log_ready
from flask_token_broker.settings import ConfigError, load_settings
from flask_token_broker.typingmind import login_url, payload_for, sign
from flask_token_broker.users import CurrentUser

from . import fake_secrets
from .conftest import LogLines, build_app, mindset_settings, sign_in

SECRET = fake_secrets.TYPINGMIND_SECRET
TM_URL = "https://chat.example.com"


def typingmind_settings(**extra: str) -> dict[str, str]:
    return {
        "TYPINGMIND_JWT_SECRET": SECRET,
        "TYPINGMIND_URL": TM_URL,
        "SECRET_KEY": fake_secrets.SECRET_KEY,
        **extra,
    }


def client_for(**extra: str) -> FlaskClient:
    return build_app(typingmind_settings(**extra)).test_client()


def decode(token: str, secret: str = SECRET) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(
        token, secret, algorithms=["HS256"], options={"require": ["exp", "iat"]}
    )
    return claims


def test_authcode_is_an_hs256_jwt_with_the_user_and_ttl() -> None:
    client = client_for()
    sign_in(client, "ada", email="ada@example.com", name="Ada")

    response = client.get("/api/typingmind/authcode")

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert set(body) == {"externalAuthCode", "expiresAt"}
    token = body["externalAuthCode"]
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    claims = decode(token)
    assert claims["user"] == {"id": "ada", "email": "ada@example.com", "name": "Ada"}
    assert claims["exp"] - claims["iat"] == 3600
    assert "nbf" not in claims
    expires = datetime.fromisoformat(body["expiresAt"].replace("Z", "+00:00"))
    assert body["expiresAt"].endswith("Z")
    assert int(expires.timestamp()) == claims["exp"]


def test_authcode_is_rejected_with_another_secret() -> None:
    client = client_for()
    sign_in(client, "ada")
    token = client.get("/api/typingmind/authcode").get_json()["externalAuthCode"]
    with pytest.raises(jwt.InvalidSignatureError):
        decode(token, secret="another-secret-of-at-least-32-bytes-long")


def test_each_code_is_unique() -> None:
    client = client_for()
    sign_in(client, "ada")
    one = decode(client.get("/api/typingmind/authcode").get_json()["externalAuthCode"])
    two = decode(client.get("/api/typingmind/authcode").get_json()["externalAuthCode"])
    assert one["jti"] != two["jti"]


@pytest.mark.parametrize("ttl", ["60", "900", "604800"])
def test_lifetime_follows_typingmind_token_ttl(ttl: str) -> None:
    client = client_for(TYPINGMIND_TOKEN_TTL=ttl)
    sign_in(client, "ada")
    claims = decode(client.get("/api/typingmind/authcode").get_json()["externalAuthCode"])
    assert claims["exp"] - claims["iat"] == int(ttl)


@pytest.mark.parametrize(
    ("form", "user", "expected"),
    [
        ("user", CurrentUser("ada"), {"user": {"id": "ada"}}),
        (
            "user",
            CurrentUser("7", "a@x.io", "A"),
            {"user": {"id": "7", "email": "a@x.io", "name": "A"}},
        ),
        ("id", CurrentUser("1234", "a@x.io"), {"id": "1234"}),
        ("email", CurrentUser("1234", "a@x.io"), {"email": "a@x.io"}),
    ],
)
def test_payload_takes_the_configured_form(
    form: str, user: CurrentUser, expected: dict[str, Any]
) -> None:
    assert payload_for(user, form) == expected
    client = client_for(TYPINGMIND_PAYLOAD=form)
    sign_in(client, user.id, email=user.email, name=user.name)
    claims = decode(client.get("/api/typingmind/authcode").get_json()["externalAuthCode"])
    assert {k: v for k, v in claims.items() if k not in ("iat", "exp", "jti")} == expected


def test_email_payload_for_a_user_without_email_is_422() -> None:
    client = client_for(TYPINGMIND_PAYLOAD="email")
    sign_in(client, "ada")
    response = client.get("/api/typingmind/authcode")
    assert response.status_code == 422
    assert response.get_json()["error"] == "invalid_identity"
    assert "TYPINGMIND_PAYLOAD" in response.get_json()["message"]


@pytest.mark.parametrize("path", ["/api/typingmind/authcode", "/typingmind/login"])
def test_typingmind_without_a_signed_in_user_is_401(path: str) -> None:
    response = client_for().get(path)
    assert response.status_code == 401
    assert response.get_json()["error"] == "not_signed_in"


@pytest.mark.parametrize(
    ("base", "expected_query"),
    [
        ("https://chat.example.com", {}),
        ("https://chat.example.com/app?team=blue&x=a%2Fb", {"team": ["blue"], "x": ["a/b"]}),
    ],
)
def test_login_redirects_to_typingmind_with_the_code(
    base: str, expected_query: dict[str, list[str]]
) -> None:
    client = client_for(TYPINGMIND_URL=base)
    sign_in(client, "ada", email="ada@example.com")

    response = client.get("/typingmind/login")

    assert response.status_code == 302
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    location = response.headers["Location"]
    assert location.startswith(base.split("?")[0])
    if "?" in base:
        assert base.split("?")[1] in location  # the existing query is kept byte for byte
    query = parse_qs(urlsplit(location).query)
    code = query.pop("externalAuthCode")
    assert query == expected_query
    assert decode(code[0])["user"]["id"] == "ada"


def test_login_url_keeps_query_and_fragment() -> None:
    url = login_url("https://chat.example.com/p?a=1#frag", "abc.def.ghi")
    assert url == "https://chat.example.com/p?a=1&externalAuthCode=abc.def.ghi#frag"
    assert (
        login_url("https://chat.example.com", "t") == "https://chat.example.com/?externalAuthCode=t"
    )


def test_sign_uses_the_given_clock() -> None:
    now = datetime(2020, 1, 2, 3, 4, 5, 678, tzinfo=UTC)
    code = sign({"id": "1"}, SECRET, 120, now=now)
    claims = jwt.decode(code.token, SECRET, algorithms=["HS256"], options={"verify_exp": False})
    assert claims["iat"] == int(now.replace(microsecond=0).timestamp())
    assert claims["exp"] == claims["iat"] + 120
    assert code.expires_at_iso == "2020-01-02T03:06:05Z"


@pytest.mark.parametrize("path", ["/api/typingmind/authcode", "/typingmind/login"])
def test_typingmind_routes_are_json_404_when_not_configured(path: str) -> None:
    client = build_app(mindset_settings()).test_client()
    sign_in(client, "ada")
    response = client.get(path)
    assert response.status_code == 404
    assert response.get_json()["error"] == "not_configured"
    assert "TypingMind" in response.get_json()["message"]


def test_typingmind_only_broker_answers_getusertoken_with_json_404(broker_logs: LogLines) -> None:
    client = client_for()
    sign_in(client, "ada")
    response = client.get("/api/getusertoken")
    assert response.status_code == 404
    assert response.get_json()["error"] == "not_configured"
    log_ready(client.application)  # as the server does once it serves
    assert "flows=typingmind " in broker_logs.joined()


def test_both_flows_are_on_together(broker_logs: LogLines) -> None:
    app = build_app({**mindset_settings(), **typingmind_settings()})
    client = app.test_client()
    sign_in(client, "ada")
    assert client.get("/api/typingmind/authcode").status_code == 200
    log_ready(app)
    assert "flows=mindset,typingmind " in broker_logs.joined()


@pytest.mark.parametrize(
    ("settings", "variable"),
    [
        ({"TYPINGMIND_JWT_SECRET": SECRET}, "TYPINGMIND_URL"),
        ({"TYPINGMIND_URL": TM_URL}, "TYPINGMIND_JWT_SECRET"),
        (typingmind_settings(TYPINGMIND_JWT_SECRET="s" * 31), "TYPINGMIND_JWT_SECRET"),
        (typingmind_settings(TYPINGMIND_URL="chat.example.com"), "TYPINGMIND_URL"),
        (typingmind_settings(TYPINGMIND_URL="ftp://chat.example.com"), "TYPINGMIND_URL"),
        (typingmind_settings(TYPINGMIND_URL="https://u:p@chat.example.com"), "TYPINGMIND_URL"),
        (
            typingmind_settings(TYPINGMIND_URL="https://c.example.com/?externalAuthCode=x"),
            "TYPINGMIND_URL",
        ),
        (
            typingmind_settings(BROKER_ENV="production", TYPINGMIND_URL="http://chat.example.com"),
            "TYPINGMIND_URL",
        ),
        (typingmind_settings(TYPINGMIND_TOKEN_TTL="0"), "TYPINGMIND_TOKEN_TTL"),
        (typingmind_settings(TYPINGMIND_TOKEN_TTL="604801"), "TYPINGMIND_TOKEN_TTL"),
        (typingmind_settings(TYPINGMIND_TOKEN_TTL="1h"), "TYPINGMIND_TOKEN_TTL"),
        (typingmind_settings(TYPINGMIND_PAYLOAD="name"), "TYPINGMIND_PAYLOAD"),
    ],
)
def test_bad_typingmind_settings_stop_start_up(settings: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError, match=variable) as raised:
        load_settings(settings)
    assert SECRET not in str(raised.value)


@pytest.mark.parametrize(
    ("url", "env"),
    [
        ("http://127.0.0.1:3000", "production"),
        ("http://localhost:3000", "production"),
        ("http://[::1]:3000", "production"),
        ("http://typingmind.dev.test", "development"),
    ],
)
def test_plain_http_is_allowed_for_loopback_and_development(url: str, env: str) -> None:
    settings = load_settings(typingmind_settings(TYPINGMIND_URL=url, BROKER_ENV=env))
    assert settings.typingmind is not None
    assert settings.typingmind.url == url


def test_typingmind_settings_keep_the_secret_out_of_repr() -> None:
    assert SECRET not in repr(load_settings(typingmind_settings()))


def cli_app(**extra: str) -> Flask:
    return build_app(typingmind_settings(**extra))


def test_cli_link_prints_a_login_url_for_the_user() -> None:
    runner = cli_app(TYPINGMIND_URL="https://chat.example.com/?team=1").test_cli_runner()
    result = runner.invoke(
        args=["typingmind", "link", "--user-id", "ada", "--email", "ada@example.com"]
    )
    assert result.exit_code == 0, result.output
    url = result.stdout.strip()
    assert url.startswith("https://chat.example.com/?team=1&externalAuthCode=")
    code = parse_qs(urlsplit(url).query)["externalAuthCode"][0]
    assert decode(code)["user"] == {"id": "ada", "email": "ada@example.com"}
    assert "expires at" in result.stderr
    assert SECRET not in result.output


@pytest.mark.parametrize("user_id", ["ada\u00a0", "\u3000ada", "ada\u2028", " ada"])
def test_cli_link_signs_in_exactly_the_user_named(user_id: str) -> None:
    # Trimmed, the link would sign in another user: "ada".
    runner = cli_app().test_cli_runner()
    result = runner.invoke(
        args=["typingmind", "link", "--user-id", user_id, "--email", " ada@x.io", "--name", " A "]
    )
    assert result.exit_code == 0, result.output
    code = parse_qs(urlsplit(result.stdout.strip()).query)["externalAuthCode"][0]
    assert decode(code)["user"] == {"id": user_id, "email": " ada@x.io", "name": "A"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--user-id", "  "], "--user-id"),
        (["--user-id", "x" * 1025], "--user-id"),
        ([], "--user-id"),
    ],
)
def test_cli_link_refuses_bad_input(args: list[str], message: str) -> None:
    result = cli_app().test_cli_runner().invoke(args=["typingmind", "link", *args])
    assert result.exit_code != 0
    assert message in result.output


def test_cli_link_with_email_payload_needs_an_email() -> None:
    runner = cli_app(TYPINGMIND_PAYLOAD="email").test_cli_runner()
    result = runner.invoke(args=["typingmind", "link", "--user-id", "ada"])
    assert result.exit_code == 1
    assert "TYPINGMIND_PAYLOAD=email" in result.output


def test_cli_link_without_typingmind_says_what_to_set() -> None:
    runner = build_app(mindset_settings()).test_cli_runner()
    result = runner.invoke(args=["typingmind", "link", "--user-id", "ada"])
    assert result.exit_code == 1
    assert "TYPINGMIND_JWT_SECRET" in result.output
