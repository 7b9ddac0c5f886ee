"""The stand-in vendor: its contract in-process, then its faults over real sockets."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
import requests

from flask_token_broker.sandbox_vendor.mindset import MindsetStandin, StandinRequest
from flask_token_broker.sandbox_vendor.tokens import token_claims
from harness.standin_process import StandinProcess

KEY = "test-key-123"
UID = "app-uid-1"
SDK3 = f"/api/v1/appuid/{UID}/sdkusers/auth"
LEGACY = "/api-authenticate-embedded-user"
ACCOUNT = "a" * 20
JSON_TYPE = {"Content-Type": "application/json"}


def call(
    standin: MindsetStandin,
    body: Any,
    path: str = SDK3,
    key: str | None = KEY,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, Any]]:
    sent = {**JSON_TYPE, **({"X-Api-Key": key} if key is not None else {}), **(headers or {})}
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    resp = standin.handle(StandinRequest("POST", path, sent, raw))
    return resp.status, json.loads(resp.body)


@pytest.fixture
def standin() -> MindsetStandin:
    return MindsetStandin(KEY, UID)


@pytest.mark.parametrize(
    "body",
    [
        {"externalId": "user_1-A"},
        {"userEmail": "someone@example.com"},
        {"externalId": "u1", "name": "Ann", "accountUids": [ACCOUNT], "externalTenantId": "t-1"},
    ],
)
def test_sdk3_valid_body_gets_200_token_for_that_user(
    standin: MindsetStandin, body: dict[str, Any]
) -> None:
    status, answer = call(standin, body)
    assert status == 200
    claims = token_claims(answer["authToken"])
    assert claims["sub"] == body.get("externalId", body.get("userEmail"))
    assert answer["authToken"].startswith("standin-tok.")


def test_legacy_gets_201_token_for_the_email(standin: MindsetStandin) -> None:
    body = {"userEmail": "u-7@host.example", "addToAccounts": [{"accountUid": ACCOUNT}]}
    status, answer = call(standin, body, path=LEGACY)
    assert status == 201
    assert token_claims(answer["authToken"])["sub"] == "u-7@host.example"


def test_tokens_differ_per_call(standin: MindsetStandin) -> None:
    first = call(standin, {"externalId": "u1"})[1]["authToken"]
    second = call(standin, {"externalId": "u1"})[1]["authToken"]
    assert first != second


@pytest.mark.parametrize(
    ("key", "path", "status"),
    [
        (None, SDK3, 401),
        ("", SDK3, 401),
        ("wrong", SDK3, 403),
        (None, LEGACY, 401),
        ("wrong", LEGACY, 403),
        (KEY, "/api/v1/appuid/other-app/sdkusers/auth", 404),
        (KEY, "/api/v2/nothing", 404),
    ],
)
def test_key_and_app_uid_errors(
    standin: MindsetStandin, key: str | None, path: str, status: int
) -> None:
    got, answer = call(standin, {"externalId": "u1"}, path=path, key=key)
    assert got == status
    assert isinstance(answer["message"], str)
    assert KEY not in json.dumps(answer)


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"",
        [],
        {},
        {"externalId": "u1", "userEmail": "a@example.com"},
        {"externalId": "has space"},
        {"externalId": "x" * 101},
        {"externalId": ""},
        {"externalId": 12},
        {"userEmail": "not-an-email"},
        {"userEmail": "a" * 95 + "@ex.com"},
        {"externalId": "u1", "name": "n" * 101},
        {"externalId": "u1", "accountUids": ["short"]},
        {"externalId": "u1", "accountUids": [ACCOUNT] * 11},
        {"externalId": "u1", "externalTenantId": "bad tenant"},
    ],
)
def test_invalid_sdk3_body_is_400(standin: MindsetStandin, body: Any) -> None:
    assert call(standin, body)[0] == 400


@pytest.mark.parametrize(
    "body",
    [{"externalId": "u1"}, {"userEmail": "a@example.com", "addToAccounts": [{"uid": "x"}]}],
)
def test_invalid_legacy_body_is_400(standin: MindsetStandin, body: Any) -> None:
    assert call(standin, body, path=LEGACY)[0] == 400


def test_non_json_content_type_is_400(standin: MindsetStandin) -> None:
    assert call(standin, {"externalId": "u1"}, headers={"Content-Type": "text/plain"})[0] == 400


def test_records_requests_with_lowercased_headers_and_counts(standin: MindsetStandin) -> None:
    call(standin, {"externalId": "u1"})
    call(standin, {"externalId": "u1"}, key="wrong")
    (first, second) = standin.requests()
    assert first["path"] == SDK3
    assert first["headers"]["x-api-key"] == KEY
    assert first["json"] == {"externalId": "u1"}
    assert (first["status"], second["status"]) == (200, 403)
    stats = standin.stats()
    assert stats["auth_calls"] == 2
    assert stats["tokens_minted"] == 1
    standin.clear()
    assert standin.requests() == []
    assert standin.stats()["auth_calls"] == 0


def test_jwt_format_has_sub_and_exp_after_ttl() -> None:
    standin = MindsetStandin(KEY, UID, token_format="jwt", jwt_ttl=600)
    token = call(standin, {"externalId": "u9"})[1]["authToken"]
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["sub"] == "u9"
    assert abs(claims["exp"] - (time.time() + 600)) < 5
    assert claims["exp"] - claims["iat"] == 600


# Over real sockets: one stand-in process for the module, faults cleared between tests.


@pytest.fixture(scope="module")
def vendor() -> Iterator[StandinProcess]:
    with StandinProcess(KEY, UID) as process:
        yield process


@pytest.fixture
def live(vendor: StandinProcess) -> Iterator[StandinProcess]:
    vendor.reset()
    yield vendor
    vendor.clear_fault()
    vendor.configure(latency_ms=0, token_format="opaque")


def post(
    vendor: StandinProcess, user: str = "u1", timeout: float = 2.0, **kw: Any
) -> requests.Response:
    return requests.post(
        vendor.url + SDK3,
        json={"externalId": user},
        headers={"x-api-key": KEY},
        timeout=timeout,
        **kw,
    )


def test_live_mints_token_and_records_request(live: StandinProcess) -> None:
    resp = post(live, "live-user")
    assert resp.status_code == 200
    assert token_claims(resp.json()["authToken"])["sub"] == "live-user"
    (seen,) = live.requests()
    assert seen["headers"]["x-api-key"] == KEY
    assert seen["json"] == {"externalId": "live-user"}
    assert live.stats()["auth_calls"] == 1


def test_live_keeps_connection_alive(live: StandinProcess) -> None:
    with requests.Session() as session:
        for _ in range(3):
            resp = session.post(
                live.url + SDK3, json={"externalId": "k"}, headers={"x-api-key": KEY}, timeout=2
            )
            assert resp.status_code == 200
    assert live.stats()["auth_calls"] == 3


def raw_exchange(vendor: StandinProcess, payload: bytes) -> bytes:
    """Send raw bytes, read until the server closes (the last request says Connection: close)."""
    with socket.create_connection(("127.0.0.1", vendor.port), timeout=2) as sock:
        sock.sendall(payload)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def raw_request(user: str, close: bool = False) -> bytes:
    body = json.dumps({"externalId": user}).encode()
    head = (
        f"POST {SDK3} HTTP/1.1\r\nHost: x\r\nx-api-key: {KEY}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    )
    return (head + ("Connection: close\r\n" if close else "") + "\r\n").encode() + body


def test_pipelined_answers_keep_request_order(live: StandinProcess) -> None:
    live.configure(latency_ms=20)
    data = raw_exchange(live, raw_request("first") + raw_request("second", close=True))
    assert data.count(b"HTTP/1.1 200 OK") == 2
    assert b"Connection: close" in data
    tokens = [part.split(b'"')[0].decode() for part in data.split(b'"authToken": "')[1:]]
    assert [token_claims(t)["sub"] for t in tokens] == ["first", "second"]


def test_malformed_http_is_400(live: StandinProcess) -> None:
    assert raw_exchange(live, b"NOT HTTP AT ALL\r\n\r\n").startswith(b"HTTP/1.1 400")


def test_status_fault_with_retry_after(live: StandinProcess) -> None:
    live.set_fault("status", status=503, retry_after="2")
    resp = post(live)
    assert resp.status_code == 503
    assert resp.headers["Retry-After"] == "2"
    assert "message" in resp.json()


def test_status_fault_with_empty_body(live: StandinProcess) -> None:
    live.set_fault("status", status=429, body="")
    resp = post(live)
    assert (resp.status_code, resp.content) == (429, b"")


def test_fault_for_n_times_then_healthy(live: StandinProcess) -> None:
    live.set_fault("status", status=502, times=2)
    assert [post(live).status_code for _ in range(3)] == [502, 502, 200]
    assert live.stats()["faulted_calls"] == 2


def test_slow_fault_delays_the_answer(live: StandinProcess) -> None:
    live.set_fault("slow", delay_ms=300, times=1)
    started = time.monotonic()
    assert post(live).status_code == 200
    assert time.monotonic() - started >= 0.29


def test_slow_fault_past_client_timeout_is_read_timeout(live: StandinProcess) -> None:
    live.set_fault("slow", delay_ms=1000)
    with pytest.raises(requests.ReadTimeout):
        post(live, timeout=0.2)


def test_hang_fault_ends_in_client_read_timeout(live: StandinProcess) -> None:
    live.set_fault("hang")
    with pytest.raises(requests.ReadTimeout):
        post(live, timeout=0.3)
    assert live.requests()[-1]["fault"] == "hang"


def test_reset_fault_is_connection_error(live: StandinProcess) -> None:
    live.set_fault("reset", times=1)
    with pytest.raises(requests.ConnectionError):
        post(live)
    assert post(live).status_code == 200


def test_reset_fault_sends_rst_not_fin(live: StandinProcess) -> None:
    live.set_fault("reset", times=1)
    with pytest.raises(ConnectionResetError):
        raw_exchange(live, raw_request("u1"))


def test_garbage_fault_is_200_html(live: StandinProcess) -> None:
    live.set_fault("garbage")
    resp = post(live)
    assert resp.status_code == 200
    with pytest.raises(requests.JSONDecodeError):
        resp.json()


def test_wrong_shape_fault_is_200_json_without_token(live: StandinProcess) -> None:
    live.set_fault("wrong_shape")
    resp = post(live)
    assert resp.status_code == 200
    assert "authToken" not in resp.json()


def test_control_api_is_not_faulted(live: StandinProcess) -> None:
    live.set_fault("reset")
    assert live.stats()["fault"]["mode"] == "reset"


def test_latency_applies_to_normal_answers(live: StandinProcess) -> None:
    live.configure(latency_ms=200)
    started = time.monotonic()
    assert post(live).status_code == 200
    assert time.monotonic() - started >= 0.19


def test_live_jwt_format(live: StandinProcess) -> None:
    live.configure(token_format="jwt", jwt_ttl=120)
    token = post(live, "jwt-user").json()["authToken"]
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["sub"] == "jwt-user"
    assert abs(claims["exp"] - (time.time() + 120)) < 5


def test_bad_fault_spec_is_400(live: StandinProcess) -> None:
    resp = requests.post(f"{live.url}/_standin/fault", json={"mode": "explode"}, timeout=2)
    assert resp.status_code == 400


def test_stop_ends_the_process() -> None:
    process = StandinProcess(KEY, UID).start()
    url = process.url
    assert process.stop() == 0
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{url}/_standin/health", timeout=1)


def test_accepted_keys_can_change_as_during_a_rotation(standin: MindsetStandin) -> None:
    standin.configure(api_keys=[KEY, "new-key"])
    assert call(standin, {"externalId": "u1"}, key="new-key")[0] == 200
    assert call(standin, {"externalId": "u1"})[0] == 200
    standin.configure(api_keys=["new-key"])  # the old key revoked
    assert call(standin, {"externalId": "u1"})[0] == 403
    with pytest.raises(ValueError, match="api_keys"):
        standin.configure(api_keys=[])


def test_live_accepted_keys_are_set_through_the_control_api(live: StandinProcess) -> None:
    live.configure(api_keys=["rotated-key"])
    try:
        assert post(live).status_code == 403
        resp = requests.post(
            live.url + SDK3,
            json={"externalId": "u1"},
            headers={"x-api-key": "rotated-key"},
            timeout=2,
        )
        assert resp.status_code == 200
        answer = requests.post(f"{live.url}/_standin/config", json={"api_keys": []}, timeout=2)
        assert answer.status_code == 400
        assert "rotated-key" not in str(live.stats())
    finally:
        live.configure(api_keys=[KEY])
