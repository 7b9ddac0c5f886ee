"""Concurrent token requests for one user share one vendor call; different users never do."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from typing import Any

import pytest
from flask import Flask

from flask_token_broker.mindset.vendor_api import AuthRequest
from flask_token_broker.minting.reuse import request_key
from flask_token_broker.minting.tokens import Coalescer, MindsetTokens
from flask_token_broker.observability import telemetry
from flask_token_broker.state import current_broker

from . import fake_secrets
from .conftest import build_app, mindset_settings, sign_in
from .gated_vendor import WAIT, GatedVendor, attach, wait_until

N = 8


@pytest.fixture
def outcomes(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    seen: Counter[str] = Counter()

    def listener(event: str, fields: dict[str, Any]) -> None:
        if event == "token":
            seen[fields["outcome"]] += 1

    monkeypatch.setattr(telemetry, "_listeners", [listener])
    return seen


@pytest.fixture
def app() -> Flask:
    return build_app(mindset_settings())


@pytest.fixture
def vendor(app: Flask) -> GatedVendor:
    return attach(app, GatedVendor())


def tokens_of(app: Flask) -> MindsetTokens:
    with app.app_context():
        tokens = current_broker().mindset
    assert tokens is not None
    return tokens


def get_token(app: Flask, user_id: str) -> tuple[int, Any]:
    client = app.test_client()
    sign_in(client, user_id, name="Ada")
    response = client.get("/api/getusertoken")
    return response.status_code, response.get_json()


def concurrently(calls: list[Callable[[], Any]]) -> list[Future[Any]]:
    pool = ThreadPoolExecutor(len(calls))
    return [pool.submit(call) for call in calls]


def results(futures: list[Future[Any]]) -> list[Any]:
    return [future.result(WAIT) for future in futures]


def test_concurrent_requests_for_one_user_share_one_vendor_call(
    app: Flask, vendor: GatedVendor, outcomes: Counter[str]
) -> None:
    vendor.hold()
    futures = concurrently([lambda: get_token(app, "ada")] * N)
    vendor.wait_in_flight(1)
    key = tokens_of(app).key_for(AuthRequest(external_id="ada", name="Ada"))
    wait_until(lambda: tokens_of(app).coalescer.waiting(key) == N - 1, "all requests waiting")
    vendor.release()

    answers = results(futures)

    assert answers == [(200, {"authToken": "tok-1"})] * N
    assert len(vendor.calls) == 1
    assert outcomes == {"minted": 1, "coalesced": N - 1}


def test_concurrent_requests_for_different_users_each_call_the_vendor(
    app: Flask, vendor: GatedVendor, outcomes: Counter[str]
) -> None:
    vendor.make_token = lambda n, body: f"tok-{body['externalId']}"
    vendor.hold()
    users = [f"user{i}" for i in range(N)]
    futures = concurrently([partial(get_token, app, user) for user in users])
    # All N calls are at the vendor at the same time: none waited for another's.
    vendor.wait_in_flight(N)
    vendor.release()

    answers = results(futures)

    assert answers == [(200, {"authToken": f"tok-{user}"}) for user in users]
    assert sorted(call["externalId"] for call in vendor.calls) == sorted(users)
    assert outcomes == {"minted": N}


def test_concurrent_requests_for_users_differing_only_in_email_never_share_a_call(
    outcomes: Counter[str],
) -> None:
    app = build_app(mindset_settings(MINDSET_IDENTITY="userEmail"))
    vendor = attach(app, GatedVendor())
    vendor.make_token = lambda n, body: f"tok-{body['userEmail']}"
    vendor.hold()
    emails = [f"user{i}@example.com" for i in range(N)]

    def get_token_as(email: str) -> tuple[int, Any]:
        client = app.test_client()
        sign_in(client, "same-id", email=email, name="Ada")
        response = client.get("/api/getusertoken")
        return response.status_code, response.get_json()

    futures = concurrently([partial(get_token_as, email) for email in emails])
    vendor.wait_in_flight(N)
    vendor.release()

    assert results(futures) == [(200, {"authToken": f"tok-{email}"}) for email in emails]
    assert sorted(call["userEmail"] for call in vendor.calls) == sorted(emails)
    assert outcomes == {"minted": N}


def test_a_failed_call_is_shared_with_its_waiters_and_never_reused(
    outcomes: Counter[str],
) -> None:
    # One attempt per guarded call, so one shared call is exactly one vendor request.
    app = build_app(mindset_settings(BROKER_RETRY_ATTEMPTS="1"))
    vendor = attach(app, GatedVendor())
    vendor.status = 503
    vendor.hold()
    futures = concurrently([lambda: get_token(app, "ada")] * N)
    vendor.wait_in_flight(1)
    key = tokens_of(app).key_for(AuthRequest(external_id="ada", name="Ada"))
    wait_until(lambda: tokens_of(app).coalescer.waiting(key) == N - 1, "all requests waiting")
    vendor.release()

    failures = results(futures)
    assert [status for status, _ in failures] == [503] * N
    assert {body["error"] for _, body in failures} == {"vendor_unavailable"}
    assert len(vendor.calls) == 1

    vendor.status = 200
    assert get_token(app, "ada") == (200, {"authToken": "tok-2"})
    assert len(vendor.calls) == 2


def test_after_a_call_ends_the_next_request_mints_afresh(app: Flask, vendor: GatedVendor) -> None:
    assert get_token(app, "ada") == (200, {"authToken": "tok-1"})
    assert get_token(app, "ada") == (200, {"authToken": "tok-2"})


BASE = AuthRequest(external_id="ada", name="Ada", account_uids=("a" * 20,))
PARTS = ("sdk3", "http://mindset.test/api/v1/appuid/app/sdkusers/auth", "app")


@pytest.mark.parametrize(
    ("other", "parts"),
    [
        pytest.param(AuthRequest(external_id="bob", name="Ada", account_uids=("a" * 20,)), PARTS,
                     id="identifier"),
        pytest.param(AuthRequest(user_email="ada", name="Ada", account_uids=("a" * 20,)), PARTS,
                     id="identifier-kind"),
        pytest.param(AuthRequest(external_id="ada", name="Bob", account_uids=("a" * 20,)), PARTS,
                     id="name"),
        pytest.param(AuthRequest(external_id="ada", name=None, account_uids=("a" * 20,)), PARTS,
                     id="no-name"),
        pytest.param(AuthRequest(external_id="ada", name="Ada"), PARTS, id="accounts"),
        pytest.param(BASE, ("legacy", *PARTS[1:]), id="flavor"),
        pytest.param(BASE, (PARTS[0], "http://other.test/x", PARTS[2]), id="base-url"),
        pytest.param(BASE, (*PARTS[:2], "other-app"), id="app-uid"),
        pytest.param(AuthRequest(external_id="ada", name="Ada,aaaaaaaaaaaaaaaaaaaa"), PARTS,
                     id="field-boundaries"),
    ],
)  # fmt: skip
def test_requests_that_differ_in_anything_sent_never_share_a_key(
    other: AuthRequest, parts: tuple[str, ...]
) -> None:
    secret = b"k" * 32
    assert request_key(secret, PARTS, BASE) == request_key(secret, PARTS, BASE)
    assert request_key(secret, parts, other) != request_key(secret, PARTS, BASE)


@pytest.mark.parametrize(
    ("one", "two"),
    [
        (AuthRequest(user_email="ada@x.io"), AuthRequest(user_email="bob@x.io")),
        (AuthRequest(user_email="ada@x.io"), AuthRequest(user_email="ADA@x.io")),
        (AuthRequest(user_email="ada@x.io"), AuthRequest(external_id="ada@x.io")),
        (AuthRequest(user_email="ada@x.io"), AuthRequest(user_email="ada@x.io", name="Ada")),
        (AuthRequest(user_email="a@x.io"), AuthRequest(user_email="a@x.io", account_uids=("a",))),
    ],
)
def test_email_requests_that_differ_in_anything_sent_never_share_a_key(
    one: AuthRequest, two: AuthRequest
) -> None:
    secret = b"k" * 32
    assert request_key(secret, PARTS, one) != request_key(secret, PARTS, two)


def test_request_keys_depend_on_the_secret() -> None:
    assert request_key(b"a" * 32, PARTS, BASE) != request_key(b"b" * 32, PARTS, BASE)


GEVENT_SCRIPT = textwrap.dedent(
    """
    from gevent import monkey
    monkey.patch_all()
    import gevent, gevent.event
    from flask_token_broker.minting.tokens import Coalescer

    gate = gevent.event.Event()
    calls = []

    def work():
        calls.append(1)
        gate.wait(10)
        return "token"

    coalescer = Coalescer()
    greenlets = [gevent.spawn(coalescer.run, "key", work) for _ in range(50)]
    gevent.sleep(0)
    while coalescer.waiting("key") < 49:
        gevent.sleep(0.001)
    gate.set()
    gevent.joinall(greenlets, timeout=10)
    shared = sorted(g.value[1] for g in greenlets)
    print(len(calls), shared.count(True), {g.value[0] for g in greenlets})
    """
)


def test_coalescing_works_between_gevent_greenlets() -> None:
    """The production worker is gevent: the coalescer must yield, not block the hub."""
    done = subprocess.run(
        [sys.executable, "-c", GEVENT_SCRIPT],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[0] == "1 49 {'token'}"


def test_nobody_waits_on_a_key_without_a_call_in_flight() -> None:
    assert Coalescer[str]().waiting("nobody") == 0


def test_a_waiter_gives_up_on_a_lost_leader_and_does_the_work_itself() -> None:
    coalescer = Coalescer[str](max_wait=0.05)
    gate = threading.Event()

    def lost() -> str:
        gate.wait(WAIT)
        return "late"

    leader = concurrently([partial(coalescer.run, "key", lost)])
    wait_until(lambda: "key" in coalescer._calls, "the leader to start")
    try:
        started = time.monotonic()
        assert coalescer.run("key", lambda: "own") == ("own", False)
        assert time.monotonic() - started < WAIT / 2
    finally:
        gate.set()
    assert results(leader) == [("late", False)]


def test_a_waiter_raises_its_own_copy_of_the_leaders_error_with_its_cause() -> None:
    coalescer = Coalescer[str]()
    gate = threading.Event()
    cause = KeyError("the original failure")

    def failing() -> str:
        gate.wait(WAIT)
        raise RuntimeError("vendor down") from cause

    leader = concurrently([partial(coalescer.run, "key", failing)])
    wait_until(lambda: "key" in coalescer._calls, "the leader to start")
    follower = concurrently([partial(coalescer.run, "key", lambda: "unused")])
    wait_until(lambda: coalescer.waiting("key") == 1, "the follower to wait")
    gate.set()
    with pytest.raises(RuntimeError) as leaders:
        leader[0].result(WAIT)
    with pytest.raises(RuntimeError) as followers:
        follower[0].result(WAIT)
    assert followers.value is not leaders.value
    assert str(followers.value) == "vendor down"
    assert followers.value.__cause__ is cause


@pytest.mark.parametrize(
    ("request_", "key"),
    [
        (AuthRequest(external_id="ada"),
         "56565624cdeb97978de65825f376da89cf0518921ee475a08c7739688b7eec5f"),
        (AuthRequest(user_email="zoë@example.com", name="Zoë Ünal", account_uids=("a1", "a2")),
         "16f7a6619aa093907383a9fe514f992c8e58a79d621e07bd330568f1fe33af3c"),
        (AuthRequest(external_id="ada\ud800", name="Ada"),
         "094dbd13e517f487cedef78ef8ecfcaea616f7b2818b1bd38c85aedff4ead0fd"),
    ],
)  # fmt: skip
def test_request_keys_are_the_same_in_every_release(request_: AuthRequest, key: str) -> None:
    # Instances share tokens and calls through Redis by this key, also while a rolling deploy
    # runs two releases side by side: a release that changed it would share nothing.
    assert request_key(b"k" * 32, PARTS, request_) == key


@pytest.mark.parametrize(
    ("flavor", "email"), [("sdk3", None), ("legacy", "ada@example.com")]
)  # fmt: skip
def test_the_broker_keys_requests_by_its_flavor_endpoint_and_app_uid(
    flavor: str, email: str | None
) -> None:
    # The same parts in every release and on every instance: the key material is pinned above,
    # and the broker must feed it exactly these parts, the flavor named as configured.
    tokens = tokens_of(build_app(mindset_settings(MINDSET_API_FLAVOR=flavor)))
    request_ = AuthRequest(user_email=email) if email else AuthRequest(external_id="ada")
    parts = (flavor, tokens.client.url, fake_secrets.APP_UID)
    assert tokens.key_for(request_) == request_key(tokens.key_secret, parts, request_)
