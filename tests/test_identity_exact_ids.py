"""Host ids are used exactly as the host gives them, through every resolver.

``"ada\\u00a0"``, ``"\\u3000ada"``, ``"ada\\u2028"`` and ``"ada"`` are four different users:
a Unicode space is part of an id, never trimmed away. Strict mode refuses the three that
Mindset cannot take; derive mode gives each its own derived id; and with token reuse on, no
one of them is ever handed another's token.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from flask.testing import FlaskClient

from flask_token_broker.minting.identity import derive_external_id

from . import fake_secrets
from .conftest import build_app, mindset_settings, sign_in
from .gated_vendor import GatedVendor, attach

PLAIN = "ada"
LOOKALIKES = ["ada\u00a0", "\u3000ada", "ada\u2028", "\x85ada", "\tada"]
PROXY = "127.0.0.1"


def session_request(client: FlaskClient, user_id: str) -> dict[str, Any]:
    sign_in(client, user_id)
    return {}


def headers_request(client: FlaskClient, user_id: str) -> dict[str, Any]:
    return {"headers": {"X-Forwarded-User": user_id}, "environ_base": {"REMOTE_ADDR": PROXY}}


def jwt_request(client: FlaskClient, user_id: str) -> dict[str, Any]:
    claims = {"sub": user_id, "exp": int(time.time()) + 300}
    token = jwt.encode(claims, fake_secrets.IDP_JWT_SECRET, algorithm="HS256")
    return {"headers": {"Authorization": f"Bearer {token}"}}


def custom_request(client: FlaskClient, user_id: str) -> dict[str, Any]:
    return {"headers": {"X-Host-User": json.dumps({"id": user_id})}}


RESOLVERS: dict[str, tuple[dict[str, str], Callable[[FlaskClient, str], dict[str, Any]]]] = {
    "session": ({}, session_request),
    "headers": (
        {"BROKER_USER_RESOLVER": "headers", "BROKER_TRUSTED_PROXIES": PROXY},
        headers_request,
    ),
    "jwt": (
        {"BROKER_USER_RESOLVER": "jwt", "BROKER_JWT_SECRET": fake_secrets.IDP_JWT_SECRET},
        jwt_request,
    ),
    "custom": ({"BROKER_USER_RESOLVER": "tests.host_resolvers:from_json_header"}, custom_request),
}


class Broker:
    """A broker with one resolver, token reuse on, and a vendor that names each token's user."""

    def __init__(self, resolver: str, **settings: str) -> None:
        extra, self._request = RESOLVERS[resolver]
        app = build_app(mindset_settings(MINDSET_TOKEN_REUSE_SECONDS="300", **extra, **settings))
        self.vendor = attach(app, GatedVendor())
        self.vendor.make_token = lambda n, body: f"tok-{n}-{body['externalId']}"
        self.app = app

    def token_for(self, user_id: str) -> tuple[int, dict[str, Any]]:
        client = self.app.test_client()
        response = client.get("/api/getusertoken", **self._request(client, user_id))
        return response.status_code, response.get_json()


@pytest.mark.parametrize("resolver", sorted(RESOLVERS))
def test_ids_with_unicode_spaces_are_refused_in_strict_mode(resolver: str) -> None:
    broker = Broker(resolver)
    assert broker.token_for(PLAIN)[0] == 200
    for user_id in LOOKALIKES:
        status, body = broker.token_for(user_id)
        assert (status, body["error"]) == (422, "invalid_identity"), repr(user_id)
    assert [call["externalId"] for call in broker.vendor.calls] == [PLAIN]


@pytest.mark.parametrize("resolver", sorted(RESOLVERS))
def test_ids_with_unicode_spaces_are_distinct_users_in_derive_mode(resolver: str) -> None:
    broker = Broker(resolver, MINDSET_EXTERNAL_ID_MODE="derive")
    users = [PLAIN, *LOOKALIKES]
    first = {user_id: broker.token_for(user_id) for user_id in users}
    again = {user_id: broker.token_for(user_id) for user_id in users}

    sent = [call["externalId"] for call in broker.vendor.calls]
    assert sent == [PLAIN, *(derive_external_id(user_id) for user_id in LOOKALIKES)]
    tokens = {user_id: body["authToken"] for user_id, (status, body) in first.items()}
    assert len(set(tokens.values())) == len(users)
    # Reuse hands each user their own token back, and never anybody else's.
    assert again == first


@pytest.mark.parametrize("resolver", ["session", "jwt", "custom"])
def test_ids_with_lone_surrogates_are_derived_or_refused_never_a_crash(resolver: str) -> None:
    # JSON (a signed session, JWT claims, a host's user store) may carry lone surrogates.
    users = ["ada\ud800", "ada\udfff", "\ud800", "ada"]
    strict = Broker(resolver)
    assert [strict.token_for(user_id)[0] for user_id in users] == [422, 422, 422, 200]

    derived = Broker(resolver, MINDSET_EXTERNAL_ID_MODE="derive")
    answers = [derived.token_for(user_id) for user_id in users]
    assert [status for status, _ in answers] == [200] * len(users)
    assert len({body["authToken"] for _, body in answers}) == len(users)
    assert [call["externalId"] for call in derived.vendor.calls] == [
        "ada_-194696cb2b78d868bf9968473fae8dce",
        "ada_-7a8a579eca7a35979290784ecc288023",
        "_-91a681b998555fb475479817b126c94e",
        "ada",
    ]


@pytest.mark.parametrize(
    "flavor", [{"MINDSET_IDENTITY": "userEmail"}, {"MINDSET_API_FLAVOR": "legacy"}]
)
def test_emails_are_identities_and_used_exactly(flavor: dict[str, str]) -> None:
    app = build_app(mindset_settings(MINDSET_TOKEN_REUSE_SECONDS="300", **flavor))
    vendor = attach(app, GatedVendor())
    answers = []
    for email in ("ada@example.com", "ada@example.com\u00a0", "\u3000ada@example.com"):
        client = app.test_client()
        sign_in(client, "ada", email=email)
        response = client.get("/api/getusertoken")
        answers.append((response.status_code, response.get_json().get("error")))
    # Not trimmed into another user's address: an address with a space is not one Mindset takes.
    assert answers == [(200, None), (422, "invalid_identity"), (422, "invalid_identity")]
    assert [call["userEmail"] for call in vendor.calls] == ["ada@example.com"]


def test_an_id_equal_to_another_users_derived_id_gets_its_own_identity_and_token() -> None:
    broker = Broker("session", MINDSET_EXTERNAL_ID_MODE="derive")
    victim = "auth0|5f2c8e"
    impostor = derive_external_id(victim)

    victim_answer = broker.token_for(victim)
    impostor_answer = broker.token_for(impostor)

    assert victim_answer[0] == impostor_answer[0] == 200
    assert victim_answer[1]["authToken"] != impostor_answer[1]["authToken"]
    sent = [call["externalId"] for call in broker.vendor.calls]
    assert sent == [impostor, derive_external_id(impostor)]


def test_emails_with_lone_surrogates_are_refused_never_a_crash() -> None:
    app = build_app(mindset_settings(MINDSET_IDENTITY="userEmail"))
    vendor = attach(app, GatedVendor())
    client = app.test_client()
    sign_in(client, "ada", email="ada\ud800@example.com")
    response = client.get("/api/getusertoken")
    assert (response.status_code, response.get_json()["error"]) == (422, "invalid_identity")
    assert vendor.calls == []


@pytest.mark.parametrize("mode", ["strict", "derive"])
def test_names_with_lone_surrogates_never_crash_and_stay_apart(mode: str) -> None:
    broker = Broker("session", MINDSET_EXTERNAL_ID_MODE=mode)
    tokens = []
    for name in ("Ada\ud800", "Ada\udc00", "Ada"):
        client = broker.app.test_client()
        sign_in(client, "ada", name=name)
        response = client.get("/api/getusertoken")
        assert response.status_code == 200
        tokens.append(response.get_json()["authToken"])
    # One vendor call per distinct body: a token is only reused for an identical request.
    assert len(set(tokens)) == 3
    assert [call["name"] for call in broker.vendor.calls] == ["Ada\ud800", "Ada\udc00", "Ada"]


@pytest.mark.parametrize("flavor", [{}, {"MINDSET_API_FLAVOR": "legacy"}])
def test_an_over_long_email_is_refused_not_dropped(flavor: dict[str, str]) -> None:
    # Dropped, it would make the user one without an email: another identity on the legacy
    # flavor (<id>@domain). Over-long values are abuse, refused like an over-long id.
    app = build_app(mindset_settings(MINDSET_LEGACY_EMAIL_DOMAIN="users.example.com", **flavor))
    vendor = attach(app, GatedVendor())
    client = app.test_client()
    sign_in(client, "ada", email="a" * 2000 + "@example.com")
    response = client.get("/api/getusertoken")
    assert (response.status_code, response.get_json()["error"]) == (401, "not_signed_in")
    assert vendor.calls == []
