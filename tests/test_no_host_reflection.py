"""No answer of a broker route names the request's Host, even with BROKER_ALLOWED_HOSTS unset.

Werkzeug's routing redirects a path with doubled slashes, or without its rule's trailing
slash, to an absolute URL built from the Host header: a caller's Host would come back in a
``Location`` (and, uncached, in a cache or a log downstream). The broker's rules answer their
own path only.
"""

from __future__ import annotations

import pytest
from flask import Flask
from werkzeug.test import TestResponse

from flask_token_broker import TokenBroker

from . import fake_secrets
from .conftest import build_app, mindset_settings

EVIL = "evil.example"

STANDALONE_PATHS = [
    "/api//getusertoken",
    "//api/getusertoken",
    "/api/typingmind//authcode",
    "/broker//mindset-auth.js",
    "/broker//",
    "//healthz",
    "/demo//",
    "/demo//login",
    "//openapi.json",
]


def assert_host_not_named(response: TestResponse, path: str) -> None:
    assert not 300 <= response.status_code < 400, (path, response.status_code)
    for name, value in response.headers.items():
        assert EVIL not in value, f"{path}: {name}: {value}"
    assert EVIL.encode() not in response.get_data(), path


@pytest.mark.parametrize("path", STANDALONE_PATHS)
def test_the_standalone_broker_never_redirects_to_the_callers_host(path: str) -> None:
    # The sandbox: the demo routes are on too.
    app = build_app({"SECRET_KEY": fake_secrets.SECRET_KEY})
    response = app.test_client().get(path, headers={"Host": EVIL})
    assert_host_not_named(response, path)


def test_the_token_route_with_a_doubled_slash_is_the_json_404() -> None:
    app = build_app({"SECRET_KEY": fake_secrets.SECRET_KEY})
    response = app.test_client().get("/api//getusertoken", headers={"Host": EVIL})
    assert response.status_code == 404
    assert response.get_json()["error"] == "not_found"
    assert response.headers["Cache-Control"] == "no-store"


def test_a_rule_ending_in_a_slash_answers_without_it_rather_than_redirecting() -> None:
    app = build_app({"SECRET_KEY": fake_secrets.SECRET_KEY})
    response = app.test_client().get("/demo", headers={"Host": EVIL})
    assert_host_not_named(response, "/demo")
    assert response.status_code == 200


@pytest.mark.parametrize(
    "path", ["/broker//healthz", "/broker//demo/", "/api//getusertoken", "/broker//mindset-auth.js"]
)
def test_a_mounted_broker_never_redirects_to_the_callers_host(path: str) -> None:
    app = Flask(__name__)
    app.config.update(mindset_settings())
    TokenBroker(app, resolver=lambda: None, ops=True, demo=True, prefix="/broker")
    response = app.test_client().get(path, headers={"Host": EVIL})
    assert_host_not_named(response, path)
