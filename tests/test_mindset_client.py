"""The Mindset client on its own: what it sends, and how each answer is classified."""

from __future__ import annotations

import contextlib
import email.utils
import io
import logging
import re
import socket
import struct
import time
from pathlib import Path
from typing import Any

import pytest
import requests
import responses
from requests.adapters import BaseAdapter
from responses import matchers

from flask_token_broker.mindset import answers
from flask_token_broker.mindset import client as client_module
from flask_token_broker.mindset.answers import MAX_BODY_BYTES, MAX_TOKEN_LENGTH
from flask_token_broker.mindset.client import MindsetClient
from flask_token_broker.mindset.deadline import AttemptOverrun
from flask_token_broker.mindset.errors import (
    MindsetBadResponse,
    MindsetError,
    MindsetRejected,
    MindsetTimeout,
    MindsetUnavailable,
    parse_retry_after,
)
from flask_token_broker.mindset.transport import WatchedAdapter
from flask_token_broker.mindset.vendor_api import AuthRequest
from flask_token_broker.settings import FLAVOR_LEGACY

from . import fake_secrets
from .drip_server import DripServer
from .loopback_server import LoopbackServer
from .tls_server import TlsServer
from .vendor_defaults import CLIENT_OPTIONS

BASE = "http://mindset.test"
SDK3_URL = f"{BASE}/api/v1/appuid/{fake_secrets.APP_UID}/sdkusers/auth"
LEGACY_URL = f"{BASE}/api-authenticate-embedded-user"
ACCOUNT = "acct_" + "a" * 20


def make_client(**options: Any) -> MindsetClient:
    return MindsetClient(
        BASE, fake_secrets.API_KEY, fake_secrets.APP_UID, **{**CLIENT_OPTIONS, **options}
    )


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
    client = MindsetClient(
        "https://acme.api.mindset.ai", fake_secrets.API_KEY, "app", **CLIENT_OPTIONS
    )

    assert client.session.proxies.get("https") == "http://proxy.internal:3128"
    assert client.session.verify == "/etc/ssl/certs/corporate.pem"
    # Not re-read per call: neither the environment nor ~/.netrc is consulted again.
    assert client.session.trust_env is False


def test_no_proxy_hosts_bypass_the_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("NO_PROXY", "acme.api.mindset.ai")
    client = MindsetClient(
        "https://acme.api.mindset.ai", fake_secrets.API_KEY, "app", **CLIENT_OPTIONS
    )
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
        client = MindsetClient(
            server.url, fake_secrets.API_KEY, fake_secrets.APP_UID, **CLIENT_OPTIONS
        )
        assert client.session.verify is True
        with pytest.raises(MindsetRejected) as raised:
            client.authenticate(AuthRequest(external_id="ada"))
        assert raised.value.status == 0
        assert server.requests == 0  # the API key never went out on the unverified channel

        # The same server, once the operator vouches for its certificate, answers.
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(server.cert_path))
        trusting = MindsetClient(
            server.url, fake_secrets.API_KEY, fake_secrets.APP_UID, **CLIENT_OPTIONS
        )
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
        client = MindsetClient(
            server.url, fake_secrets.API_KEY, fake_secrets.APP_UID, **CLIENT_OPTIONS
        )
        with pytest.raises(MindsetUnavailable):
            client.authenticate(AuthRequest(external_id="ada"))
        time.sleep(0.3)  # room for any repeat to arrive
    # Whether to repeat a call the vendor may have acted on is the broker's decision
    # (flask_token_broker/resilience/retries.py), never the HTTP library's.
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
            **{**CLIENT_OPTIONS, "connect_timeout": 0.5},
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


# --- What the operator reads, and what the client reports -------------------------------------

HOST_HINT = "check MINDSET_API_HOST points at the Mindset API"


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (
            {"status": 200, "body": "not json"},
            f"Mindset answered HTTP 200 with a body that is not JSON; {HOST_HINT}",
        ),
        ({"status": 200, "json": {}}, "Mindset answered HTTP 200 without a usable authToken"),
        (
            {"status": 200, "json": {"authToken": "a\tb"}},
            "Mindset's authToken holds unprintable characters",
        ),
        (
            {"status": 200, "body": padded_answer(MAX_BODY_BYTES + 1)},
            f"Mindset answered with a body over 65536 bytes; {HOST_HINT}",
        ),
        (
            {"status": 307, "headers": {"Location": "https://elsewhere.example/x"}},
            "Mindset answered HTTP 307, a redirect to elsewhere.example, which the broker never "
            "follows; check MINDSET_API_HOST is the API host the Mindset team gave you",
        ),
        (
            {"body": requests.exceptions.SSLError()},
            "TLS with Mindset failed; check MINDSET_API_HOST and the CA bundle",
        ),
        (
            {"body": requests.ConnectionError()},
            "could not reach Mindset (ConnectionError); check MINDSET_API_HOST and the network",
        ),
        ({"body": requests.ReadTimeout()}, "Mindset did not answer within 5 s"),
        ({"body": requests.ConnectTimeout()}, "Mindset did not accept a connection within 3.05 s"),
    ],
)
def test_each_failure_tells_the_operator_what_to_check(
    vendor: Any, answer: dict[str, Any], message: str
) -> None:
    # The message is the operator's log line (app/tokens.py logs it as the hint).
    vendor.post(SDK3_URL, **answer)
    with pytest.raises(MindsetError) as raised:
        make_client().authenticate(AuthRequest(external_id="ada"))
    assert str(raised.value) == message


def test_a_connect_timeout_says_the_call_never_reached_the_vendor(vendor: Any) -> None:
    vendor.post(SDK3_URL, body=requests.ConnectTimeout())
    with pytest.raises(MindsetTimeout) as raised:
        make_client().authenticate(AuthRequest(external_id="ada"))
    assert raised.value.phase == "connect"


def test_misuse_of_the_client_is_refused_with_a_reason() -> None:
    with pytest.raises(
        ValueError, match=r"^exactly one of external_id and user_email must be set$"
    ):
        AuthRequest()
    with pytest.raises(ValueError, match=r"^unknown Mindset API flavor 'sdk4'$"):
        make_client(flavor="sdk4")
    with pytest.raises(ValueError, match=r"^the legacy endpoint identifies users by email only$"):
        make_client(flavor=FLAVOR_LEGACY).body_for(AuthRequest(external_id="ada"))


def test_a_token_of_exactly_the_maximum_length_is_accepted(vendor: Any) -> None:
    token = "t" * MAX_TOKEN_LENGTH
    vendor.post(SDK3_URL, json={"authToken": token})
    assert make_client().authenticate(AuthRequest(external_id="ada")) == token


def test_the_body_goes_out_as_compact_json_with_the_broker_headers(vendor: Any) -> None:
    vendor.post(SDK3_URL, json={"authToken": "t"})
    make_client().authenticate(AuthRequest(external_id="ada"))
    sent = vendor.calls[0].request
    assert sent.body == b'{"externalId":"ada"}'
    assert sent.headers["User-Agent"] == "mindset-token-broker/1.0"
    # Uncompressed: a compressed answer could expand far beyond the body bound once decoded.
    assert sent.headers["Accept-Encoding"] == "identity"


def test_plain_http_calls_go_through_the_watched_adapter_too() -> None:
    client = make_client()
    assert isinstance(client.session.get_adapter("http://127.0.0.1:1/x"), WatchedAdapter)
    assert isinstance(client.session.get_adapter("https://acme.api.mindset.ai/x"), WatchedAdapter)


def test_curl_ca_bundle_is_honoured_when_requests_ca_bundle_is_unset(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.setenv("CURL_CA_BUNDLE", "/etc/ssl/certs/curl.pem")
    client = MindsetClient(
        "https://acme.api.mindset.ai", fake_secrets.API_KEY, "app", **CLIENT_OPTIONS
    )
    assert client.session.verify == "/etc/ssl/certs/curl.pem"


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.mark.parametrize(
    ("answer", "outcome", "status"),
    [
        ({"json": {"authToken": "t"}}, "ok", 200),
        ({"status": 403}, "MindsetRejected", 403),
        ({"status": 503}, "MindsetUnavailable", 503),
    ],
)
def test_every_attempt_is_observed_and_logged_with_its_outcome_status_and_time(
    vendor: Any, answer: dict[str, Any], outcome: str, status: int
) -> None:
    vendor.post(SDK3_URL, **answer)
    seen: list[tuple[str, int | None, float]] = []
    client = make_client(observer=lambda *attempt: seen.append(attempt))
    # Straight on the client's logger: the app's logging set-up may stop propagation.
    logger = logging.getLogger("broker.mindset")
    records = Records()
    logger.addHandler(records)
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        with contextlib.suppress(MindsetError):
            client.authenticate(AuthRequest(external_id="ada"))
    finally:
        logger.removeHandler(records)
        logger.setLevel(level)
    ((seen_outcome, seen_status, seconds),) = seen
    assert (seen_outcome, seen_status) == (outcome, status)
    assert 0 <= seconds < 5
    (record,) = records.records
    assert record.getMessage() == f"mindset call {outcome}"
    assert record.vendor == "mindset"  # type: ignore[attr-defined]
    assert record.vendor_status == status  # type: ignore[attr-defined]
    assert record.vendor_outcome == outcome  # type: ignore[attr-defined]
    assert record.vendor_ms == round(seconds * 1000, 1)  # type: ignore[attr-defined]


# --- The deadline, as the client applies it ---------------------------------------------------


def test_the_time_logged_is_the_attempt_s_own_in_milliseconds(vendor: Any) -> None:
    def slow_answer(request: Any) -> tuple[int, dict[str, str], str]:
        time.sleep(0.25)
        return 200, {}, '{"authToken": "t"}'

    vendor.add_callback(responses.POST, SDK3_URL, callback=slow_answer)
    seen: list[float] = []
    client = make_client(observer=lambda outcome, status, seconds: seen.append(seconds))
    logger = logging.getLogger("broker.mindset")
    records = Records()
    logger.addHandler(records)
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        client.authenticate(AuthRequest(external_id="ada"))
    finally:
        logger.removeHandler(records)
        logger.setLevel(level)
    ((seconds),) = seen
    assert 0.25 <= seconds < 5
    (record,) = records.records
    assert record.vendor_ms == round(seconds * 1000, 1)  # type: ignore[attr-defined]


def test_a_body_from_a_transport_without_a_socket_is_still_read_bounded() -> None:
    # A host may inject a session whose adapter answers from memory (as the sandbox does).
    response = requests.Response()
    response.raw = io.BytesIO(b'{"authToken":"t"}')
    assert answers.bounded_body(response, time.monotonic() + 10) == b'{"authToken":"t"}'


class FrozenClock:
    """``time`` for the client module, stopped at one instant."""

    def __init__(self, now: float) -> None:
        self.now = now

    def monotonic(self) -> float:
        return self.now

    def perf_counter(self) -> float:
        return time.perf_counter()


def test_no_call_goes_out_when_the_deadline_is_now(
    vendor: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(client_module, "time", FrozenClock(100.0))
    with pytest.raises(MindsetTimeout) as raised:
        make_client().authenticate(AuthRequest(external_id="ada"), deadline=100.0)
    assert raised.value.phase == "deadline"
    assert str(raised.value) == "no time left for a Mindset call"
    assert len(vendor.calls) == 0


def test_a_deadline_under_a_second_away_still_gets_its_answer(vendor: Any) -> None:
    vendor.post(SDK3_URL, json={"authToken": "t"})
    deadline = time.monotonic() + 0.8
    assert make_client().authenticate(AuthRequest(external_id="ada"), deadline=deadline) == "t"


class FakeSocket:
    def __init__(self) -> None:
        self.timeouts: list[float | None] = []

    def settimeout(self, seconds: float | None) -> None:
        self.timeouts.append(seconds)


class FakeRaw:
    """A streamed body given out in fixed chunks, recording each read's size."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = list(chunks)
        self.asked: list[int] = []
        self.connection = type("Connection", (), {"sock": FakeSocket()})()

    def read1(self, size: int) -> bytes:
        self.asked.append(size)
        return self.chunks.pop(0)[:size] if self.chunks else b""

    def close(self) -> None:
        self.chunks = []


def response_with(raw: FakeRaw) -> requests.Response:
    response = requests.Response()
    response.raw = raw
    return response


def test_the_body_is_read_in_socket_reads_bounded_in_size_and_time() -> None:
    raw = FakeRaw([b'{"authToken":', b'"t"}'])
    deadline = time.monotonic() + 10
    assert answers.bounded_body(response_with(raw), deadline) == b'{"authToken":"t"}'
    # Each read asks for no more than what is left of the bound (plus the byte that shows
    # it was exceeded)...
    assert raw.asked == [MAX_BODY_BYTES + 1, MAX_BODY_BYTES + 1 - 13, MAX_BODY_BYTES + 1 - 17]
    # ... and waits no longer than the time left.
    timeouts = raw.connection.sock.timeouts
    assert len(timeouts) == 3
    assert all(t is not None and 0 < t <= 10 for t in timeouts)


def test_chunks_adding_up_past_the_bound_are_refused() -> None:
    half = b"x" * (MAX_BODY_BYTES // 2 + 1)
    with pytest.raises(MindsetBadResponse, match="over 65536 bytes"):
        answers.bounded_body(response_with(FakeRaw([half, half])), time.monotonic() + 10)


def test_a_body_still_arriving_at_the_deadline_is_cut_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(answers, "time", FrozenClock(100.0))
    raw = FakeRaw([b"{}"])
    with pytest.raises(AttemptOverrun):
        answers.bounded_body(response_with(raw), 100.0)
    assert raw.asked == []


class RecordingAdapter(BaseAdapter):
    """Answers a token and keeps what the client passed to the transport."""

    def __init__(self) -> None:
        super().__init__()
        self.options: dict[str, Any] = {}

    def send(  # type: ignore[override]
        self, request: requests.PreparedRequest, **options: Any
    ) -> requests.Response:
        self.options = options
        response = requests.Response()
        response.status_code = 200
        response.raw = FakeRaw([b'{"authToken":"t"}'])
        return response

    def close(self) -> None:
        pass


def test_the_transport_gets_the_session_proxies_certificate_and_a_streamed_read() -> None:
    session = requests.Session()
    session.trust_env = False
    client = MindsetClient(
        BASE, fake_secrets.API_KEY, fake_secrets.APP_UID, **CLIENT_OPTIONS, session=session
    )
    adapter = RecordingAdapter()
    session.mount("http://", adapter)
    session.proxies = {"http": "http://proxy.internal:3128"}
    session.cert = "/etc/ssl/client.pem"
    session.verify = None  # requests would read None as "do not check"

    assert client.authenticate(AuthRequest(external_id="ada")) == "t"
    assert adapter.options["stream"] is True  # nothing is read before the bounded read
    assert adapter.options["proxies"] == {"http": "http://proxy.internal:3128"}
    assert adapter.options["cert"] == "/etc/ssl/client.pem"
    assert adapter.options["verify"] is True


def test_a_flood_is_read_no_further_than_the_bound() -> None:
    with DripServer(flood_bytes=256 * 1024 * 1024) as server:
        client = MindsetClient(
            server.url, fake_secrets.API_KEY, fake_secrets.APP_UID, **CLIENT_OPTIONS
        )
        with pytest.raises(MindsetBadResponse, match="over 65536 bytes"):
            client.authenticate(AuthRequest(external_id="ada"))
    # Kernel buffers take a few megabytes; reading the whole answer would take all 256.
    assert max(server.sent) < 64 * 1024 * 1024


def test_a_proxy_is_used_and_its_connection_cut_off_at_the_deadline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with DripServer(drip_headers=True, interval=0.1) as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.setenv("NO_PROXY", "")
        client = MindsetClient(
            BASE,
            fake_secrets.API_KEY,
            fake_secrets.APP_UID,
            **{**CLIENT_OPTIONS, "read_timeout": 30},
        )
        started = time.monotonic()
        with pytest.raises(MindsetTimeout) as raised:
            client.authenticate(AuthRequest(external_id="ada"), deadline=started + 1)
        took = time.monotonic() - started
    assert proxy.requests[0].startswith(b"POST http://mindset.test/api/v1/appuid/")
    assert raised.value.phase == "deadline"
    # Cut off at the 1 s deadline, not after the half-minute the drip would take.
    assert took < 4


def test_a_dripped_answer_is_cut_off_at_the_deadline_with_the_time_it_had() -> None:
    with DripServer(drip_headers=True, interval=0.1) as server:
        client = MindsetClient(
            server.url,
            fake_secrets.API_KEY,
            fake_secrets.APP_UID,
            **{**CLIENT_OPTIONS, "read_timeout": 30},
        )
        started = time.monotonic()
        # Three seconds: on a busy machine the first dripped bytes may take a while to come,
        # and the whole answer takes ten times longer.
        with pytest.raises(MindsetTimeout) as raised:
            client.authenticate(AuthRequest(external_id="ada"), deadline=started + 3)
        took = time.monotonic() - started
    assert raised.value.phase == "deadline"
    had = re.fullmatch(
        r"Mindset did not answer completely within the (\d\.\d\d) s left", str(raised.value)
    )
    assert had is not None, str(raised.value)
    # The time it had: what was left of the three seconds when the attempt began.
    assert 0 < float(had[1]) <= 3.0
    assert 0 < max(server.sent, default=0) < server.total
    assert took < 3 + 3
