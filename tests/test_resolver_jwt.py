"""BROKER_USER_RESOLVER=jwt: bearer tokens verified with PyJWT, from a secret or a JWKS URL.

The JWKS is served by a real HTTP server on loopback, so fetching, caching and refreshing on
an unknown ``kid`` go through PyJWT's own client exactly as in production.

Careless changes these tests catch (``users/jwt.py``, ``users/jwks.py``): the algorithm taken
from the token (``none``, HMAC keyed with the public key); ``exp`` not required; the issuer or
audience ignored when set, or the resolver started in production without an audience; a key
set fetched for every unknown ``kid``, or for every request during a provider outage; a
redirect followed to keys elsewhere; an unbounded or endless key-set read; the token or the
whole ``kid`` in a log line.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from flask.testing import FlaskClient
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from flask_token_broker.settings import ConfigError, find_problems, load_settings
from flask_token_broker.startup_warnings import startup_warnings
from flask_token_broker.users import jwks as jwks_module
from flask_token_broker.users.jwks import MAX_JWKS_BYTES, BoundedJWKClient
from flask_token_broker.users.jwt import MAX_TOKEN_LENGTH, bearer_token

from . import fake_secrets
from .conftest import LogLines, build_app
from .recording_server import RecordingServer
from .resolver_helpers import signed_in_as, typingmind_settings

SECRET = fake_secrets.IDP_JWT_SECRET
ISSUER = "https://login.example.com/"
AUDIENCE = "token-broker"


def claims(**extra: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"sub": "ada", "email": "ada@example.com", "name": "Ada", "exp": now + 300, **extra}


def bearer(token: str) -> dict[str, Any]:
    return {"headers": {"Authorization": f"Bearer {token}"}}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hand_made(
    header: dict[str, Any], payload: dict[str, Any], key: bytes | None, digest: str = "sha256"
) -> str:
    """A token PyJWT would refuse to make: ``alg: none``, or HMAC keyed with a public key."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    if key is None:
        return signing_input + "."
    signature = hmac.new(key, signing_input.encode(), getattr(hashlib, digest)).digest()
    return f"{signing_input}.{b64(signature)}"


# --- HS256 with BROKER_JWT_SECRET -------------------------------------------------------------


def hs_client(**extra: str) -> FlaskClient:
    settings = typingmind_settings(BROKER_USER_RESOLVER="jwt", BROKER_JWT_SECRET=SECRET, **extra)
    return build_app(settings).test_client()


def test_valid_bearer_token_names_the_user() -> None:
    token = jwt.encode(claims(), SECRET, algorithm="HS256")
    user = signed_in_as(hs_client(), **bearer(token))
    assert user == {"id": "ada", "email": "ada@example.com", "name": "Ada"}


def test_claim_names_are_configurable() -> None:
    client = hs_client(
        BROKER_JWT_ID_CLAIM="uid", BROKER_JWT_EMAIL_CLAIM="mail", BROKER_JWT_NAME_CLAIM="nick"
    )
    token = jwt.encode(
        claims(uid=42, mail="a@x.io", nick="A", sub="ignored"), SECRET, algorithm="HS256"
    )
    assert signed_in_as(client, **bearer(token)) == {"id": "42", "email": "a@x.io", "name": "A"}


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(jwt.encode(claims(exp=int(time.time()) - 120), SECRET), id="expired"),
        pytest.param(
            jwt.encode({k: v for k, v in claims().items() if k != "exp"}, SECRET), id="no-exp"
        ),
        pytest.param(jwt.encode(claims(), "x" * 40, algorithm="HS256"), id="forged"),
        pytest.param(hand_made({"alg": "none", "typ": "JWT"}, claims(), None), id="alg-none"),
        pytest.param(hand_made({"alg": "None"}, claims(), None), id="alg-None"),
        pytest.param(
            hand_made({"alg": "HS512"}, claims(), SECRET.encode(), "sha512"), id="unlisted-alg"
        ),
        pytest.param(jwt.encode(claims(sub=""), SECRET), id="empty-sub"),
        pytest.param("garbage", id="garbage"),
        pytest.param("a.b.c", id="garbage-segments"),
    ],
)
def test_refused_bearer_tokens_are_401(token: str) -> None:
    assert signed_in_as(hs_client(), **bearer(token)) is None


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer  ", "Basic YWRhOnB3", f"Token {jwt.encode(claims(), SECRET)}"],
    # Named, not by value: the token holds the current time, and a test's name must be stable
    # (mutation testing selects the tests by their names).
    ids=["none", "empty", "scheme-only", "scheme-and-spaces", "basic", "other-scheme"],
)
def test_no_bearer_token_is_401(authorization: str | None) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    assert signed_in_as(hs_client(), headers=headers) is None


def test_small_clock_skew_is_tolerated_and_configurable() -> None:
    token = jwt.encode(claims(exp=int(time.time()) - 10), SECRET)
    assert signed_in_as(hs_client(), **bearer(token)) is not None  # default leeway 30 s
    assert signed_in_as(hs_client(BROKER_JWT_LEEWAY="1"), **bearer(token)) is None


@pytest.mark.parametrize(
    ("extra", "accepted"),
    [
        ({"aud": AUDIENCE, "iss": ISSUER}, True),
        ({"aud": [AUDIENCE, "other"], "iss": ISSUER}, True),
        ({"aud": "someone-else", "iss": ISSUER}, False),
        ({"iss": ISSUER}, False),
        ({"aud": AUDIENCE, "iss": "https://evil.example.com/"}, False),
        ({"aud": AUDIENCE}, False),
    ],
)
def test_issuer_and_audience_are_checked_when_set(extra: dict[str, Any], accepted: bool) -> None:
    client = hs_client(BROKER_JWT_ISSUER=ISSUER, BROKER_JWT_AUDIENCE=AUDIENCE)
    token = jwt.encode(claims(**extra), SECRET)
    assert (signed_in_as(client, **bearer(token)) is not None) is accepted


def test_refusals_are_logged_without_the_token(broker_logs: LogLines) -> None:
    token = jwt.encode(claims(exp=int(time.time()) - 120), SECRET)
    assert signed_in_as(hs_client(), **bearer(token)) is None
    assert "ExpiredSignatureError" in broker_logs.joined()
    assert token not in broker_logs.joined()


# --- RS256 / ES256 from BROKER_JWKS_URL -------------------------------------------------------


class JwksServer:
    """A loopback identity provider's JWKS endpoint that counts its fetches."""

    def __init__(self) -> None:
        self.keys: list[dict[str, Any]] = []
        self.fetches = 0
        # A hostile or misconfigured endpoint: a redirect, or a key set padded to this size.
        self.redirect_to: str | None = None
        self.redirect_status = 307
        self.size: int | None = None
        self.raw_body: bytes | None = None
        # An outage: every fetch answered with this status.
        self.failing_with: int | None = None
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.fetches += 1
                if owner.failing_with is not None:
                    self.send_response(owner.failing_with)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if owner.redirect_to is not None:
                    self.send_response(owner.redirect_status)
                    self.send_header("Location", owner.redirect_to)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = json.dumps({"keys": owner.keys, "pad": ""}).encode()
                if owner.raw_body is not None:
                    body = owner.raw_body
                if owner.size is not None:
                    body = body[:-2] + b"x" * (owner.size - len(body)) + body[-2:]
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/.well-known/jwks.json"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def publish(self, kid: str, public_key: Any) -> None:
        algorithm = RSAAlgorithm if isinstance(public_key, rsa.RSAPublicKey) else ECAlgorithm
        jwk = algorithm.to_jwk(public_key, as_dict=True)
        self.keys.append({**jwk, "kid": kid, "use": "sig"})


@pytest.fixture
def jwks() -> Iterator[JwksServer]:
    server = JwksServer()
    server.thread.start()
    try:
        yield server
    finally:
        server.server.shutdown()
        server.server.server_close()
        server.thread.join(timeout=5)


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def other_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def jwks_client(server: JwksServer, **extra: str) -> FlaskClient:
    settings = typingmind_settings(BROKER_USER_RESOLVER="jwt", BROKER_JWKS_URL=server.url, **extra)
    return build_app(settings).test_client()


def signed(key: Any, algorithm: str, kid: str, **extra: Any) -> str:
    return jwt.encode(claims(**extra), key, algorithm=algorithm, headers={"kid": kid})


def test_rs256_and_es256_tokens_verify_against_the_jwks_and_keys_are_cached(
    jwks: JwksServer, rsa_key: rsa.RSAPrivateKey, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    jwks.publish("rsa-1", rsa_key.public_key())
    jwks.publish("ec-1", ec_key.public_key())
    client = jwks_client(jwks)

    assert signed_in_as(client, **bearer(signed(rsa_key, "RS256", "rsa-1")))
    assert signed_in_as(client, **bearer(signed(ec_key, "ES256", "ec-1", sub="bob"))) == {
        "id": "bob",
        "email": "ada@example.com",
        "name": "Ada",
    }
    assert signed_in_as(client, **bearer(signed(rsa_key, "RS256", "rsa-1")))
    assert jwks.fetches == 1


def test_an_unknown_kid_refreshes_the_keys_once(
    jwks: JwksServer, rsa_key: rsa.RSAPrivateKey, other_rsa_key: rsa.RSAPrivateKey
) -> None:
    jwks.publish("old", other_rsa_key.public_key())
    client = jwks_client(jwks, BROKER_JWKS_REFRESH_COOLDOWN="0")
    token = signed(rsa_key, "RS256", "rotated")
    assert signed_in_as(client, **bearer(token)) is None  # first fetch, then one refresh
    assert jwks.fetches == 2

    jwks.publish("rotated", rsa_key.public_key())  # the provider rotates its keys
    assert signed_in_as(client, **bearer(token)) is not None
    assert jwks.fetches == 3


def test_unknown_kids_cannot_make_the_broker_flood_the_provider(
    jwks: JwksServer, rsa_key: rsa.RSAPrivateKey
) -> None:
    jwks.publish("rsa-1", rsa_key.public_key())
    client = jwks_client(jwks)  # default cooldown: 30 s between forced refreshes
    for attempt in range(5):
        assert (
            signed_in_as(client, **bearer(signed(rsa_key, "RS256", f"made-up-{attempt}"))) is None
        )
    assert jwks.fetches == 1


def test_a_10_kb_kid_is_cut_short_in_the_log_line(
    jwks: JwksServer, rsa_key: rsa.RSAPrivateKey, broker_logs: LogLines
) -> None:
    jwks.publish("rsa-1", rsa_key.public_key())
    kid = "k" * 10_000
    assert signed_in_as(jwks_client(jwks), **bearer(signed(rsa_key, "RS256", kid))) is None
    (line,) = [line for line in broker_logs if "bearer token refused" in line]
    assert "k" * 60 in line
    assert "k" * 65 not in line
    assert "more characters" in line
    assert len(line) < 1000


def test_hs256_keyed_with_the_public_key_is_refused(
    jwks: JwksServer, rsa_key: rsa.RSAPrivateKey
) -> None:
    jwks.publish("rsa-1", rsa_key.public_key())
    public_pem = rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    token = hand_made({"alg": "HS256", "kid": "rsa-1"}, claims(), public_pem)
    assert signed_in_as(jwks_client(jwks), **bearer(token)) is None


@pytest.mark.parametrize(
    "case", ["other-key-same-kid", "alg-none", "expired", "wrong-alg-for-key", "unlisted-alg"]
)
def test_refused_jwks_tokens_are_401(
    jwks: JwksServer,
    rsa_key: rsa.RSAPrivateKey,
    ec_key: ec.EllipticCurvePrivateKey,
    other_rsa_key: rsa.RSAPrivateKey,
    case: str,
) -> None:
    jwks.publish("rsa-1", rsa_key.public_key())
    jwks.publish("ec-1", ec_key.public_key())
    impostor = other_rsa_key
    token = {
        "other-key-same-kid": lambda: signed(impostor, "RS256", "rsa-1"),
        "alg-none": lambda: hand_made({"alg": "none", "kid": "rsa-1"}, claims(), None),
        "expired": lambda: signed(rsa_key, "RS256", "rsa-1", exp=int(time.time()) - 120),
        "wrong-alg-for-key": lambda: signed(rsa_key, "RS512", "rsa-1"),
        "unlisted-alg": lambda: signed(ec_key, "ES256", "ec-1"),
    }[case]()
    client = jwks_client(
        jwks, BROKER_JWT_ALGORITHMS="RS256,RS512" if case != "unlisted-alg" else "RS256"
    )
    assert signed_in_as(client, **bearer(token)) is None


def test_unreachable_jwks_is_a_retryable_503(
    jwks: JwksServer, rsa_key: rsa.RSAPrivateKey, broker_logs: LogLines
) -> None:
    client = jwks_client(jwks)
    jwks.server.shutdown()
    jwks.server.server_close()
    response = client.get("/api/typingmind/authcode", **bearer(signed(rsa_key, "RS256", "rsa-1")))
    assert response.status_code == 503
    assert response.get_json()["error"] == "identity_provider_unavailable"
    assert response.get_json()["retryable"] is True
    assert "Retry-After" in response.headers
    assert "BROKER_JWKS_URL" in broker_logs.joined()


def test_a_jwks_endpoint_answering_html_is_a_retryable_503_not_a_refused_user(
    jwks: JwksServer, rsa_key: rsa.RSAPrivateKey, broker_logs: LogLines
) -> None:
    jwks.raw_body = b"<html><body>Service temporarily unavailable</body></html>"
    client = jwks_client(jwks)
    response = client.get("/api/typingmind/authcode", **bearer(signed(rsa_key, "RS256", "rsa-1")))
    assert response.status_code == 503
    assert response.get_json()["error"] == "identity_provider_unavailable"
    assert response.get_json()["retryable"] is True
    assert "BROKER_JWKS_URL did not answer JSON; it is not a key set" in users_warnings(broker_logs)


def test_a_jwks_redirect_is_not_followed_and_only_its_host_is_logged(
    jwks: JwksServer, rsa_key: rsa.RSAPrivateKey, broker_logs: LogLines
) -> None:
    with RecordingServer() as elsewhere:
        jwks.redirect_to = f"http://localhost:{elsewhere.port}/keys/here?sig=abc123"
        response = jwks_client(jwks).get(
            "/api/typingmind/authcode", **bearer(signed(rsa_key, "RS256", "rsa-1"))
        )
    assert response.status_code == 503
    assert response.get_json()["error"] == "identity_provider_unavailable"
    assert elsewhere.received == []
    logs = broker_logs.joined()
    assert "BROKER_JWKS_URL answered HTTP 307, a redirect to localhost" in logs
    assert "/keys/here" not in logs
    assert "abc123" not in logs


def test_a_key_set_of_the_limit_is_read_and_one_byte_more_is_refused(
    jwks: JwksServer, rsa_key: rsa.RSAPrivateKey, broker_logs: LogLines
) -> None:
    jwks.publish("rsa-1", rsa_key.public_key())
    token = signed(rsa_key, "RS256", "rsa-1")
    jwks.size = MAX_JWKS_BYTES
    assert signed_in_as(jwks_client(jwks), **bearer(token)) is not None

    jwks.size = MAX_JWKS_BYTES + 1
    response = jwks_client(jwks).get("/api/typingmind/authcode", **bearer(token))
    assert response.status_code == 503
    assert f"BROKER_JWKS_URL answered more than {MAX_JWKS_BYTES} bytes" in broker_logs.joined()


def fetch_warnings(
    client: BoundedJWKClient, broker_logs: LogLines
) -> tuple[type[Exception], list[str]]:
    """Fetch the key set, expecting a failure: its type, and the warnings logged."""
    with pytest.raises(jwt.PyJWKClientError) as raised:
        client.fetch_data()
    return type(raised.value), users_warnings(broker_logs)


def users_warnings(broker_logs: LogLines) -> list[str]:
    """What the resolver logged (``broker.users``), in order."""
    lines = [json.loads(line) for line in broker_logs]
    return [line["msg"] for line in lines if line["logger"] == "broker.users"]


@pytest.mark.parametrize("status", [300, 307, 399])
def test_a_jwks_redirect_tells_the_operator_where_it_pointed_and_what_to_set(
    jwks: JwksServer, broker_logs: LogLines, status: int
) -> None:
    jwks.redirect_to = "https://keys.example.net/v2/jwks?sig=abc"
    jwks.redirect_status = status
    failure, warnings = fetch_warnings(BoundedJWKClient(jwks.url), broker_logs)
    assert failure is jwt.PyJWKClientConnectionError
    assert warnings == [
        f"BROKER_JWKS_URL answered HTTP {status}, a redirect to keys.example.net, which the "
        "broker never follows; set BROKER_JWKS_URL to the keys' final address"
    ]


def test_a_jwks_error_status_is_not_called_a_redirect(
    jwks: JwksServer, broker_logs: LogLines
) -> None:
    jwks.redirect_to = "https://keys.example.net/"
    jwks.redirect_status = 400
    failure, warnings = fetch_warnings(BoundedJWKClient(jwks.url), broker_logs)
    assert failure is jwt.PyJWKClientConnectionError
    assert warnings == []


def test_an_oversized_key_set_is_named_in_the_log(jwks: JwksServer, broker_logs: LogLines) -> None:
    jwks.size = MAX_JWKS_BYTES + 1
    failure, warnings = fetch_warnings(BoundedJWKClient(jwks.url), broker_logs)
    assert failure is jwt.PyJWKClientConnectionError
    assert warnings == [
        f"BROKER_JWKS_URL answered more than {MAX_JWKS_BYTES} bytes; it is not a key set"
    ]


def test_a_jwks_endpoint_that_never_answers_fails_within_the_timeout() -> None:
    # Connections are queued by the kernel and never answered, until the listener closes.
    listener = socket.create_server(("127.0.0.1", 0))
    closer = threading.Timer(10, listener.close)
    closer.start()
    try:
        client = BoundedJWKClient(f"http://127.0.0.1:{listener.getsockname()[1]}/jwks", timeout=0.5)
        started = time.monotonic()
        with pytest.raises(jwt.PyJWKClientConnectionError):
            client.fetch_data()
        took = time.monotonic() - started
    finally:
        closer.cancel()
        listener.close()
    assert took < 4


class ChunkedBody:
    """A key set handed out in fixed chunks, recording each read's size."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = list(chunks)
        self.asked: list[int] = []

    def read1(self, size: int) -> bytes:
        self.asked.append(size)
        return self.chunks.pop(0)[:size] if self.chunks else b""


def test_the_key_set_is_read_in_reads_bounded_by_what_is_left() -> None:
    body = ChunkedBody([b'{"keys":', b"[]}"])
    read = jwks_module._bounded_read(body, time.monotonic() + 10)  # type: ignore[arg-type]
    assert read == b'{"keys":[]}'
    left = MAX_JWKS_BYTES + 1
    assert body.asked == [left, left - 8, left - 11]


# --- configuration ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "variable"),
    [
        ({}, "BROKER_JWT_SECRET"),
        (
            {"BROKER_JWT_SECRET": SECRET, "BROKER_JWKS_URL": "https://x.example.com/j"},
            "exactly one",
        ),
        ({"BROKER_JWT_SECRET": "short"}, "BROKER_JWT_SECRET"),
        ({"BROKER_JWKS_URL": "http://idp.example.com/jwks"}, "BROKER_JWKS_URL"),
        ({"BROKER_JWKS_URL": "file:///etc/passwd"}, "BROKER_JWKS_URL"),
        (
            {"BROKER_JWKS_URL": "https://idp.example.com/j", "BROKER_JWT_ALGORITHMS": "HS256"},
            "BROKER_JWT_ALGORITHMS",
        ),
        ({"BROKER_JWT_SECRET": SECRET, "BROKER_JWT_ALGORITHMS": "RS256"}, "BROKER_JWT_ALGORITHMS"),
        ({"BROKER_JWT_SECRET": SECRET, "BROKER_JWT_ALGORITHMS": "none"}, "BROKER_JWT_ALGORITHMS"),
        ({"BROKER_JWT_SECRET": SECRET, "BROKER_JWT_LEEWAY": "600"}, "BROKER_JWT_LEEWAY"),
        ({"BROKER_JWT_SECRET": SECRET, "BROKER_JWT_ALGORITHMS": "HS512"}, "64 bytes"),
    ],
)
def test_bad_jwt_settings_stop_start_up(extra: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError, match=variable) as raised:
        load_settings(typingmind_settings(BROKER_USER_RESOLVER="jwt", **extra))
    assert SECRET not in str(raised.value)


def test_jwt_settings_keep_the_secret_out_of_repr() -> None:
    settings = load_settings(
        typingmind_settings(BROKER_USER_RESOLVER="jwt", BROKER_JWT_SECRET=SECRET)
    )
    assert SECRET not in repr(settings)
    assert settings.users.jwt is not None
    assert settings.users.jwt.algorithms == ("HS256",)


# --- what the resolver reads and logs -----------------------------------------------------------


@pytest.mark.parametrize(
    ("authorization", "token"),
    [
        ("Bearer abc.def.ghi", "abc.def.ghi"),
        ("bearer abc.def.ghi ", "abc.def.ghi"),  # scheme in any case, padding around the token
        ("Bearer " + "t" * MAX_TOKEN_LENGTH, "t" * MAX_TOKEN_LENGTH),
        ("Bearer " + "t" * (MAX_TOKEN_LENGTH + 1), None),  # longer is not a token: unparsed
        ("Bearer ", None),
    ],
)
def test_the_bearer_token_is_the_text_after_the_scheme(
    authorization: str, token: str | None
) -> None:
    app = build_app(typingmind_settings())
    with app.test_request_context(headers={"Authorization": authorization}):
        assert bearer_token() == token


def test_the_jwks_client_uses_the_configured_lifetime_timeout_and_cooldown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    built: list[dict[str, Any]] = []

    def recording(url: str, **options: Any) -> object:
        built.append({"url": url, **options})
        return object()

    # The resolver builds the broker's bounded subclass of PyJWKClient.
    monkeypatch.setattr("flask_token_broker.users.jwt.BoundedJWKClient", recording)
    url = "https://login.example.com/.well-known/jwks.json"
    build_app(
        typingmind_settings(
            BROKER_USER_RESOLVER="jwt",
            BROKER_JWKS_URL=url,
            BROKER_JWKS_CACHE_SECONDS="120",
            BROKER_JWKS_TIMEOUT="2.5",
            BROKER_JWKS_REFRESH_COOLDOWN="7",
        )
    )
    assert built == [
        {
            "url": url,
            "cache_jwk_set": True,
            "lifespan": 120,
            "timeout": 2.5,
            "cooldown_duration": 7,
        }
    ]


def test_without_an_audience_setting_a_tokens_aud_claim_is_not_checked() -> None:
    token = jwt.encode(claims(aud="some-other-service"), SECRET)
    assert signed_in_as(hs_client(), **bearer(token)) is not None


def test_a_refused_token_is_logged_with_the_reason_only(broker_logs: LogLines) -> None:
    token = jwt.encode(claims(exp=int(time.time()) - 600), SECRET)
    assert signed_in_as(hs_client(), **bearer(token)) is None
    refused = [json.loads(line)["msg"] for line in broker_logs if "bearer token" in line]
    assert refused == ["bearer token refused: ExpiredSignatureError"]


def test_an_unknown_kid_is_logged_with_the_setting_to_check(
    jwks: JwksServer, rsa_key: rsa.RSAPrivateKey, broker_logs: LogLines
) -> None:
    jwks.publish("rsa-1", rsa_key.public_key())
    token = signed(rsa_key, "RS256", "made-up")
    assert signed_in_as(jwks_client(jwks), **bearer(token)) is None
    refused = [json.loads(line)["msg"] for line in broker_logs if "bearer token" in line]
    assert refused == [
        "bearer token refused: no key in BROKER_JWKS_URL for its kid 'made-up' (PyJWKClientError)"
    ]


def test_an_unreachable_jwks_is_logged_with_the_setting_to_check(
    jwks: JwksServer, rsa_key: rsa.RSAPrivateKey, broker_logs: LogLines
) -> None:
    client = jwks_client(jwks)
    jwks.server.shutdown()
    jwks.server.server_close()
    client.get("/api/typingmind/authcode", **bearer(signed(rsa_key, "RS256", "rsa-1")))
    assert (
        "could not fetch BROKER_JWKS_URL (PyJWKClientConnectionError); check the URL and the "
        "network" in broker_logs.joined()
    )


def test_production_refuses_the_jwt_resolver_without_an_audience() -> None:
    source = typingmind_settings(
        BROKER_ENV="production",
        BROKER_USER_RESOLVER="jwt",
        BROKER_JWT_SECRET=SECRET,
        BROKER_JWT_ISSUER="https://id.example.com/",
    )
    with pytest.raises(ConfigError, match="without BROKER_JWT_AUDIENCE") as raised:
        load_settings(source)
    assert SECRET not in str(raised.value)
    assert any("BROKER_JWT_AUDIENCE" in problem for problem in find_problems(source))
    # With the audience, production takes it.
    settings = load_settings({**source, "BROKER_JWT_AUDIENCE": "broker"})
    assert settings.users.jwt is not None
    assert settings.users.jwt.audience == "broker"


def test_outside_production_the_jwt_resolver_without_an_audience_is_a_warning() -> None:
    settings = load_settings(
        typingmind_settings(BROKER_USER_RESOLVER="jwt", BROKER_JWT_SECRET=SECRET)
    )
    warnings = [w.message for w in startup_warnings(settings, hosts_checked=True)]
    assert any("without BROKER_JWT_AUDIENCE" in message for message in warnings)
    with_audience = load_settings(
        typingmind_settings(
            BROKER_USER_RESOLVER="jwt", BROKER_JWT_SECRET=SECRET, BROKER_JWT_AUDIENCE="broker"
        )
    )
    warnings = [w.message for w in startup_warnings(with_audience, hosts_checked=True)]
    assert not any("BROKER_JWT_AUDIENCE" in message for message in warnings)


def test_an_identity_provider_outage_costs_it_one_fetch_per_cooldown(
    jwks: JwksServer, rsa_key: rsa.RSAPrivateKey
) -> None:
    jwks.publish("rsa-1", rsa_key.public_key())
    jwks.failing_with = 503
    client = jwks_client(jwks, BROKER_JWKS_REFRESH_COOLDOWN="1")
    token = signed(rsa_key, "RS256", "rsa-1")
    for _ in range(40):
        response = client.get("/api/typingmind/authcode", **bearer(token))
        assert response.status_code == 503
        assert response.get_json()["error"] == "identity_provider_unavailable"
    assert jwks.fetches == 1
    # Once the cooldown has passed, the next request asks again, and the provider is back.
    jwks.failing_with = None
    time.sleep(1.1)
    assert client.get("/api/typingmind/authcode", **bearer(token)).status_code == 200
    assert jwks.fetches == 2


def test_while_the_provider_hangs_only_the_first_request_waits_for_it() -> None:
    # Connections are queued by the kernel and never answered, until the listener closes.
    listener = socket.create_server(("127.0.0.1", 0))
    closer = threading.Timer(30, listener.close)
    closer.start()
    try:
        client = build_app(
            typingmind_settings(
                BROKER_USER_RESOLVER="jwt",
                BROKER_JWKS_URL=f"http://127.0.0.1:{listener.getsockname()[1]}/jwks",
                BROKER_JWKS_TIMEOUT="0.5",
            )
        ).test_client()
        token = signed(rsa.generate_private_key(public_exponent=65537, key_size=2048), "RS256", "k")
        took = []
        for _ in range(20):
            started = time.monotonic()
            response = client.get("/api/typingmind/authcode", **bearer(token))
            took.append(time.monotonic() - started)
            assert response.get_json()["error"] == "identity_provider_unavailable"
    finally:
        closer.cancel()
        listener.close()
    # The first waited out the timeout; the others were answered without a fetch of their own
    # (20 fetches would have taken 10 s).
    assert took[0] >= 0.4
    assert sum(took[1:]) < 2
