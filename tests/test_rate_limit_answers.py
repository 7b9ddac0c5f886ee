"""The 429 answer of the rate limits, the order the limits are counted in, and the address key.

Time is frozen (``time.time``, which the counters read too) so that ``Retry-After`` has one
right value: the seconds until the sliding window lets one request through, in whole seconds.

Careless changes these tests catch (``protection/rate_limits.py``): a ``Retry-After`` off by
a second or fixed at the default, or read from another counter than the one that refused;
a counter store failing while the window is read turning the 429 into a 500, or a wait
longer than needed; the refusal's log line without its scope, limit, wait or error fields;
a different wording of the answer; the limits counted longest window first, so a request the
per-minute limit refuses still spends the hourly budget of its address; a change of the
address key's derivation, which splits the counters of instances sharing Redis across a
rolling upgrade; an address no codec can encode letting a request through uncounted; a
rate-limited blueprint on an app without the broker failing without saying what to do.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import responses
from flask import Blueprint, Flask

from flask_token_broker.protection.rate_limits import AddressKey, rate_limited

from . import fake_secrets
from .conftest import AUTH_URL, LogLines, build_app, mindset_settings, sign_in
from .wall_clock import Clock, frozen_wall_clock

# A whole hour (and minute) of the epoch: the counters' windows start on such multiples.
HOUR_START = 1_800_000_000.0


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    return frozen_wall_clock(monkeypatch, HOUR_START)


@pytest.fixture
def vendor() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.post(AUTH_URL, json={"authToken": "tok-answers"})
        yield mock


def limited_app(**extra: str) -> Flask:
    return build_app(mindset_settings(**extra))


def logged(broker_logs: LogLines, logger: str) -> list[dict[str, Any]]:
    entries = [json.loads(line) for line in broker_logs]
    return [entry for entry in entries if entry["logger"] == logger]


def test_retry_after_counts_the_seconds_until_the_address_window_lets_one_through(
    clock: Clock, broker_logs: LogLines
) -> None:
    clock.now = HOUR_START + 600  # ten minutes into the hour's window
    client = limited_app(BROKER_RATE_LIMIT_PER_IP="1/hour").test_client()
    assert client.get("/api/getusertoken").status_code == 401

    refused = client.get("/api/getusertoken")

    assert refused.status_code == 429
    # The window ends in 3000 s; a whole second more, as the counters keep whole seconds.
    assert refused.headers["Retry-After"] == "3001"
    assert refused.get_json()["message"] == (
        "Too many requests: wait Retry-After seconds before asking again."
    )
    lines = logged(broker_logs, "broker.rate_limits")
    assert [(line["level"], line["msg"]) for line in lines] == [
        ("info", "rate_limited: ip limit 1 per 1 hour reached; the caller must wait 3001 s")
    ]
    assert {key: lines[0][key] for key in ("error_code", "status", "scope")} == {
        "error_code": "rate_limited",
        "status": 429,
        "scope": "ip",
    }
    access = logged(broker_logs, "broker.access")
    assert access[-1]["outcome"] == "rate_limited"


def test_retry_after_of_a_user_limit_is_read_from_that_users_counter(
    clock: Clock, vendor: responses.RequestsMock, broker_logs: LogLines
) -> None:
    clock.now = HOUR_START + 15
    client = limited_app(BROKER_RATE_LIMIT="1/minute").test_client()
    sign_in(client, "ada")
    assert client.get("/api/getusertoken").status_code == 200

    refused = client.get("/api/getusertoken")

    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "46"
    lines = logged(broker_logs, "broker.rate_limits")
    assert [line["msg"] for line in lines] == [
        "rate_limited: user limit 1 per 1 minute reached; the caller must wait 46 s"
    ]
    assert lines[0]["scope"] == "user"


def test_an_unreadable_window_still_answers_429_with_the_shortest_wait(
    clock: Clock, monkeypatch: pytest.MonkeyPatch, broker_logs: LogLines
) -> None:
    app = limited_app(BROKER_RATE_LIMIT_PER_IP="1/hour")
    client = app.test_client()
    assert client.get("/api/getusertoken").status_code == 401

    def store_fails(*args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("counter store went away")

    monkeypatch.setattr(
        app.extensions["broker_rate_limits"]._counting, "get_window_stats", store_fails
    )
    refused = client.get("/api/getusertoken")

    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "1"
    lines = logged(broker_logs, "broker.rate_limits")
    assert (lines[0]["level"], lines[0]["msg"]) == (
        "warning",
        "could not read the rate limit window; answering Retry-After 1",
    )


def test_a_request_refused_by_the_per_minute_limit_spends_none_of_the_hourly_budget(
    vendor: responses.RequestsMock,
) -> None:
    app = limited_app(BROKER_RATE_LIMIT="1/minute", BROKER_RATE_LIMIT_PER_IP="2/hour")
    ada, bob = app.test_client(), app.test_client()
    sign_in(ada, "ada")
    sign_in(bob, "bob")
    assert ada.get("/api/getusertoken").status_code == 200
    assert ada.get("/api/getusertoken").status_code == 429  # the user's minute is spent

    # The address spent one of its two requests an hour, not two.
    assert bob.get("/api/getusertoken").status_code == 200
    assert bob.get("/api/getusertoken").status_code == 429


def test_an_address_key_is_the_same_on_every_instance_and_release() -> None:
    # Instances sharing Redis, old and new ones during an upgrade, must name one address's
    # counter alike: a changed derivation would give every client a fresh budget.
    app = Flask(__name__)
    key = AddressKey(fake_secrets.SECRET_KEY, 64)
    with app.test_request_context(environ_base={"REMOTE_ADDR": "203.0.113.9"}):
        assert key() == "39e832dd549a64957d561b18abbfa56e"
    with app.test_request_context(environ_base={"REMOTE_ADDR": "2001:db8:1:2::1"}):
        assert key() == "81f4a90436ef7de8c05563cdca343d67"


def test_an_address_no_codec_can_encode_still_spends_a_budget(broker_logs: LogLines) -> None:
    client = limited_app(BROKER_RATE_LIMIT_PER_IP="1/minute").test_client()
    hostile = {"REMOTE_ADDR": "203.0.113.\udcff"}
    assert client.get("/api/getusertoken", environ_base=hostile).status_code == 401
    assert client.get("/api/getusertoken", environ_base=hostile).status_code == 429
    assert "could not be checked" not in broker_logs.joined()


def test_a_rate_limited_blueprint_needs_the_broker_on_its_app() -> None:
    probe = rate_limited(Blueprint("probe", __name__))

    with pytest.raises(RuntimeError) as refused:
        Flask(__name__).register_blueprint(probe)

    assert str(refused.value) == (
        "blueprint probe is rate-limited, but the app has no broker rate limits: add "
        "TokenBroker to the app before registering it"
    )
