"""The Mindset client on its own: what it sends, and how each answer is classified."""

from __future__ import annotations

import contextlib
import email.utils
import socket
import struct
import time
from pathlib import Path
from typing import Any

import pytest
import requests
import responses
from responses import matchers

from app.mindset.client import FLAVOR_LEGACY, MAX_BODY_BYTES, AuthRequest, MindsetClient
from app.mindset.errors import (
    MindsetBadResponse,
    MindsetRejected,
    MindsetTimeout,
    MindsetUnavailable,
    parse_retry_after,
)

from . import fake_secrets
from .loopback_server import LoopbackServer
from .tls_server import TlsServer

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


# --- What leaves the broker, and only once ---------------------------------------------------


@pytest.mark.parametrize("status", [300, 301, 302, 303, 307, 308, 399])
def test_a_redirect_is_refused_with_its_status_and_only_its_host_named(
    vendor: Any, status: int
) -> None:
    vendor.post(
        SDK3_URL,
        status=status,
        headers={"Location": "https://elsewhere.example/steal/path?session=abc123"},
    )
    with pytest.raises(MindsetBadResponse) as raised:
        make_client().authenticate(AuthRequest(external_id="ada"))
    assert raised.value.status == status
    message = str(raised.value)
    assert "elsewhere.example" in message
    assert "/steal" not in message
    assert "abc123" not in message
    assert len(vendor.calls) == 1  # nothing was sent to elsewhere.example


def test_tls_certificates_are_checked_when_no_ca_bundle_is_set(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    with TlsServer(tmp_path) as server:
        client = MindsetClient(server.url, fake_secrets.API_KEY, fake_secrets.APP_UID)
        assert client.session.verify is True
        with pytest.raises(MindsetRejected) as raised:
            client.authenticate(AuthRequest(external_id="ada"))
        assert raised.value.status == 0
        assert server.requests == 0  # the API key never went out on the unverified channel

        # The same server, once the operator vouches for its certificate, answers.
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(server.cert_path))
        trusting = MindsetClient(server.url, fake_secrets.API_KEY, fake_secrets.APP_UID)
        assert trusting.authenticate(AuthRequest(external_id="ada")) == "tls-token"


def padded_answer(size: int) -> bytes:
    """A valid token answer of exactly ``size`` bytes."""
    frame = b'{"authToken":"t","pad":""}'
    return frame[:-2] + b"x" * (size - len(frame)) + frame[-2:]


def test_a_body_of_exactly_the_limit_is_read_and_one_byte_more_is_refused(vendor: Any) -> None:
    vendor.post(SDK3_URL, body=padded_answer(MAX_BODY_BYTES))
    vendor.post(SDK3_URL, body=padded_answer(MAX_BODY_BYTES + 1))
    client = make_client()
    assert client.authenticate(AuthRequest(external_id="ada")) == "t"
    with pytest.raises(MindsetBadResponse, match="over 65536 bytes"):
        client.authenticate(AuthRequest(external_id="ada"))


class DroppingServer(LoopbackServer):
    """Takes each connection, reads what arrives, and drops it without a word."""

    def __init__(self, *, reset_at_once: bool) -> None:
        super().__init__()
        self.reset_at_once = reset_at_once
        self.connections = 0
        self.requests: list[bytes] = []

    def handle(self, conn: socket.socket) -> None:
        self.connections += 1
        with conn:
            if self.reset_at_once:  # RST before the request is read
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                return
            conn.settimeout(2)
            with contextlib.suppress(OSError):
                self.requests.append(conn.recv(65536))


@pytest.mark.parametrize("reset_at_once", [False, True], ids=["after-reading", "at-once"])
def test_a_dropped_connection_is_never_sent_again_by_the_client(reset_at_once: bool) -> None:
    with DroppingServer(reset_at_once=reset_at_once) as server:
        client = MindsetClient(server.url, fake_secrets.API_KEY, fake_secrets.APP_UID)
        with pytest.raises(MindsetUnavailable):
            client.authenticate(AuthRequest(external_id="ada"))
        time.sleep(0.3)  # room for any repeat to arrive
    # Whether to repeat a call the vendor may have acted on is the broker's decision
    # (app/mindset/retries.py), never the HTTP library's.
    assert server.connections == 1
    assert len(server.requests) == (0 if reset_at_once else 1)


def test_a_connection_attempt_is_not_repeated_by_the_http_library() -> None:
    # A listener whose one-slot accept queue is full: the next connection is never accepted.
    listener = socket.create_server(("127.0.0.1", 0), backlog=0)
    filler = socket.create_connection(listener.getsockname())
    try:
        client = MindsetClient(
            f"http://127.0.0.1:{listener.getsockname()[1]}",
            fake_secrets.API_KEY,
            fake_secrets.APP_UID,
            connect_timeout=0.5,
        )
        started = time.monotonic()
        with pytest.raises(MindsetTimeout) as raised:
            client.authenticate(AuthRequest(external_id="ada"), deadline=started + 5)
        took = time.monotonic() - started
    finally:
        filler.close()
        listener.close()
    assert raised.value.phase == "connect"
    # One connect timeout, not two or more: urllib3 would retry a connection on its own.
    assert took < 0.95
