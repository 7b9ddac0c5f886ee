"""Configuration: typed reads, sandbox detection, and a clear refusal for every bad setting."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app import create_app
from flask_token_broker.settings import (
    DEMO_LOGIN_IN_PRODUCTION,
    ConfigError,
    check_configuration,
    find_problems,
    load_settings,
    parse_account_uids,
    parse_api_host,
)

from . import fake_secrets
from .conftest import mindset_settings

UID_20 = "u" * 20


@pytest.mark.parametrize(
    ("settings", "variable"),
    [
        ({"MINDSET_API_HOST": "acme.api.mindset.ai"}, "MINDSET_API_KEY"),
        ({"MINDSET_API_KEY": "k"}, "MINDSET_API_HOST"),
        (mindset_settings(MINDSET_APP_UID=""), "MINDSET_APP_UID"),
        (mindset_settings(MINDSET_APP_UID="app/../x"), "MINDSET_APP_UID"),
        (mindset_settings(MINDSET_API_HOST="not a host"), "MINDSET_API_HOST"),
        (mindset_settings(MINDSET_API_HOST="ftp://acme.api.mindset.ai"), "MINDSET_API_HOST"),
        (mindset_settings(MINDSET_API_HOST="https://user:pw@acme.ai"), "MINDSET_API_HOST"),
        (mindset_settings(MINDSET_API_HOST="https://acme.ai?x=1"), "MINDSET_API_HOST"),
        (mindset_settings(MINDSET_API_HOST="http://127.0.0.1:99999"), "MINDSET_API_HOST"),
        (mindset_settings(MINDSET_ACCOUNT_UIDS="short"), "MINDSET_ACCOUNT_UIDS"),
        (mindset_settings(MINDSET_ACCOUNT_UIDS=",".join([UID_20] * 11)), "MINDSET_ACCOUNT_UIDS"),
        (mindset_settings(MINDSET_ACCOUNT_UIDS="x" * 129), "MINDSET_ACCOUNT_UIDS"),
        (mindset_settings(MINDSET_IDENTITY="email"), "MINDSET_IDENTITY"),
        (mindset_settings(MINDSET_EXTERNAL_ID_MODE="loose"), "MINDSET_EXTERNAL_ID_MODE"),
        (mindset_settings(MINDSET_READ_TIMEOUT="soon"), "MINDSET_READ_TIMEOUT"),
        (mindset_settings(MINDSET_CONNECT_TIMEOUT="0"), "MINDSET_CONNECT_TIMEOUT"),
        (mindset_settings(BROKER_DEMO_LOGIN="maybe"), "BROKER_DEMO_LOGIN"),
        (mindset_settings(BROKER_ENV="production", SECRET_KEY=""), "SECRET_KEY"),
        ({"BROKER_ENV": "production", "SECRET_KEY": fake_secrets.SECRET_KEY}, "BROKER_SANDBOX"),
        (mindset_settings(BROKER_REDIS_URL="localhost:6379"), "BROKER_REDIS_URL"),
        (mindset_settings(BROKER_ENV="prod"), "BROKER_ENV"),
    ],
)
def test_invalid_configuration_names_the_variable(settings: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError, match=variable) as raised:
        load_settings(settings)
    message = str(raised.value)
    assert "\n" not in message
    for secret in fake_secrets.ALL:
        assert secret not in message


def test_invalid_configuration_stops_the_standalone_app_with_one_line() -> None:
    with pytest.raises(SystemExit) as raised:
        create_app({"MINDSET_API_HOST": "acme.api.mindset.ai"})
    message = str(raised.value)
    assert "\n" not in message
    # Both halves Mindset is missing, at once.
    assert message.startswith("broker configuration error: 2 problems: (1) MINDSET_API_KEY ")
    assert "; (2) MINDSET_APP_UID is missing" in message


# Two independent mistakes, and what each one's problem says.
TWO_PROBLEMS = {"MINDSET_READ_TIMEOUT": "soon", "BROKER_REDIS_URL": "localhost:6379"}


def test_start_up_names_every_problem_in_one_error_as_config_check_lists_them() -> None:
    source = mindset_settings(**TWO_PROBLEMS)
    with pytest.raises(ConfigError) as raised:
        load_settings(source)
    problems = find_problems(source)
    assert [problem.split()[0] for problem in problems] == list(TWO_PROBLEMS)
    assert raised.value.problems == tuple(problems)
    assert str(raised.value) == f"2 problems: (1) {problems[0]}; (2) {problems[1]}"


def test_one_problem_is_the_error_message_itself() -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(mindset_settings(BROKER_REDIS_URL="localhost:6379"))
    assert (
        str(raised.value) == find_problems(mindset_settings(BROKER_REDIS_URL="localhost:6379"))[0]
    )


def test_the_standalone_app_names_every_problem_and_the_resolvers_import() -> None:
    with pytest.raises(SystemExit) as raised:
        create_app(
            mindset_settings(BROKER_USER_RESOLVER="no_such_module.auth:broker_user", **TWO_PROBLEMS)
        )
    message = str(raised.value)
    assert message.startswith("broker configuration error: 3 problems: (1) MINDSET_READ_TIMEOUT ")
    assert "; (2) BROKER_REDIS_URL " in message
    assert "; (3) BROKER_USER_RESOLVER: cannot import module 'no_such_module.auth'" in message


def test_the_log_level_is_validated_and_applied() -> None:
    import logging

    with pytest.raises(SystemExit, match="BROKER_LOG_LEVEL"):
        create_app(mindset_settings(BROKER_LOG_LEVEL="chatty"))
    create_app(mindset_settings(BROKER_LOG_LEVEL="warning"))
    assert logging.getLogger("broker").level == logging.WARNING
    create_app(mindset_settings())
    assert logging.getLogger("broker").level == logging.INFO


def test_empty_values_count_as_unset() -> None:
    settings = load_settings({"MINDSET_API_HOST": "", "MINDSET_API_KEY": " ", "SECRET_KEY": ""})
    assert settings.sandbox
    assert settings.secret_key_generated


def test_no_vendor_settings_means_sandbox_with_demo_login() -> None:
    settings = load_settings({"MINDSET_IDENTITY": "userEmail"})
    assert settings.sandbox
    assert settings.demo_login
    assert settings.mindset is not None
    assert settings.mindset.identity == "userEmail"


def test_production_may_run_the_sandbox_only_when_told() -> None:
    settings = load_settings(
        {"BROKER_ENV": "production", "SECRET_KEY": fake_secrets.SECRET_KEY, "BROKER_SANDBOX": "1"}
    )
    assert settings.sandbox
    assert settings.is_production


def test_real_settings_turn_demo_login_off_by_default() -> None:
    settings = load_settings(mindset_settings())
    assert not settings.sandbox
    assert not settings.demo_login
    assert load_settings(mindset_settings(BROKER_DEMO_LOGIN="1")).demo_login


def test_development_generates_a_secret_key_production_requires_one() -> None:
    one, two = load_settings({}), load_settings({})
    assert one.secret_key_generated
    assert len(one.secret_key) >= 32
    assert one.secret_key != two.secret_key
    production = load_settings(mindset_settings(BROKER_ENV="production"))
    assert production.secret_key == fake_secrets.SECRET_KEY
    assert production.is_production


def test_production_session_cookies_are_secure() -> None:
    app = create_app(mindset_settings(BROKER_ENV="production"))
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert create_app(mindset_settings()).config["SESSION_COOKIE_SECURE"] is False


def test_typed_values_from_a_host_apps_config_are_accepted() -> None:
    settings = load_settings(
        {**mindset_settings(), "MINDSET_READ_TIMEOUT": 2, "BROKER_DEMO_LOGIN": True}
    )
    assert settings.mindset is not None
    assert settings.mindset.read_timeout == 2.0
    assert settings.demo_login


def test_secrets_are_not_in_the_settings_repr() -> None:
    text = repr(load_settings(mindset_settings()))
    for secret in fake_secrets.ALL:
        assert secret not in text


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("acme.api.mindset.ai", "https://acme.api.mindset.ai"),
        ("acme.api.mindset.ai:8443", "https://acme.api.mindset.ai:8443"),
        ("http://127.0.0.1:9911", "http://127.0.0.1:9911"),
        ("https://acme.api.mindset.ai/", "https://acme.api.mindset.ai"),
        ("http://[::1]:9911", "http://[::1]:9911"),
    ],
)
def test_api_host_bare_means_https_and_urls_are_kept(value: str, expected: str) -> None:
    assert parse_api_host(value) == expected


def test_account_uids_are_split_and_trimmed() -> None:
    assert parse_account_uids(f" {UID_20} ,{'v' * 128},") == (UID_20, "v" * 128)
    assert parse_account_uids(None) == ()


@given(st.lists(st.text(alphabet="abcdefghij0123456789_-", min_size=1, max_size=140), max_size=12))
def test_account_uids_accept_exactly_what_the_vendor_accepts(uids: list[str]) -> None:
    joined = ",".join(uids)
    valid = len(uids) <= 10 and all(20 <= len(uid) <= 128 for uid in uids)
    if valid:
        assert parse_account_uids(joined) == tuple(uids)
    else:
        with pytest.raises(ConfigError, match="MINDSET_ACCOUNT_UIDS"):
            parse_account_uids(joined)


# --- MINDSET_API_HOST in production: https, or plain http on loopback only ------------------

PLAINTEXT_REMOTE = "http://acme.api.mindset.ai"


def production_settings(**extra: str) -> dict[str, str]:
    return mindset_settings(BROKER_ENV="production", **extra)


def test_production_refuses_a_plain_http_vendor_host_off_loopback() -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(production_settings(MINDSET_API_HOST=PLAINTEXT_REMOTE))
    message = str(raised.value)
    assert message.startswith("MINDSET_API_HOST uses plain http://")
    assert "https://" in message
    assert "MINDSET_ALLOW_PLAINTEXT_HOST=1" in message


@pytest.mark.parametrize(
    "host",
    [
        "http://127.0.0.1:9911",
        "http://127.8.9.10:9911",
        "http://[::1]:9911",
        "http://localhost:9911",
        "https://acme.api.mindset.ai",
        "acme.api.mindset.ai",
    ],
)
def test_production_accepts_https_and_plain_http_on_loopback(host: str) -> None:
    settings = load_settings(production_settings(MINDSET_API_HOST=host))
    assert settings.mindset is not None
    assert settings.mindset.allow_plaintext_host is False


@pytest.mark.parametrize(
    "host", ["http://10.0.0.7:9911", "http://[::2]:80", "http://localhost.example.com"]
)
def test_production_counts_only_loopback_as_loopback(host: str) -> None:
    with pytest.raises(ConfigError, match="MINDSET_API_HOST uses plain http"):
        load_settings(production_settings(MINDSET_API_HOST=host))


def test_the_documented_opt_out_accepts_plain_http_in_production() -> None:
    settings = load_settings(
        production_settings(MINDSET_API_HOST=PLAINTEXT_REMOTE, MINDSET_ALLOW_PLAINTEXT_HOST="1")
    )
    assert settings.mindset is not None
    assert settings.mindset.base_url == PLAINTEXT_REMOTE
    assert settings.mindset.allow_plaintext_host is True


def test_development_accepts_plain_http_anywhere() -> None:
    settings = load_settings(mindset_settings(MINDSET_API_HOST=PLAINTEXT_REMOTE))
    assert settings.mindset is not None
    assert settings.mindset.base_url == PLAINTEXT_REMOTE


def test_find_problems_reports_a_plain_http_vendor_host_in_production() -> None:
    problems = find_problems(production_settings(MINDSET_API_HOST=PLAINTEXT_REMOTE))
    assert any(problem.startswith("MINDSET_API_HOST uses plain http") for problem in problems)


def test_find_problems_reports_a_log_level_start_up_would_refuse() -> None:
    # create_app reads BROKER_LOG_LEVEL before the rest; config check must not pass it.
    problems = find_problems(mindset_settings(BROKER_LOG_LEVEL="chatty"))
    assert problems == ["BROKER_LOG_LEVEL must be one of: DEBUG, INFO, WARNING, ERROR, CRITICAL"]
    assert find_problems(mindset_settings(BROKER_LOG_LEVEL="warning")) == []


@pytest.mark.parametrize(
    "weak",
    [
        "dev",
        "changeme",
        "secret",
        "please-change-me",
        "Please-Change-Me ",
        "short-but-random-Zq81x",
        "x" * 64,
        "please-change-this-to-a-long-random-secret-key",
    ],
)
def test_production_refuses_a_weak_secret_key_without_quoting_it(weak: str) -> None:
    settings = mindset_settings(BROKER_ENV="production", SECRET_KEY=weak)
    with pytest.raises(ConfigError, match="SECRET_KEY is too weak for production") as raised:
        load_settings(settings)
    message = str(raised.value)
    assert repr(weak.strip()) not in message
    assert f"={weak.strip()}" not in message
    if len(weak) > 8:  # short values ("secret") are words the message may use
        assert weak.strip() not in message
    assert any(problem.startswith("SECRET_KEY is too weak") for problem in find_problems(settings))
    # Development takes it (a warning says production will not).
    load_settings({**settings, "BROKER_ENV": "development"})


@pytest.mark.parametrize(
    "host",
    ["https://acme.api.mindset.ai/api/v1", "acme.api.mindset.ai/api/v1", "http://127.0.0.1:9/x/"],
)
def test_an_api_host_with_a_path_is_refused_with_the_host_only(host: str) -> None:
    with pytest.raises(ConfigError, match=r"MINDSET_API_HOST (must be the host only|is malformed)"):
        parse_api_host(host)


def test_an_api_host_url_with_a_path_says_which_host_to_give() -> None:
    with pytest.raises(ConfigError) as raised:
        parse_api_host("https://acme.api.mindset.ai/api/v1")
    assert "give https://acme.api.mindset.ai" in str(raised.value)
    assert parse_api_host("https://acme.api.mindset.ai/") == "https://acme.api.mindset.ai"


def test_every_missing_credential_is_named_at_once() -> None:
    problems = find_problems({"MINDSET_API_HOST": "acme.api.mindset.ai"})
    assert [problem.split()[0] for problem in problems] == ["MINDSET_API_KEY", "MINDSET_APP_UID"]
    problems = find_problems({"TYPINGMIND_JWT_SECRET": "short"})
    named = [problem.split()[0] for problem in problems]
    assert named == ["TYPINGMIND_URL", "TYPINGMIND_JWT_SECRET"]


def test_config_check_reads_the_demo_login_default_as_start_up_does() -> None:
    # The demo login defaults to on with the sandbox: config check's reading (which notes
    # refusals instead of raising) must hand the same default through, set or refused.
    problems, sandbox = check_configuration({"SECRET_KEY": fake_secrets.SECRET_KEY})
    assert problems == []
    assert sandbox.demo_login is True
    problems, refused = check_configuration(
        {"SECRET_KEY": fake_secrets.SECRET_KEY, "BROKER_DEMO_LOGIN": "perhaps"}
    )
    assert any("BROKER_DEMO_LOGIN" in problem for problem in problems)
    assert refused.demo_login is True


def test_production_config_check_refuses_the_sandboxs_demo_login_by_its_default() -> None:
    # In production on purpose (BROKER_SANDBOX=1), with no vendor settings, the demo login is
    # on by default: config check must refuse it though nobody set BROKER_DEMO_LOGIN.
    source = {
        "BROKER_ENV": "production",
        "BROKER_SANDBOX": "1",
        "SECRET_KEY": fake_secrets.SECRET_KEY,
    }
    assert DEMO_LOGIN_IN_PRODUCTION in find_problems(source)
    assert DEMO_LOGIN_IN_PRODUCTION not in find_problems({**source, "BROKER_DEMO_LOGIN": "0"})
