"""Invariants a careless change could break while every other test still passed.

Each test here exercises a path the rest of the suite reaches only with a hand-picked
argument: the default clocks, the cryptographic properties of sealing and key derivation, the
order secrets are masked in, and the masking of a token this request did not mint.
"""

from __future__ import annotations

import email.utils
import json
import logging
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import responses

from flask_token_broker.mindset.errors import MindsetUnavailable, parse_retry_after
from flask_token_broker.minting.reuse import LocalTokens
from flask_token_broker.minting.sealing import NONCE_BYTES, Sealer, derive_key
from flask_token_broker.observability import redaction
from flask_token_broker.resilience.retries import RetryPolicy, call_with_retries
from flask_token_broker.state import current_broker
from flask_token_broker.users import CurrentUser

from . import fake_secrets
from .conftest import AUTH_URL, LogLines, build_app, mindset_settings
from .gated_vendor import WAIT, GatedVendor, attach, wait_until

# --- the production default clocks -------------------------------------------------------------


def test_kept_tokens_expire_by_the_wall_clock_by_default() -> None:
    # Reuse deadlines are epoch seconds (a JWT's exp): compared with anything else, an expired
    # token would be handed out, or a fresh one never.
    kept = LocalTokens()
    kept.put("fresh", "tok-fresh", time.time() + 60)
    kept.put("stale", "tok-stale", time.time() - 1)
    assert kept.get("fresh") is not None
    assert kept.get("stale") is None


def test_an_http_date_retry_after_counts_from_the_wall_clock_by_default() -> None:
    in_two_minutes = email.utils.formatdate(time.time() + 120, usegmt=True)
    wait = parse_retry_after(in_two_minutes)
    assert wait is not None
    assert 110 <= wait <= 121


def test_retries_measure_the_deadline_with_the_monotonic_clock_by_default() -> None:
    # The guarded call's deadline is a time.monotonic() instant; measured with another clock
    # no retry would ever seem to fit before it (or every one would).
    outcomes: list[Any] = [MindsetUnavailable("503", status=503), "token"]

    def attempt(*, deadline: float) -> str:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return str(outcome)

    policy = RetryPolicy(attempts=2, retry_after_cap=2.0, base_delay=0.0, max_delay=0.0)
    assert call_with_retries(attempt, policy, time.monotonic() + 5) == "token"
    assert outcomes == []


# --- sealing and key derivation --------------------------------------------------------------


def test_every_seal_gets_a_fresh_nonce() -> None:
    sealer = Sealer(derive_key(fake_secrets.SECRET_KEY, "redis-values"))
    sealed = [sealer.seal(b"the same token", b"the same key") for _ in range(200)]
    assert len({value[:NONCE_BYTES] for value in sealed}) == 200
    assert len(set(sealed)) == 200


@pytest.mark.parametrize(
    "purposes",
    [("redis-values", "rate-limit addresses"), ("redis-values", "redis-value"), ("a", "b")],
)
def test_keys_derived_for_different_purposes_differ(purposes: tuple[str, str]) -> None:
    one, two = (derive_key(fake_secrets.SECRET_KEY, purpose) for purpose in purposes)
    assert one != two
    assert fake_secrets.SECRET_KEY.encode() not in (one, two)
    assert len(one) == len(two) == 32
    # And a purpose's key depends on the secret.
    assert derive_key(fake_secrets.SECRET_KEY + "x", purposes[0]) != one


def test_a_sealed_value_opens_only_with_its_key_and_its_context() -> None:
    sealer = Sealer(derive_key(fake_secrets.SECRET_KEY, "redis-values"))
    other_key = Sealer(derive_key(fake_secrets.SECRET_KEY, "rate-limit addresses"))
    other_secret = Sealer(derive_key("another-secret-key-0123456789abcdef", "redis-values"))
    sealed = sealer.seal(b"tok-ada", b"prefix:token:ada")
    assert sealer.open(sealed, b"prefix:token:ada") == b"tok-ada"
    assert other_key.open(sealed, b"prefix:token:ada") is None
    assert other_secret.open(sealed, b"prefix:token:ada") is None
    assert sealer.open(sealed, b"prefix:token:bob") is None
    flipped = bytes([sealed[-1] ^ 1])
    assert sealer.open(sealed[:-1] + flipped, b"prefix:token:ada") is None


# --- masking order -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shorter", "longer"),
    [
        ("secret-alpha-0001", "secret-alpha-0001-and-more"),  # a prefix of the other
        ("aaaaaaaa", "zzzz-aaaaaaaa-zzzz"),  # inside the other, and sorts before it
        ("zzzzzzzz-9", "aaaa-zzzzzzzz-9"),  # a suffix of one that sorts before it
    ],
)
def test_a_secret_inside_another_is_masked_whole(
    broker_logs: LogLines, shorter: str, longer: str
) -> None:
    redaction.register_secret(shorter)
    redaction.register_secret(longer)
    logging.getLogger("broker.careless").warning("one %s two %s three", longer, shorter)
    line = json.loads(broker_logs[-1])
    mask = redaction.MASK
    assert line["msg"] == f"one {mask} two {mask} three"


# --- a token this request did not mint ---------------------------------------------------------


@pytest.fixture
def reusing_app() -> Iterator[Any]:
    app = build_app(mindset_settings(MINDSET_TOKEN_REUSE_SECONDS="60"))
    with responses.RequestsMock() as vendor:
        vendor.post(AUTH_URL, json={"authToken": "tok-kept-for-reuse-0001"})
        yield app


def test_a_reused_token_is_masked_in_its_requests_log_lines(
    reusing_app: Any, broker_logs: LogLines
) -> None:
    with reusing_app.app_context():
        tokens = current_broker().mindset
    assert tokens is not None
    user = CurrentUser("ada")
    with reusing_app.test_request_context():
        assert tokens.mint(user) == "tok-kept-for-reuse-0001"
    # Another request, served from the kept token without a vendor call: it is this request's
    # credential all the same, and a careless log line must not show it.
    with reusing_app.test_request_context():
        token = tokens.mint(user)
        logging.getLogger("broker.careless").info("handing out %s", token)
    line = json.loads(broker_logs[-1])
    assert line["msg"] == f"handing out {redaction.MASK}"


def test_a_coalesced_token_is_masked_in_the_followers_log_lines(broker_logs: LogLines) -> None:
    app = build_app(mindset_settings())
    vendor = attach(app, GatedVendor())
    vendor.make_token = lambda n, body: f"tok-coalesced-{n:04d}"
    with app.app_context():
        tokens = current_broker().mindset
    assert tokens is not None
    user = CurrentUser("ada")
    key = tokens.key_for(tokens.request_for(user))

    def mint_and_log() -> None:
        with app.test_request_context():
            token = tokens.mint(user)
            logging.getLogger("broker.careless").warning("handing out %s", token)

    vendor.hold()
    with ThreadPoolExecutor(2) as pool:
        futures = [pool.submit(mint_and_log) for _ in range(2)]
        vendor.wait_in_flight(1)
        wait_until(lambda: tokens.coalescer.waiting(key) == 1, "the follower waiting")
        vendor.release()
        for future in futures:
            future.result(WAIT)
    assert len(vendor.calls) == 1
    handed = [line for line in broker_logs if "handing out" in line]
    assert [json.loads(line)["msg"] for line in handed] == [f"handing out {redaction.MASK}"] * 2
