"""Tokens are handed out again only when safe: JWTs before ``exp`` minus the margin, opaque
tokens only when the operator opts in."""

from __future__ import annotations

import time
from typing import Any

import pytest

from flask_token_broker.minting.reuse import LocalTokens, ReusePolicy, jwt_expiry
from flask_token_broker.settings import ConfigError, load_settings

from .conftest import build_app, mindset_settings, sign_in
from .gated_vendor import GatedVendor, attach, jwt_with_exp

NOW = 1_800_000_000.0


def policy(**settings: str) -> ReusePolicy:
    mindset = load_settings(mindset_settings(**settings)).mindset
    assert mindset is not None
    return ReusePolicy(mindset)


@pytest.mark.parametrize(
    ("settings", "token", "until"),
    [
        pytest.param({}, jwt_with_exp(NOW + 3600), NOW + 3540, id="jwt-until-exp-minus-60s"),
        pytest.param({"MINDSET_TOKEN_REUSE_MARGIN": "600"}, jwt_with_exp(NOW + 3600),
                     NOW + 3000, id="jwt-margin-configurable"),
        pytest.param({}, jwt_with_exp(NOW + 60), None, id="jwt-within-margin"),
        pytest.param({}, jwt_with_exp(NOW - 10), None, id="jwt-expired"),
        pytest.param({"MINDSET_TOKEN_REUSE_JWT": "0"}, jwt_with_exp(NOW + 3600), None,
                     id="jwt-reuse-off"),
        pytest.param({}, jwt_with_exp(NOW + 10 * 86_400), NOW + 86_400, id="jwt-capped-at-a-day"),
        pytest.param({}, "standin-tok.eyJzdWIiOiJhZGEifQ.xyz", None, id="opaque-by-default"),
        pytest.param({"MINDSET_TOKEN_REUSE_SECONDS": "300"}, "opaque-token", NOW + 300,
                     id="opaque-opted-in"),
        pytest.param({"MINDSET_TOKEN_REUSE_SECONDS": "300"}, jwt_with_exp(NOW + 3600),
                     NOW + 3540, id="jwt-exp-wins-over-fixed"),
        pytest.param({"MINDSET_TOKEN_REUSE_SECONDS": "300", "MINDSET_TOKEN_REUSE_JWT": "0"},
                     jwt_with_exp(NOW + 3600), NOW + 300, id="jwt-as-opaque-when-off"),
    ],
)  # fmt: skip
def test_reuse_deadline_follows_the_tokens_expiry_and_the_settings(
    settings: dict[str, str], token: str, until: float | None
) -> None:
    assert policy(**settings).reusable_until(token, NOW) == until


@pytest.mark.parametrize(
    "token",
    [
        "a.b.c",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln",  # no exp
        "eyJhbGciOiJIUzI1NiJ9.eyJleHAiOiJzb29uIn0.c2ln",  # exp is a string
        "eyJhbGciOiJIUzI1NiJ9.eyJleHAiOnRydWV9.c2ln",  # exp is a boolean
        "eyJhbGciOiJIUzI1NiJ9.WzFd.c2ln",  # claims are a list
        "only.two",
        "!!!.@@@.###",
    ],
)
def test_tokens_without_a_usable_exp_have_no_expiry(token: str) -> None:
    assert jwt_expiry(token) is None


def test_a_kept_token_is_dropped_at_its_deadline() -> None:
    kept = LocalTokens()
    kept.put("k", "tok", NOW + 10)
    assert kept.get("k", now=NOW + 9) == ("tok", NOW + 10)
    assert kept.get("k", now=NOW + 10) is None
    assert kept.get("k", now=NOW) is None


def test_the_local_store_stays_within_its_capacity() -> None:
    kept = LocalTokens(capacity=10)
    for number in range(25):
        kept.put(f"k{number}", "tok", time.time() + 60)
    assert len(kept) <= 10
    assert kept.get("k24") is not None


@pytest.mark.parametrize(
    ("settings", "fresh", "expected_calls"),
    [
        pytest.param({}, lambda n: jwt_with_exp(time.time() + 3600, f"n{n}"), 1, id="jwt-reused"),
        pytest.param({}, lambda n: jwt_with_exp(time.time() + 30, f"n{n}"), 3,
                     id="jwt-inside-margin-minted"),
        pytest.param({"MINDSET_TOKEN_REUSE_MARGIN": "10"},
                     lambda n: jwt_with_exp(time.time() + 30, f"n{n}"), 1, id="jwt-smaller-margin"),
        pytest.param({}, lambda n: f"opaque-{n}", 3, id="opaque-minted-each-time"),
        pytest.param({"MINDSET_TOKEN_REUSE_SECONDS": "60"}, lambda n: f"opaque-{n}", 1,
                     id="opaque-opted-in"),
    ],
)  # fmt: skip
def test_sequential_requests_reuse_only_safe_tokens(
    settings: dict[str, str], fresh: Any, expected_calls: int
) -> None:
    app = build_app(mindset_settings(**settings))
    vendor = attach(app, GatedVendor())
    vendor.make_token = lambda n, body: fresh(n)
    client = app.test_client()
    sign_in(client, "ada")

    tokens = [client.get("/api/getusertoken").get_json()["authToken"] for _ in range(3)]

    assert len(vendor.calls) == expected_calls
    assert len(set(tokens)) == expected_calls


def test_a_reused_token_is_never_given_to_another_user() -> None:
    app = build_app(mindset_settings())
    vendor = attach(app, GatedVendor())
    vendor.make_token = lambda n, body: jwt_with_exp(time.time() + 3600, body["externalId"])
    answers: dict[str, set[str]] = {}
    for user in ("ada", "bob", "ada", "bob"):
        client = app.test_client()
        sign_in(client, user)
        answers.setdefault(user, set()).add(client.get("/api/getusertoken").get_json()["authToken"])
    assert len(vendor.calls) == 2
    assert answers["ada"].isdisjoint(answers["bob"])
    assert all(len(tokens) == 1 for tokens in answers.values())


@pytest.mark.parametrize(
    "settings",
    [{"MINDSET_IDENTITY": "userEmail"}, {"MINDSET_API_FLAVOR": "legacy"}],
    ids=["user-email", "legacy"],
)
def test_a_reused_token_is_never_given_to_a_user_with_another_email(
    settings: dict[str, str],
) -> None:
    # The users differ in nothing but the email, which is what identifies them here.
    app = build_app(mindset_settings(**settings))
    vendor = attach(app, GatedVendor())
    vendor.make_token = lambda n, body: jwt_with_exp(time.time() + 3600, body["userEmail"])
    answers: dict[str, set[str]] = {}
    for email in ("ada@example.com", "bob@example.com", "ada@example.com", "bob@example.com"):
        client = app.test_client()
        sign_in(client, "same-id", email=email, name="Same Name")
        answers.setdefault(email, set()).add(
            client.get("/api/getusertoken").get_json()["authToken"]
        )
    assert sorted(call["userEmail"] for call in vendor.calls) == [
        "ada@example.com",
        "bob@example.com",
    ]
    assert answers["ada@example.com"].isdisjoint(answers["bob@example.com"])
    assert all(len(tokens) == 1 for tokens in answers.values())


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("MINDSET_TOKEN_REUSE_SECONDS", "-1"),
        ("MINDSET_TOKEN_REUSE_SECONDS", "90000"),
        ("MINDSET_TOKEN_REUSE_SECONDS", "soon"),
        ("MINDSET_TOKEN_REUSE_MARGIN", "0"),
        ("MINDSET_TOKEN_REUSE_JWT", "maybe"),
    ],
)
def test_invalid_reuse_settings_stop_start_up(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        load_settings(mindset_settings(**{name: value}))


def test_a_one_second_opt_in_keeps_an_opaque_token_for_one_second() -> None:
    kept = policy(MINDSET_TOKEN_REUSE_SECONDS="1", MINDSET_TOKEN_REUSE_JWT="0")
    assert kept.enabled
    assert kept.reusable_until("opaque-token", NOW) == NOW + 1
    assert not policy(MINDSET_TOKEN_REUSE_JWT="0").enabled


@pytest.mark.parametrize("exp", [NOW + 3600, NOW + 36_000, NOW + 360_000 - 1])
def test_the_expiry_of_a_jwt_of_any_payload_length_is_read(exp: float) -> None:
    # Payloads of every length modulo 4 lose a different amount of base64 padding.
    for extra in ("", "a", "ab", "abc"):
        token = jwt_with_exp(exp, extra)
        assert jwt_expiry(token) == exp, token


def test_the_local_store_keeps_exactly_its_capacity() -> None:
    kept = LocalTokens(capacity=10)
    for number in range(10):
        kept.put(f"k{number}", "tok", time.time() + 60)
    assert len(kept) == 10


def test_a_full_local_store_drops_expired_tokens_first_then_the_oldest_put(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(time, "time", lambda: NOW)
    kept = LocalTokens(capacity=10)
    for number in range(10):
        kept.put(f"expiring{number}", "tok", NOW)  # reusable until exactly now: expired
    kept.put("live", "tok", NOW + 60)
    assert len(kept) == 1
    for number in range(9):
        kept.put(f"k{number}", "tok", NOW + 60)
    kept.put("live", "tok again", NOW + 60)  # put again: now the newest of ten
    kept.put("k9", "tok", NOW + 60)
    # 11 entries over a capacity of 10: the oldest go until a tenth is free (9 left).
    assert len(kept) == 9
    assert kept.get("live") == ("tok again", NOW + 60)
    assert [kept.get(f"k{number}") for number in range(2)] == [None, None]
    assert all(kept.get(f"k{number}") for number in range(2, 10))
