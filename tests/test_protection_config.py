"""Settings for resilience and abuse protection: defaults, refusals, and parsing properties."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app import create_app
from flask_token_broker.settings import (
    ConfigError,
    ProtectionSettings,
    ResilienceSettings,
    load_settings,
    parse_cors_origins,
    parse_rate_limit,
)

from .conftest import mindset_settings


def test_defaults_are_the_documented_ones() -> None:
    settings = load_settings(mindset_settings())
    assert settings.resilience == ResilienceSettings(
        deadline=8.0,
        retry_attempts=3,
        retry_after_cap=2.0,
        breaker_failures=5,
        breaker_cooldown=30.0,
    )
    assert settings.protection == ProtectionSettings(
        rate_limit="60/minute", rate_limit_per_ip="600/minute", proxy_hops=0, cors_origins=()
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("BROKER_DEADLINE", "0"),
        ("BROKER_DEADLINE", "61"),
        ("BROKER_DEADLINE", "soon"),
        ("BROKER_RETRY_ATTEMPTS", "0"),
        ("BROKER_RETRY_ATTEMPTS", "6"),
        ("BROKER_RETRY_AFTER_CAP", "-1"),
        ("BROKER_BREAKER_FAILURES", "0"),
        ("BROKER_BREAKER_COOLDOWN", "0"),
        ("BROKER_RATE_LIMIT", "sixty"),
        ("BROKER_RATE_LIMIT", "60/fortnight"),
        ("BROKER_RATE_LIMIT", "0/minute"),
        ("BROKER_RATE_LIMIT_PER_IP", "600"),
        ("BROKER_PROXY_HOPS", "-1"),
        ("BROKER_PROXY_HOPS", "one"),
        ("BROKER_CORS_ORIGINS", "*"),
        ("BROKER_CORS_ORIGINS", "https://*.example.com"),
        ("BROKER_CORS_ORIGINS", "app.example.com"),
        ("BROKER_CORS_ORIGINS", "https://app.example.com/"),
        ("BROKER_CORS_ORIGINS", "https://app.example.com/path"),
        ("BROKER_CORS_ORIGINS", "ftp://app.example.com"),
        ("BROKER_CORS_ORIGINS", "https://user@app.example.com"),
        ("BROKER_CORS_ORIGINS", "https://app.example.com:99999"),
    ],
)
def test_bad_values_stop_start_up_naming_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name) as raised:
        load_settings(mindset_settings(**{name: value}))
    assert "\n" not in str(raised.value)
    with pytest.raises(SystemExit, match=name):
        create_app(mindset_settings(**{name: value}))


@pytest.mark.parametrize(
    "value", ["30/minute", "5 per hour", "100 per day", "10/second;100/day", "1/2 minutes"]
)
def test_flask_limiter_rate_strings_are_accepted(value: str) -> None:
    assert load_settings(mindset_settings(BROKER_RATE_LIMIT=value)).protection.rate_limit == value


def test_cors_origins_are_normalised_as_browsers_send_them() -> None:
    origins = parse_cors_origins(
        " HTTPS://App.Example.com:443 , http://localhost:5000,, http://[::1]:8080, http://x.io:80"
    )
    assert origins == (
        "https://app.example.com",
        "http://localhost:5000",
        "http://[::1]:8080",
        "http://x.io",
    )


HOSTS = st.from_regex(r"[a-z][a-z0-9-]{0,20}(\.[a-z][a-z0-9-]{0,20}){0,3}", fullmatch=True)


@given(
    scheme=st.sampled_from(["http", "https"]),
    host=HOSTS,
    port=st.none() | st.integers(1, 65535),
)
def test_any_exact_origin_round_trips(scheme: str, host: str, port: int | None) -> None:
    origin = f"{scheme}://{host}" + (f":{port}" if port else "")
    (parsed,) = parse_cors_origins(origin)
    default = {"http": 80, "https": 443}[scheme]
    assert parsed == (origin if port not in (None, default) else f"{scheme}://{host}")


def refusal(parse: Callable[[], object]) -> str | None:
    try:
        parse()
    except ConfigError as error:
        return str(error)
    return None


@given(st.text(max_size=60))
def test_cors_parsing_accepts_only_origins_or_says_why(value: str) -> None:
    message = refusal(lambda: parse_cors_origins(value))
    if message is not None:
        assert message.startswith("BROKER_CORS_ORIGINS")
        return
    for origin in parse_cors_origins(value):
        assert origin.startswith(("http://", "https://"))
        assert "*" not in origin
        assert "/" not in origin.split("://", 1)[1]


@given(st.text(max_size=40))
def test_rate_limit_parsing_never_crashes(value: str) -> None:
    message = refusal(lambda: parse_rate_limit("BROKER_RATE_LIMIT", value))
    if message is None:
        assert parse_rate_limit("BROKER_RATE_LIMIT", value) == value
    else:
        assert message.startswith("BROKER_RATE_LIMIT")


@given(amount=st.integers(1, 10**6), unit=st.sampled_from(["second", "minute", "hour", "day"]))
def test_every_well_formed_rate_is_accepted(amount: int, unit: str) -> None:
    assert parse_rate_limit("BROKER_RATE_LIMIT", f"{amount}/{unit}") == f"{amount}/{unit}"
