"""BROKER_USER_RESOLVER=package.module:function: a host's own callable, imported at start-up."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask.testing import FlaskClient

from app import create_app
from flask_token_broker.ready_line import log_ready
from flask_token_broker.settings import ConfigError, load_settings
from flask_token_broker.users.custom import import_callable

from .conftest import LogLines, build_app
from .resolver_helpers import signed_in_as, typingmind_settings

MODULE = "tests.host_resolvers"


def client_for(path: str) -> FlaskClient:
    return build_app(typingmind_settings(BROKER_USER_RESOLVER=path)).test_client()


def test_host_callable_names_the_user(broker_logs: LogLines) -> None:
    client = client_for(f"{MODULE}:from_cookie")
    assert signed_in_as(client) is None
    client.set_cookie("host_user", "ada")
    client.set_cookie("host_email", "ada@example.com")
    assert signed_in_as(client) == {"id": "ada", "email": "ada@example.com", "name": "Host User"}
    log_ready(client.application)  # as the server does once it serves
    assert f"user_resolver={MODULE}:from_cookie" in broker_logs.joined()


@pytest.mark.parametrize(
    ("attribute", "expected"),
    [
        ("as_current_user", {"id": "typed", "email": "t@example.com"}),
        ("Resolvers.nested", {"id": "nested"}),
    ],
)
def test_host_callable_may_return_a_user_or_live_on_a_class(
    attribute: str, expected: dict[str, Any]
) -> None:
    assert signed_in_as(client_for(f"{MODULE}:{attribute}")) == expected


@pytest.mark.parametrize("attribute", ["broken", "wrong_type"])
def test_a_failing_host_callable_is_a_logged_500_not_a_crash(
    attribute: str, broker_logs: LogLines
) -> None:
    response = client_for(f"{MODULE}:{attribute}").get("/api/typingmind/authcode")
    assert response.status_code == 500
    body = response.get_json()
    assert body["error"] == "user_resolver_failed"
    assert body["retryable"] is False
    assert "user store" not in response.get_data(as_text=True)
    assert f"user resolver {MODULE}:{attribute}" in broker_logs.joined()


@pytest.mark.parametrize(
    ("path", "fragment"),
    [
        ("tests.no_such_module:f", "cannot import module"),
        (f"{MODULE}:missing", "has no attribute"),
        (f"{MODULE}:NOT_CALLABLE", "is not callable"),
    ],
)
def test_unusable_host_callables_stop_start_up(path: str, fragment: str) -> None:
    with pytest.raises(SystemExit, match=f"BROKER_USER_RESOLVER.*{fragment}"):
        create_app(typingmind_settings(BROKER_USER_RESOLVER=path))


@pytest.mark.parametrize("value", ["ldap", "module.function", "a:b:c", ":f", "mod:"])
def test_malformed_resolver_names_stop_start_up(value: str) -> None:
    with pytest.raises(ConfigError, match="BROKER_USER_RESOLVER"):
        load_settings(typingmind_settings(BROKER_USER_RESOLVER=value))


@pytest.mark.parametrize("kind", ["int", "none", "bytes"])
def test_a_current_user_whose_id_is_not_text_is_a_logged_500(
    kind: str, broker_logs: LogLines
) -> None:
    client = client_for(f"{MODULE}:id_not_text")
    response = client.get(f"/api/typingmind/authcode?id={kind}")
    assert response.status_code == 500
    assert response.get_json()["error"] == "user_resolver_failed"
    assert f"user resolver {MODULE}:id_not_text returned a CurrentUser whose id is" in (
        broker_logs.joined()
    )


def test_a_broken_resolver_neither_knocks_out_nor_skips_the_rate_limits(
    broker_logs: LogLines,
) -> None:
    # The per-user limit needs a user, which a broken resolver does not give; the per-address
    # limit counts every request, these ones too, in the limiter's own storage.
    app = build_app(
        typingmind_settings(
            BROKER_USER_RESOLVER=f"{MODULE}:id_not_text", BROKER_RATE_LIMIT_PER_IP="2/minute"
        )
    )
    client = app.test_client()
    statuses = [
        client.get(f"/api/typingmind/authcode?id={kind}").status_code
        for kind in ("int", "bytes", "int")
    ]
    assert statuses == [500, 500, 429]
    assert app.extensions["broker_rate_limits"].storage_dead is False
    assert "falling back" not in broker_logs.joined()
    assert "Failed to rate limit" not in broker_logs.joined()


@pytest.mark.parametrize(
    ("query", "wrong"),
    [
        ("", None),
        ("email=none&name=none", None),  # email and name are optional
        ("id=int&email=bytes", "id is int, email is bytes"),
        ("email=int", "email is int"),
        ("name=bytes", "name is bytes"),
        ("id=none&name=int", "id is NoneType, name is int"),
    ],
)
def test_a_hosts_current_user_is_taken_once_each_field_has_its_type(
    query: str, wrong: str | None, broker_logs: LogLines
) -> None:
    client = client_for(f"{MODULE}:typed_fields")
    response = client.get(f"/api/typingmind/authcode?{query}")
    if wrong is None:
        assert response.status_code == 200
        return
    assert response.status_code == 500
    assert (
        f"user resolver {MODULE}:typed_fields returned a CurrentUser whose {wrong}; its id must "
        "be a str (email and name a str or None)"
    ) in broker_logs.joined()


@pytest.mark.parametrize(
    ("query", "unusable"),
    [
        ("id=empty", "id is blank"),
        ("id=spaces", "id is blank"),
        ("id=long", "id is over 1024 characters"),
        ("id=max", None),
        ("email=empty", "email is blank"),
        ("id=spaces&email=long", "id is blank, email is over 1024 characters"),
        ("name=empty", None),  # a name is display text only
        ("name=long", None),
    ],
)
def test_a_hosts_current_user_must_name_someone(
    query: str, unusable: str | None, broker_logs: LogLines
) -> None:
    response = client_for(f"{MODULE}:typed_fields").get(f"/api/typingmind/authcode?{query}")
    if unusable is None:
        assert response.status_code == 200
        return
    assert response.status_code == 500
    assert response.get_json()["error"] == "user_resolver_failed"
    assert (
        f"user resolver {MODULE}:typed_fields returned a CurrentUser whose {unusable}; it must "
        "be a non-blank identifier of at most 1024 characters (return None when nobody is "
        "signed in)"
    ) in broker_logs.joined()


def test_a_raising_host_callable_is_logged_with_its_traceback_and_what_to_fix(
    broker_logs: LogLines,
) -> None:
    assert client_for(f"{MODULE}:broken").get("/api/typingmind/authcode").status_code == 500
    lines = [json.loads(line) for line in broker_logs]
    (raised,) = [line for line in lines if line["msg"] == f"user resolver {MODULE}:broken raised"]
    assert raised["level"] == "error"
    assert "RuntimeError: the host user store is down" in raised["exc"]
    assert (
        f"user resolver {MODULE}:broken raised RuntimeError; fix the host's resolver (it must "
        "return a mapping with 'id', or None)"
    ) in broker_logs.joined()


def test_a_host_callable_returning_another_type_is_logged_with_what_it_must_return(
    broker_logs: LogLines,
) -> None:
    assert client_for(f"{MODULE}:wrong_type").get("/api/typingmind/authcode").status_code == 500
    assert (
        f"user resolver {MODULE}:wrong_type returned list; it must return a mapping with 'id' "
        "(and optionally 'email', 'name'), or None"
    ) in broker_logs.joined()


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("tests.no_such_module:f", "cannot import module 'tests.no_such_module' "
         "(ModuleNotFoundError); is it on PYTHONPATH or in the working directory?"),
        (f"{MODULE}:Resolvers:nested", f"module '{MODULE}' has no attribute 'Resolvers:nested'"),
    ],
)  # fmt: skip
def test_an_unusable_host_callable_names_what_to_fix(path: str, message: str) -> None:
    with pytest.raises(ConfigError) as refused:
        import_callable(path)
    assert str(refused.value) == f"BROKER_USER_RESOLVER: {message}"
