"""The request pipeline's two hooks run once per request: on the standalone app for every
request, in a host app on the broker's routes only."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
import responses
from flask import Flask

from flask_token_broker import TokenBroker
from flask_token_broker.observability.logs import assign_request_id
from flask_token_broker.observability.telemetry import finish_request

from .conftest import AUTH_URL, build_app, mindset_settings, sign_in

PIPELINE = "flask_token_broker.routes.pipeline"


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """How often each end of the pipeline ran."""
    counted: Counter[str] = Counter()

    def counting(name: str, step: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any) -> Any:
            counted[name] += 1
            return step(*args)

        return run

    # The names the pipeline's hooks call, as they look them up at each request.
    monkeypatch.setattr(f"{PIPELINE}.assign_request_id", counting("begin", assign_request_id))
    monkeypatch.setattr(f"{PIPELINE}.finish_request", counting("finish", finish_request))
    return counted


def test_the_standalone_broker_runs_each_hook_once_per_request(calls: Counter[str]) -> None:
    client = build_app(mindset_settings()).test_client()
    sign_in(client, "ada")
    with responses.RequestsMock() as vendor:
        vendor.post(AUTH_URL, json={"authToken": "tok-ada"})
        assert client.get("/api/getusertoken").status_code == 200
    assert calls == {"begin": 1, "finish": 1}
    assert client.get("/no-such-route").status_code == 404
    assert client.get("/healthz").status_code == 200
    assert calls == {"begin": 3, "finish": 3}


def test_a_host_app_runs_them_once_on_the_brokers_routes_and_never_on_its_own(
    calls: Counter[str],
) -> None:
    app = Flask(__name__)
    app.config.update(mindset_settings())

    @app.get("/home")
    def home() -> str:
        return "the host's"

    TokenBroker(app, resolver=lambda: {"id": "ada"}, ops=True)
    client = app.test_client()
    assert client.get("/home").get_data(as_text=True) == "the host's"
    assert client.get("/nowhere").status_code == 404
    assert calls == {}
    with responses.RequestsMock() as vendor:
        vendor.post(AUTH_URL, json={"authToken": "tok-ada"})
        assert client.get("/api/getusertoken").status_code == 200
    assert client.get("/broker/healthz").status_code == 200
    assert calls == {"begin": 2, "finish": 2}
