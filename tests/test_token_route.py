"""GET /api/getusertoken through Flask's test client, with the vendor mocked by ``responses``."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
import responses
from flask.testing import FlaskClient
from responses import matchers

from . import fake_secrets
from .conftest import AUTH_URL, LogLines, build_app, mindset_settings, sign_in

ACCOUNT_A = "acct_" + "a" * 20
ACCOUNT_B = "acct_" + "b" * 20


@pytest.fixture
def vendor() -> Any:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


def expect_token_call(vendor: Any, body: dict[str, Any], token: str = "tok-1") -> None:
    vendor.post(
        AUTH_URL,
        json={"authToken": token},
        match=[
            matchers.json_params_matcher(body, strict_match=True),
            matchers.header_matcher(
                {"x-api-key": fake_secrets.API_KEY, "Content-Type": "application/json"}
            ),
        ],
    )


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status
    assert response.mimetype == "application/json"
    body: dict[str, Any] = response.get_json()
    assert set(body) == {"error", "message", "request_id", "retryable"}
    assert body["error"] == code
    assert body["message"]
    assert body["request_id"] == response.headers["X-Request-ID"]
    return body


def test_getusertoken_returns_the_vendors_token_uncached(client: FlaskClient, vendor: Any) -> None:
    sign_in(client, "ada", name="Ada Lovelace")
    expect_token_call(vendor, {"externalId": "ada", "name": "Ada Lovelace"})

    response = client.get("/api/getusertoken")

    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.get_json() == {"authToken": "tok-1"}
    assert response.headers["Cache-Control"] == "no-store"


def test_getusertoken_without_session_is_401(client: FlaskClient, vendor: Any) -> None:
    body = assert_error(client.get("/api/getusertoken"), 401, "not_signed_in")
    assert body["retryable"] is False
    assert len(vendor.calls) == 0


@pytest.mark.parametrize("bad_id", [None, "", "   ", ["ada"], {"id": "ada"}, True, "x" * 2000])
def test_getusertoken_with_unusable_session_user_is_401(
    client: FlaskClient, vendor: Any, bad_id: Any
) -> None:
    sign_in(client, bad_id)
    assert_error(client.get("/api/getusertoken"), 401, "not_signed_in")


def test_integer_user_ids_are_sent_as_strings(client: FlaskClient, vendor: Any) -> None:
    sign_in(client, 12345)
    expect_token_call(vendor, {"externalId": "12345"})
    assert client.get("/api/getusertoken").status_code == 200


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/api/getusertoken?user_id=eve&externalId=eve&userEmail=eve@x.io", {}),
        ("/api/getusertoken", {"X-User-Id": "eve", "X-Forwarded-User": "eve"}),
        ("/api/getusertoken", {"Authorization": "Bearer eve"}),
    ],
)
def test_caller_chosen_values_never_select_the_user(
    client: FlaskClient, vendor: Any, path: str, headers: dict[str, str]
) -> None:
    sign_in(client, "ada")
    expect_token_call(vendor, {"externalId": "ada"})
    assert client.get(path, headers=headers).status_code == 200


def test_caller_chosen_values_do_not_sign_anybody_in(client: FlaskClient, vendor: Any) -> None:
    response = client.get("/api/getusertoken?user_id=eve", headers={"X-Forwarded-User": "eve"})
    assert_error(response, 401, "not_signed_in")


def test_a_forged_session_cookie_is_no_session(client: FlaskClient, vendor: Any) -> None:
    client.set_cookie("session", "eyJ1c2VyX2lkIjoiZXZlIn0.forged.signature")
    assert_error(client.get("/api/getusertoken"), 401, "not_signed_in")


def test_user_email_identity_sends_only_the_email(vendor: Any) -> None:
    client = build_app(mindset_settings(MINDSET_IDENTITY="userEmail")).test_client()
    sign_in(client, "ada", email="ada@example.com")
    expect_token_call(vendor, {"userEmail": "ada@example.com"})
    assert client.get("/api/getusertoken").status_code == 200


def test_user_email_identity_sends_the_name_and_accounts_too(vendor: Any) -> None:
    settings = mindset_settings(
        MINDSET_IDENTITY="userEmail", MINDSET_ACCOUNT_UIDS=f"{ACCOUNT_A},{ACCOUNT_B}"
    )
    client = build_app(settings).test_client()
    sign_in(client, "ada", email="ada@example.com", name="N" * 150)
    expect_token_call(
        vendor,
        {"userEmail": "ada@example.com", "name": "N" * 100, "accountUids": [ACCOUNT_A, ACCOUNT_B]},
    )
    assert client.get("/api/getusertoken").status_code == 200


def test_user_email_identity_without_email_is_422_naming_the_setting(vendor: Any) -> None:
    client = build_app(mindset_settings(MINDSET_IDENTITY="userEmail")).test_client()
    sign_in(client, "ada")
    body = assert_error(client.get("/api/getusertoken"), 422, "invalid_identity")
    assert "MINDSET_IDENTITY" in body["message"]


def test_name_is_cut_to_100_characters_and_accounts_are_sent(vendor: Any) -> None:
    settings = mindset_settings(MINDSET_ACCOUNT_UIDS=f"{ACCOUNT_A}, {ACCOUNT_B}")
    client = build_app(settings).test_client()
    sign_in(client, "ada", name="N" * 150)
    expect_token_call(
        vendor, {"externalId": "ada", "name": "N" * 100, "accountUids": [ACCOUNT_A, ACCOUNT_B]}
    )
    assert client.get("/api/getusertoken").status_code == 200


def test_id_outside_the_vendor_charset_is_422_in_strict_mode(
    client: FlaskClient, vendor: Any
) -> None:
    sign_in(client, "auth0|5f2c8e")
    body = assert_error(client.get("/api/getusertoken"), 422, "invalid_identity")
    assert "MINDSET_EXTERNAL_ID_MODE" in body["message"]
    assert body["retryable"] is False


def test_id_outside_the_vendor_charset_is_derived_in_derive_mode(vendor: Any) -> None:
    client = build_app(mindset_settings(MINDSET_EXTERNAL_ID_MODE="derive")).test_client()
    sign_in(client, "auth0|5f2c8e")
    expect_token_call(vendor, {"externalId": "auth0_5f2c8e-0bf3feeb69c480b9795be6e4c29a3045"})
    assert client.get("/api/getusertoken").status_code == 200


@pytest.mark.parametrize(
    ("vendor_answer", "status", "code", "retry_after"),
    [
        ({"status": 401, "json": {"message": "VENDOR-BODY-1"}}, 502, "vendor_rejected", None),
        ({"status": 403, "json": {"message": "VENDOR-BODY-2"}}, 502, "vendor_rejected", None),
        ({"status": 404, "json": {"message": "VENDOR-BODY-3"}}, 502, "vendor_rejected", None),
        ({"status": 200, "body": "<html>VENDOR-BODY-4</html>"}, 502, "vendor_bad_response", None),
        ({"status": 200, "json": {"token": "x"}}, 502, "vendor_bad_response", None),
        ({"status": 200, "json": {"authToken": ""}}, 502, "vendor_bad_response", None),
        ({"status": 500, "body": "VENDOR-BODY-5"}, 503, "vendor_unavailable", "2"),
        ({"status": 503, "headers": {"Retry-After": "7"}}, 503, "vendor_unavailable", "7"),
        ({"status": 429, "headers": {"Retry-After": "30"}}, 503, "vendor_unavailable", "30"),
        ({"body": requests.ConnectionError("VENDOR-BODY-6")}, 503, "vendor_unavailable", "2"),
        ({"body": requests.ReadTimeout("slow")}, 504, "vendor_timeout", "2"),
        ({"body": requests.ConnectTimeout("slow")}, 504, "vendor_timeout", "2"),
    ],
)
def test_each_vendor_failure_has_its_status_and_shape(
    client: FlaskClient,
    vendor: Any,
    vendor_answer: dict[str, Any],
    status: int,
    code: str,
    retry_after: str | None,
) -> None:
    sign_in(client, "ada")
    vendor.post(AUTH_URL, **vendor_answer)

    response = client.get("/api/getusertoken")

    body = assert_error(response, status, code)
    assert body["retryable"] is (retry_after is not None)
    assert response.headers.get("Retry-After") == retry_after
    assert "VENDOR-BODY" not in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("vendor_status", "setting"),
    [(401, "MINDSET_API_KEY"), (403, "MINDSET_API_KEY"), (404, "MINDSET_APP_UID")],
)
def test_rejections_log_which_setting_to_check(
    client: FlaskClient, vendor: Any, broker_logs: LogLines, vendor_status: int, setting: str
) -> None:
    sign_in(client, "ada")
    vendor.post(AUTH_URL, status=vendor_status)
    response = client.get("/api/getusertoken")
    request_id = response.get_json()["request_id"]
    lines = [json.loads(line) for line in broker_logs]
    error_lines = [line for line in lines if line.get("error_code") == "vendor_rejected"]
    assert error_lines
    assert setting in error_lines[0]["msg"]
    assert error_lines[0]["request_id"] == request_id


def test_connect_and_read_timeouts_are_always_set(vendor: Any) -> None:
    settings = mindset_settings(MINDSET_CONNECT_TIMEOUT="1.5", MINDSET_READ_TIMEOUT="4")
    client = build_app(settings).test_client()
    sign_in(client, "ada")
    expect_token_call(vendor, {"externalId": "ada"})
    client.get("/api/getusertoken")
    assert vendor.calls[0].request.req_kwargs["timeout"] == (1.5, 4.0)


def test_unconfigured_mindset_is_a_json_404(vendor: Any) -> None:
    # Only a TypingMind credential: not the sandbox, and Mindset is off.
    client = build_app(
        {
            "TYPINGMIND_URL": "https://chat.example.com",
            "TYPINGMIND_JWT_SECRET": fake_secrets.TYPINGMIND_SECRET,
            "SECRET_KEY": fake_secrets.SECRET_KEY,
        }
    ).test_client()
    sign_in(client, "ada")
    assert_error(client.get("/api/getusertoken"), 404, "not_configured")


def test_unknown_paths_and_methods_answer_json(client: FlaskClient, vendor: Any) -> None:
    assert_error(client.get("/api/nope"), 404, "not_found")
    response = client.post("/api/getusertoken")
    assert_error(response, 405, "method_not_allowed")
    assert "GET" in response.headers["Allow"]
