"""The access line, the user hash, and the redaction safety net.

Careless changes these tests catch (``observability/redaction.py``, ``observability/logs.py``):
a secret masked in the message but not in its arguments, ``extra`` fields, dictionary keys,
exception text or stack; a short ordinary word masked, or an eight-character secret not; a
request's secrets (its cookies, its token) kept after the request; a record whose arguments do
not fit its format breaking the request; the user's raw id, or an unkeyed hash of it, in the
access line; another handler seeing a record unmasked.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from typing import Any

import pytest
import responses
from flask.testing import FlaskClient

from flask_token_broker.observability import redaction
from flask_token_broker.observability.logs import JsonFormatter
from flask_token_broker.observability.telemetry import user_hash

from . import fake_secrets
from .conftest import AUTH_URL, LogLines, build_app, mindset_settings, sign_in
from .resolver_helpers import typingmind_settings

ACCESS_FIELDS = {
    "request_id",
    "method",
    "path",
    "status",
    "duration_ms",
    "outcome",
    "vendor_ms",
    "user",
}


def access_lines(logs: LogLines) -> list[dict[str, Any]]:
    entries = [json.loads(line) for line in logs]
    return [entry for entry in entries if entry["logger"] == "broker.access"]


@pytest.fixture
def vendor() -> Any:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.post(AUTH_URL, json={"authToken": "tok-minted-0123456789"})
        yield mock


def test_one_access_line_per_request_with_every_field(
    client: FlaskClient, vendor: Any, broker_logs: LogLines
) -> None:
    sign_in(client, "ada", email="ada@example.com")
    response = client.get("/api/getusertoken?x=1")
    client.get("/nope")

    first, second = access_lines(broker_logs)
    assert set(first) >= ACCESS_FIELDS
    assert first["request_id"] == response.headers["X-Request-ID"]
    assert (first["method"], first["path"], first["status"]) == ("GET", "/api/getusertoken", 200)
    assert first["outcome"] == "minted"
    assert first["vendor_ms"] > 0
    assert first["duration_ms"] >= first["vendor_ms"]
    assert (second["status"], second["outcome"], second["user"]) == (404, "not_found", None)


def test_the_access_line_names_the_error_code(
    client: FlaskClient, vendor: Any, broker_logs: LogLines
) -> None:
    client.get("/api/getusertoken")
    (line,) = access_lines(broker_logs)
    assert (line["status"], line["outcome"]) == (401, "not_signed_in")


def test_the_user_is_a_keyed_hash_never_the_id_or_email(
    client: FlaskClient, vendor: Any, broker_logs: LogLines
) -> None:
    sign_in(client, "ada-4711", email="ada@example.com")
    client.get("/api/getusertoken")
    (line,) = access_lines(broker_logs)
    assert line["user"] == user_hash(fake_secrets.SECRET_KEY, "ada-4711")
    assert len(line["user"]) == 16
    everything = broker_logs.joined()
    assert "ada-4711" not in everything
    assert "ada@example.com" not in everything


def test_the_user_hash_is_stable_per_key_and_differs_across_keys() -> None:
    assert user_hash("key-one-0123456789", "ada") == user_hash("key-one-0123456789", "ada")
    assert user_hash("key-one-0123456789", "ada") != user_hash("key-two-0123456789", "ada")
    assert user_hash("key-one-0123456789", "ada") != user_hash("key-one-0123456789", "bob")


def test_a_leaky_log_call_is_masked_everywhere(client: FlaskClient, broker_logs: LogLines) -> None:
    leaky = logging.getLogger("broker.careless")
    key = fake_secrets.API_KEY
    try:
        raise RuntimeError(f"vendor said: bad key {key}")
    except RuntimeError:
        leaky.exception(
            "calling with key=%s and secret %s",
            key,
            fake_secrets.SECRET_KEY,
            extra={"headers": {"x-api-key": key}, "attempts": [key, 1]},
        )
    line = json.loads(broker_logs[-1])
    assert redaction.MASK in line["msg"]
    assert line["headers"] == {"x-api-key": redaction.MASK}
    assert line["attempts"] == [redaction.MASK, 1]
    assert "RuntimeError" in line["exc"]
    assert redaction.MASK in line["exc"]
    # broker_logs fails the test if the key or SECRET_KEY survived anywhere.


def test_the_request_cookie_and_the_minted_token_are_masked(
    client: FlaskClient, vendor: Any, broker_logs: LogLines
) -> None:
    sign_in(client, "ada")
    cookie = client.get_cookie("session")
    assert cookie is not None
    leaky = logging.getLogger("broker.careless")

    @client.application.after_request
    def log_everything(response: Any) -> Any:
        leaky.warning("cookie %s answered %s", cookie.value, response.get_data(as_text=True))
        return response

    client.get("/api/getusertoken")
    everything = broker_logs.joined()
    assert cookie.value not in everything
    assert "tok-minted-0123456789" not in everything
    assert redaction.MASK in everything


def test_a_configured_secret_logged_inside_a_request_is_masked(broker_logs: LogLines) -> None:
    # Process-wide secrets must stay masked while a request adds its own (cookies, tokens).
    app = build_app(typingmind_settings(BROKER_USER_RESOLVER="tests.host_resolvers:careless"))
    client = app.test_client()
    client.set_cookie("other", "a-cookie-value-long-enough")
    assert client.get("/api/typingmind/authcode").status_code == 200
    (line,) = [json.loads(line) for line in broker_logs if "resolving with" in line]
    assert line["msg"] == f"resolving with SECRET_KEY={redaction.MASK}"
    assert "request_id" in line  # it was logged inside the request
    assert fake_secrets.SECRET_KEY not in broker_logs.joined()


def test_other_modules_can_register_secrets(broker_logs: LogLines) -> None:
    redaction.register_secret("a-runtime-secret-value-42")
    redaction.register_secret("short")  # too short to mask safely: ignored
    logging.getLogger("broker.careless").info("got a-runtime-secret-value-42 and short")
    line = json.loads(broker_logs[-1])
    assert line["msg"] == f"got {redaction.MASK} and short"


def test_every_secret_setting_is_registered(vendor: Any, broker_logs: LogLines) -> None:
    password = "redis-pass-0123456789"
    build_app(mindset_settings(BROKER_REDIS_URL=f"redis://:{password}@127.0.0.1:1/0"))
    logging.getLogger("broker.careless").info(
        "%s %s %s", password, fake_secrets.API_KEY, fake_secrets.SECRET_KEY
    )
    line = json.loads(broker_logs[-1])
    assert line["msg"] == " ".join([redaction.MASK] * 3)


def test_other_handlers_get_masked_records_too() -> None:
    redaction.register_secret(fake_secrets.API_KEY)
    record = logging.LogRecord(
        "broker.x", logging.ERROR, __file__, 1, "key %s", (fake_secrets.API_KEY,), None
    )
    assert redaction.RedactingFilter().filter(record)
    plain = logging.Formatter().format(record)
    assert fake_secrets.API_KEY not in plain
    assert fake_secrets.API_KEY not in JsonFormatter().format(record)


def test_a_log_call_with_wrong_arguments_does_not_break_the_request(
    client: FlaskClient, broker_logs: LogLines
) -> None:
    logging.getLogger("broker.careless").info("two %s %s", "only-one")
    line = json.loads(broker_logs[-1])
    assert "unformattable" in line["msg"]


def test_a_secret_of_eight_characters_is_masked_and_a_shorter_one_is_not(
    broker_logs: LogLines,
) -> None:
    redaction.register_secret("8-chars!")
    redaction.register_secret("7-chars")
    logging.getLogger("broker.careless").info("8-chars! 7-chars")
    assert json.loads(broker_logs[-1])["msg"] == f"{redaction.MASK} 7-chars"


def test_request_secrets_and_cookies_of_eight_characters_are_masked_in_that_request_only(
    broker_logs: LogLines,
) -> None:
    app = build_app(mindset_settings())
    with app.test_request_context(headers={"Cookie": "a=cookie-8; b=cook-7"}):
        redaction.request_secret("request8")
        redaction.request_secret("reqst-7")
        redaction.request_secret(None)
        logging.getLogger("broker.careless").info("request8 reqst-7 cookie-8 cook-7")
    with app.test_request_context():
        logging.getLogger("broker.careless").info("request8 cookie-8")
    inside, outside = (json.loads(line)["msg"] for line in broker_logs[-2:])
    assert inside == f"{redaction.MASK} reqst-7 {redaction.MASK} cook-7"
    assert outside == "request8 cookie-8"


def test_a_request_secret_outside_a_request_is_ignored(broker_logs: LogLines) -> None:
    redaction.request_secret("outside-any-request")
    logging.getLogger("broker.careless").info("outside-any-request")
    assert json.loads(broker_logs[-1])["msg"] == "outside-any-request"


def test_a_secret_that_contains_another_is_masked_whole(broker_logs: LogLines) -> None:
    # The shorter secret sorts after the longer one by its text: only length decides the order.
    redaction.register_secret("zz-inner-secret")
    redaction.register_secret("aa-zz-inner-secret-aa")
    logging.getLogger("broker.careless").info("aa-zz-inner-secret-aa")
    assert json.loads(broker_logs[-1])["msg"] == redaction.MASK


class Quoting:
    """An object logged by its text, which quotes a secret."""

    def __str__(self) -> str:
        return "holder of an-unregistered-secret"


def test_values_of_every_shape_are_masked_with_the_secrets_given() -> None:
    secrets = ["an-unregistered-secret"]
    value = {
        "text": "x an-unregistered-secret y",
        "nested": {"list": ["an-unregistered-secret", 1], "tuple": ("an-unregistered-secret",)},
        "object": Quoting(),
        "plain": [None, True, 3, 2.5],
    }
    assert redaction._redact_value(value, secrets) == {
        "text": f"x {redaction.MASK} y",
        "nested": {"list": [redaction.MASK, 1], "tuple": (redaction.MASK,)},
        "object": f"holder of {redaction.MASK}",
        "plain": [None, True, 3, 2.5],
    }
    assert redaction.redact("an-unregistered-secret", secrets) == redaction.MASK


def record_with(**fields: Any) -> logging.LogRecord:
    record = logging.LogRecord("broker.x", logging.ERROR, __file__, 1, "plain", None, None)
    for name, value in fields.items():
        setattr(record, name, value)
    return record


def test_a_formatted_traceback_and_a_stack_are_masked_too() -> None:
    redaction.register_secret(fake_secrets.API_KEY)
    record = record_with(
        exc_text=f"Traceback: key {fake_secrets.API_KEY}",
        stack_info=f"Stack: key {fake_secrets.API_KEY}",
        _private=f"key {fake_secrets.API_KEY}",
    )
    redaction.redact_record(record)
    assert record.exc_text == f"Traceback: key {redaction.MASK}"
    assert record.stack_info == f"Stack: key {redaction.MASK}"
    assert vars(record)["_private"] == f"key {redaction.MASK}"


class Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("cannot be shown")


def test_a_record_that_cannot_be_masked_is_withheld_whole() -> None:
    record = record_with(
        caller_field=Unprintable(), other="kept?", _private="kept?", stack_info="a stack"
    )
    redaction.redact_record(record)
    assert record.getMessage() == "[log record withheld: redaction failed with RuntimeError]"
    assert not record.args
    assert not record.exc_info
    assert not record.stack_info
    assert [key for key in ("caller_field", "other", "_private") if hasattr(record, key)] == []
    line = json.loads(JsonFormatter().format(record))
    assert line["msg"] == "[log record withheld: redaction failed with RuntimeError]"
    assert line["logger"] == "broker.x"


def test_a_secret_setting_nested_anywhere_is_registered_and_public_ones_are_not(
    broker_logs: LogLines,
) -> None:
    @dataclasses.dataclass
    class Inner:
        token: str = dataclasses.field(repr=False)
        url: str = dataclasses.field(repr=False)
        visible: str = "a-public-value-123"

    @dataclasses.dataclass
    class Outer:
        inner: Inner

    redaction.register_settings_secrets(
        Outer(Inner(token="nested-secret-value", url="https://user:url-password-1@host.test/"))
    )
    redaction.register_settings_secrets("not settings at all")
    logging.getLogger("broker.careless").info(
        "nested-secret-value url-password-1 a-public-value-123"
    )
    assert json.loads(broker_logs[-1])["msg"] == (
        f"{redaction.MASK} {redaction.MASK} a-public-value-123"
    )


def test_each_lines_timestamp_is_its_own_to_the_millisecond_across_seconds() -> None:
    formatter = JsonFormatter()
    stamps = []
    for second, msecs in (
        (1764547199, 998),
        (1764547199, 999),
        (1764547200, 0),
        (1764547200, 500),
        (1764547199, 250),
    ):
        record = logging.LogRecord("broker", logging.INFO, "", 0, "m", None, None)
        record.created, record.msecs = second + msecs / 1000, msecs
        stamps.append(json.loads(formatter.format(record))["ts"])
    assert stamps == [
        "2025-11-30T23:59:59.998Z",
        "2025-11-30T23:59:59.999Z",
        "2025-12-01T00:00:00.000Z",
        "2025-12-01T00:00:00.500Z",
        "2025-11-30T23:59:59.250Z",
    ]


def test_a_secret_naming_a_field_or_a_key_is_masked_too(broker_logs: LogLines) -> None:
    redaction.register_secret(fake_secrets.API_KEY)
    logging.getLogger("broker.careless").info(
        "seen",
        extra={
            "details": {fake_secrets.API_KEY: "value", "nested": {fake_secrets.API_KEY: 1}},
            fake_secrets.API_KEY: "a field named by the key",
        },
    )
    assert fake_secrets.API_KEY not in broker_logs[-1]
    line = json.loads(broker_logs[-1])
    assert line["details"] == {redaction.MASK: "value", "nested": {redaction.MASK: 1}}
    assert line[redaction.MASK] == "a field named by the key"
