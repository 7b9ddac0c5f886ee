"""The guards of a token route run in one order, cheapest refusal first: the Host, then the
cross-site refusal, then the user, then the rate limits."""

from __future__ import annotations

from typing import Any

import responses
from flask import Flask

from flask_token_broker import TokenBroker

from .conftest import AUTH_URL, mindset_settings

CROSS_SITE = {"Sec-Fetch-Site": "cross-site"}


class CountingResolver:
    """A host resolver that says how often the broker asked who is signed in."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> dict[str, Any]:
        self.calls += 1
        return {"id": "ada"}


def host(resolver: CountingResolver, **config: str) -> Flask:
    app = Flask(__name__)
    app.config.update(mindset_settings(**config))
    TokenBroker(app, resolver=resolver)
    return app


def test_a_cross_site_refusal_asks_for_no_user_and_spends_no_budget() -> None:
    resolver = CountingResolver()
    client = host(resolver, BROKER_RATE_LIMIT_PER_IP="1/minute").test_client()
    for _ in range(3):
        refused = client.get("/api/getusertoken", headers=CROSS_SITE)
        assert refused.status_code == 403
        assert refused.get_json()["error"] == "cross_site"
    assert resolver.calls == 0
    # The address's one request a minute is still there for a real one.
    with responses.RequestsMock() as vendor:
        vendor.post(AUTH_URL, json={"authToken": "tok-ada"})
        assert client.get("/api/getusertoken").get_json() == {"authToken": "tok-ada"}
    assert resolver.calls == 1


def test_an_unlisted_host_is_refused_before_the_cross_site_check() -> None:
    resolver = CountingResolver()
    client = host(resolver, BROKER_ALLOWED_HOSTS="broker.test").test_client()
    refused = client.get("/api/getusertoken", headers={"Host": "evil.example", **CROSS_SITE})
    assert refused.status_code == 400
    assert resolver.calls == 0


def test_the_user_is_known_before_the_per_user_limit_refuses() -> None:
    resolver = CountingResolver()
    client = host(resolver, BROKER_RATE_LIMIT="1/minute").test_client()
    with responses.RequestsMock() as vendor:
        vendor.post(AUTH_URL, json={"authToken": "tok-ada"})
        assert client.get("/api/getusertoken").status_code == 200
    limited = client.get("/api/getusertoken")
    assert limited.status_code == 429
    assert limited.get_json()["error"] == "rate_limited"
    # Once per request: the per-user limit and the view share one answer.
    assert resolver.calls == 2
