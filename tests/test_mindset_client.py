"""The Mindset client on its own: what it sends, and how each answer is classified."""

from __future__ import annotations

import email.utils
from typing import Any

import pytest
import requests
import responses
from responses import matchers

from app.mindset.client import FLAVOR_LEGACY, AuthRequest, MindsetClient
from app.mindset.errors import (
    MindsetBadResponse,
    MindsetRejected,
    MindsetTimeout,
    MindsetUnavailable,
    parse_retry_after,
)

from . import fake_secrets

BASE = "http://mindset.test"
SDK3_URL = f"{BASE}/api/v1/appuid/{fake_secrets.APP_UID}/sdkusers/auth"
LEGACY_URL = f"{BASE}/api-authenticate-embedded-user"
ACCOUNT = "acct_" + "a" * 20


def make_client(**options: Any) -> MindsetClient:
    return MindsetClient(BASE, fake_secrets.API_KEY, fake_secrets.APP_UID, **options)


@pytest.fixture
def vendor() -> Any:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


def test_sdk3_sends_one_identifier_name_and_accounts(vendor: Any) -> None:
    vendor.post(
        SDK3_URL,
        json={"authToken": "t"},
        match=[
            matchers.json_params_matcher(
                {"externalId": "ada", "name": "Ada", "accountUids": [ACCOUNT]}, strict_match=True
            ),
            matchers.header_matcher(
                {
                    "x-api-key": fake_secrets.API_KEY,
                    "Content-Type": "application/json",
                    "Accept": "application/json",
                }
            ),
        ],
    )
    request = AuthRequest(external_id="ada", name="Ada", account_uids=(ACCOUNT,))
    assert make_client().authenticate(request) == "t"


def test_legacy_sends_email_and_accounts_and_accepts_201(vendor: Any) -> None:
    vendor.post(
        LEGACY_URL,
        status=201,
        json={"authToken": "legacy-token"},
        match=[
            matchers.json_params_matcher(
                {"userEmail": "ada@x.io", "addToAccounts": [{"accountUid": ACCOUNT}]},
                strict_match=True,
            )
        ],
    )
    client = make_client(flavor=FLAVOR_LEGACY)
    request = AuthRequest(user_email="ada@x.io", name="ignored", account_uids=(ACCOUNT,))
    assert client.authenticate(request) == "legacy-token"


def test_an_auth_request_holds_exactly_one_identifier() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        AuthRequest(external_id="a", user_email="a@x.io")
    with pytest.raises(ValueError, match="exactly one"):
        AuthRequest()


@pytest.mark.parametrize(
    ("answer", "error", "status"),
    [
        ({"status": 400}, MindsetRejected, 400),
        ({"status": 401}, MindsetRejected, 401),
        ({"status": 403}, MindsetRejected, 403),
        ({"status": 418}, MindsetRejected, 418),
        ({"status": 429}, MindsetUnavailable, 429),
        ({"status": 500}, MindsetUnavailable, 500),
        ({"status": 502}, MindsetUnavailable, 502),
        ({"status": 504}, MindsetUnavailable, 504),
        ({"body": requests.ConnectionError()}, MindsetUnavailable, None),
        ({"body": requests.exceptions.ChunkedEncodingError()}, MindsetUnavailable, None),
        ({"body": requests.ReadTimeout()}, MindsetTimeout, None),
        ({"body": requests.exceptions.SSLError()}, MindsetRejected, 0),
        ({"status": 200, "body": "not json"}, MindsetBadResponse, None),
        ({"status": 200, "json": ["authToken"]}, MindsetBadResponse, None),
        ({"status": 200, "json": {"authToken": 12}}, MindsetBadResponse, None),
        ({"status": 200, "json": {"authToken": "a\nb"}}, MindsetBadResponse, None),
        ({"status": 200, "json": {"authToken": "x" * 20_000}}, MindsetBadResponse, None),
    ],
)
def test_answers_are_classified(
    vendor: Any, answer: dict[str, Any], error: type[Exception], status: int | None
) -> None:
    vendor.post(SDK3_URL, **answer)
    with pytest.raises(error) as raised:
        make_client().authenticate(AuthRequest(external_id="ada"))
    assert getattr(raised.value, "status", None) == status
    assert fake_secrets.API_KEY not in str(raised.value)


def test_retry_after_is_passed_on(vendor: Any) -> None:
    vendor.post(SDK3_URL, status=429, headers={"Retry-After": "12"})
    with pytest.raises(MindsetUnavailable) as raised:
        make_client().authenticate(AuthRequest(external_id="ada"))
    assert raised.value.retry_after == 12.0


def test_retry_after_accepts_http_dates() -> None:
    when = email.utils.formatdate(1_000_030, usegmt=True)
    assert parse_retry_after(when, now=1_000_000) == 30.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_the_session_keeps_a_pool_sized_for_the_concurrency() -> None:
    client = make_client(pool_size=64)
    adapter = client.session.get_adapter("https://acme.api.mindset.ai")
    assert adapter._pool_maxsize == 64  # type: ignore[attr-defined]


def test_proxy_settings_are_read_once_at_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("NO_PROXY", "")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/corporate.pem")
    client = MindsetClient("https://acme.api.mindset.ai", fake_secrets.API_KEY, "app")

    assert client.session.proxies.get("https") == "http://proxy.internal:3128"
    assert client.session.verify == "/etc/ssl/certs/corporate.pem"
    # Not re-read per call: neither the environment nor ~/.netrc is consulted again.
    assert client.session.trust_env is False


def test_no_proxy_hosts_bypass_the_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("NO_PROXY", "acme.api.mindset.ai")
    client = MindsetClient("https://acme.api.mindset.ai", fake_secrets.API_KEY, "app")
    assert "https" not in client.session.proxies
