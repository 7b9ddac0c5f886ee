"""MINDSET_API_FLAVOR=legacy: api-authenticate-embedded-user, users by email, 201 answers."""

from __future__ import annotations

from typing import Any

import pytest
import responses
from flask.testing import FlaskClient
from responses import matchers

from flask_token_broker.errors import InvalidIdentity
from flask_token_broker.minting.identity import legacy_email_for
from flask_token_broker.ready_line import log_ready
from flask_token_broker.settings import ConfigError, load_settings
from flask_token_broker.users import CurrentUser

from . import fake_secrets
from .conftest import MINDSET_BASE, LogLines, build_app, mindset_settings, sign_in

LEGACY_URL = f"{MINDSET_BASE}/api-authenticate-embedded-user"
ACCOUNT = "acct_" + "a" * 20


@pytest.fixture
def vendor() -> Any:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


def legacy_app(**extra: str) -> FlaskClient:
    return build_app(mindset_settings(MINDSET_API_FLAVOR="legacy", **extra)).test_client()


def expect_legacy_call(vendor: Any, body: dict[str, Any], status: int = 201) -> None:
    vendor.post(
        LEGACY_URL,
        status=status,
        json={"authToken": "legacy-tok"} if status < 300 else {"message": "no"},
        match=[
            matchers.json_params_matcher(body, strict_match=True),
            matchers.header_matcher({"x-api-key": fake_secrets.API_KEY}),
        ],
    )


def test_legacy_flavor_sends_the_users_email_and_accepts_201(vendor: Any) -> None:
    client = legacy_app(MINDSET_ACCOUNT_UIDS=ACCOUNT)
    sign_in(client, "ada", email="ada@example.com", name="Ada")
    expect_legacy_call(
        vendor, {"userEmail": "ada@example.com", "addToAccounts": [{"accountUid": ACCOUNT}]}
    )

    response = client.get("/api/getusertoken")

    assert response.status_code == 200
    assert response.get_json() == {"authToken": "legacy-tok"}
    assert response.headers["Cache-Control"] == "no-store"


def test_legacy_flavor_without_accounts_sends_only_the_email(vendor: Any) -> None:
    client = legacy_app()
    sign_in(client, "ada", email="ada@example.com")
    expect_legacy_call(vendor, {"userEmail": "ada@example.com"})
    assert client.get("/api/getusertoken").status_code == 200


def test_user_without_email_is_named_on_the_configured_domain(vendor: Any) -> None:
    client = legacy_app(MINDSET_LEGACY_EMAIL_DOMAIN="users.example.com")
    sign_in(client, "u-42")
    expect_legacy_call(vendor, {"userEmail": "u-42@users.example.com"})
    assert client.get("/api/getusertoken").status_code == 200


def test_user_without_email_and_no_domain_is_422_naming_the_setting(
    vendor: Any, broker_logs: LogLines
) -> None:
    client = legacy_app()
    sign_in(client, "u-42")
    response = client.get("/api/getusertoken")
    assert response.status_code == 422
    assert response.get_json()["error"] == "invalid_identity"
    assert "MINDSET_LEGACY_EMAIL_DOMAIN" in response.get_json()["message"]
    assert "MINDSET_LEGACY_EMAIL_DOMAIN" in broker_logs.joined()


@pytest.mark.parametrize(
    "email", ["u-42@users.example.com", "ada@USERS.Example.com", "U-42@users.example.COM"]
)
def test_a_host_email_on_the_reserved_domain_is_422(
    vendor: Any, broker_logs: LogLines, email: str
) -> None:
    # Else this user and the user "u-42" without an email would be one Mindset user.
    client = legacy_app(MINDSET_LEGACY_EMAIL_DOMAIN="users.example.com")
    sign_in(client, "bob", email=email)
    response = client.get("/api/getusertoken")
    assert response.status_code == 422
    body = response.get_json()
    assert body["error"] == "invalid_identity"
    assert "reserved for users without an email" in body["message"]
    assert body["retryable"] is False
    assert "MINDSET_LEGACY_EMAIL_DOMAIN" in broker_logs.joined()
    assert email not in broker_logs.joined()


@pytest.mark.parametrize(
    "email", ["u-42@sub.users.example.com", "u-42@users.example.co", "users.example.com@x.io"]
)
def test_only_the_reserved_domain_itself_is_refused(email: str) -> None:
    assert legacy_email_for(CurrentUser("bob", email=email), "users.example.com") == email


def test_without_a_domain_no_address_is_reserved() -> None:
    user = CurrentUser("bob", email="u-42@users.example.com")
    assert legacy_email_for(user, None) == "u-42@users.example.com"


@pytest.mark.parametrize(("status", "code"), [(401, "vendor_rejected"), (403, "vendor_rejected")])
def test_legacy_key_refusals_are_final_502s(vendor: Any, status: int, code: str) -> None:
    client = legacy_app()
    sign_in(client, "ada", email="ada@example.com")
    expect_legacy_call(vendor, {"userEmail": "ada@example.com"}, status=status)
    response = client.get("/api/getusertoken")
    assert response.status_code == 502
    assert response.get_json()["error"] == code
    assert response.get_json()["retryable"] is False


@pytest.mark.parametrize(
    ("user", "domain", "expected"),
    [
        (CurrentUser("ada", email="ada@example.com"), None, "ada@example.com"),
        (CurrentUser("ada", email="ada@example.com"), "u.example.com", "ada@example.com"),
        (CurrentUser("42"), "u.example.com", "42@u.example.com"),
        (CurrentUser("auth0|5f2c"), "u.example.com", "auth0|5f2c@u.example.com"),
    ],
)
def test_legacy_email_is_the_users_own_or_built_on_the_domain(
    user: CurrentUser, domain: str | None, expected: str
) -> None:
    assert legacy_email_for(user, domain) == expected


@pytest.mark.parametrize("user_id", ["ada lovelace", "a@b", "x" * 65, "y" * 60, "ada\ud800"])
def test_ids_that_cannot_form_an_accepted_address_are_422(user_id: str) -> None:
    domain = "users.an-example-with-a-rather-long-name.com"  # 44, so 60 + 45 > 100
    with pytest.raises(InvalidIdentity, match="MINDSET_LEGACY_EMAIL_DOMAIN"):
        legacy_email_for(CurrentUser(user_id), domain)


@pytest.mark.parametrize(
    "domain", ["@example.com", "example", "https://example.com", "a b.com", "x" * 81 + ".com"]
)
def test_malformed_legacy_domains_stop_start_up(domain: str) -> None:
    with pytest.raises(ConfigError, match="MINDSET_LEGACY_EMAIL_DOMAIN"):
        load_settings(mindset_settings(MINDSET_LEGACY_EMAIL_DOMAIN=domain))


def test_unknown_flavor_stops_start_up() -> None:
    with pytest.raises(ConfigError, match="MINDSET_API_FLAVOR"):
        load_settings(mindset_settings(MINDSET_API_FLAVOR="v2"))


def test_start_up_log_names_the_legacy_flow(broker_logs: LogLines) -> None:
    log_ready(legacy_app().application)  # as the server does once it serves
    assert "flows=mindset(legacy)" in broker_logs.joined()
