"""``flask token mint`` and ``flask config check`` through Click's runner.

The same commands run once as real subprocesses against the stand-in vendor process in
``test_cli_process.py``.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import responses
from flask import Flask

from flask_token_broker.commands import (
    EXIT_FAILED,
    EXIT_RETRYABLE,
    diagnosis_requested,
    diagnostics_app,
)
from flask_token_broker.settings import ConfigError, find_problems, load_settings

from . import fake_secrets
from .conftest import AUTH_URL, LogLines, build_app, mindset_settings, sign_in


def run(app: Flask, *args: str) -> tuple[int, dict[str, object]]:
    result = app.test_cli_runner().invoke(args=list(args))
    return result.exit_code, json.loads(result.stdout)


def test_mint_prints_the_vendor_answer(app: Flask) -> None:
    with responses.RequestsMock() as vendor:
        vendor.post(AUTH_URL, json={"authToken": "tok-ada"})
        code, body = run(app, "token", "mint", "--external-id", "ada", "--name", "Ada")
        sent = json.loads(vendor.calls[0].request.body or b"")
    assert (code, body) == (0, {"authToken": "tok-ada"})
    assert sent == {"externalId": "ada", "name": "Ada"}


@pytest.mark.parametrize(
    ("vendor_status", "exit_code", "error"),
    [
        (503, EXIT_RETRYABLE, "vendor_unavailable"),
        (429, EXIT_RETRYABLE, "vendor_unavailable"),
        (403, EXIT_FAILED, "vendor_rejected"),
    ],
)
def test_mint_failure_prints_the_routes_json_error(
    app: Flask, vendor_status: int, exit_code: int, error: str
) -> None:
    client = app.test_client()
    sign_in(client, "ada")
    with responses.RequestsMock() as vendor:
        vendor.post(AUTH_URL, status=vendor_status)
        vendor.post(AUTH_URL, status=vendor_status)
        route = client.get("/api/getusertoken").get_json()
        code, body = run(app, "token", "mint", "--external-id", "ada")
    assert code == exit_code
    assert body["error"] == error
    # The route's answer, plus what the log line tells the operator, with the wait in seconds.
    retry = {"retry_after": 2} if exit_code == EXIT_RETRYABLE else {}
    assert set(body) == {"error", "message", "request_id", "retryable", "hint", *retry}
    expected = {k: v for k, v in route.items() if k != "request_id"}
    expected["message"] = expected["message"].replace("after Retry-After seconds", "in 2 s")
    assert {k: v for k, v in body.items() if k not in ("request_id", "hint", "retry_after")} == (
        expected
    )
    assert "Retry-After" not in str(body["message"])
    assert f"{vendor_status}" in str(body["hint"])
    assert {k: body[k] for k in retry} == retry
    assert len(str(body["request_id"])) >= 16


def test_mint_refuses_an_id_the_vendor_would_refuse(app: Flask) -> None:
    code, body = run(app, "token", "mint", "--external-id", "auth0|ada")
    assert (code, body["error"]) == (EXIT_FAILED, "invalid_identity")


def test_mint_logs_to_stderr_not_stdout(app: Flask, broker_logs: list[str]) -> None:
    with responses.RequestsMock() as vendor:
        vendor.post(AUTH_URL, status=503)
        result = app.test_cli_runner().invoke(args=["token", "mint", "--external-id", "ada"])
    json.loads(result.stdout)  # stdout is exactly one JSON document
    assert any('"vendor_unavailable' in line for line in broker_logs)


def test_config_check_masks_secrets_and_lists_flows(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["config", "check"])
    assert result.exit_code == 0
    report = json.loads(result.stdout)
    assert report["ok"] is True
    assert report["problems"] == []
    assert report["flows"] == ["mindset"]
    assert report["settings"]["mindset"]["api_key"] == "<set, hidden>"
    assert report["settings"]["secret_key"] == "<set, hidden>"
    assert report["settings"]["mindset"]["app_uid"] == fake_secrets.APP_UID
    for secret in fake_secrets.ALL:
        assert secret not in result.stdout


def test_config_check_warns_about_risky_choices() -> None:
    app = build_app(mindset_settings(BROKER_ENV="production", BROKER_DEMO_LOGIN="1"))
    result = app.test_cli_runner().invoke(args=["config", "check"])
    report = json.loads(result.stdout)
    warnings = " ".join(report["warnings"])
    # Demo login in production is no mere warning: a problem, and a failed check.
    assert "BROKER_DEMO_LOGIN is on in production" in " ".join(report["problems"])
    assert report["ok"] is False
    assert result.exit_code == EXIT_FAILED
    assert "BROKER_METRICS_TOKEN is not set" in warnings
    assert "MINDSET_SDK_URL is not set" in warnings


@pytest.mark.parametrize(
    ("vendor_status", "outcome", "exit_code"),
    [(200, "ok", 0), (503, "vendor_unavailable", EXIT_FAILED), (401, "vendor_rejected", 1)],
)
def test_config_check_probe_reports_outcome_and_latency(
    app: Flask, vendor_status: int, outcome: str, exit_code: int
) -> None:
    with responses.RequestsMock() as vendor:
        if vendor_status == 200:
            vendor.post(AUTH_URL, json={"authToken": "tok-probe"})
        else:
            vendor.post(AUTH_URL, status=vendor_status)
        result = app.test_cli_runner().invoke(args=["config", "check", "--probe"])
        sent = json.loads(vendor.calls[0].request.body or b"")
    report = json.loads(result.stdout)
    assert result.exit_code == exit_code
    assert report["probe"]["outcome"] == outcome
    assert report["probe"]["latency_ms"] >= 0
    assert sent["externalId"] == "broker-config-probe"
    assert "tok-probe" not in result.stdout


@pytest.mark.parametrize(
    ("extra", "refused"),
    [
        ({"BROKER_ENV": "production", "BROKER_DEMO_LOGIN": "1"}, True),
        ({"BROKER_ENV": "production", "BROKER_DEMO_LOGIN": "0"}, False),
        ({"BROKER_ENV": "production"}, False),
        ({"BROKER_DEMO_LOGIN": "1"}, False),
    ],
)
def test_demo_login_in_production_fails_config_check(
    extra: dict[str, str], refused: bool, broker_logs: LogLines
) -> None:
    app = build_app(mindset_settings(BROKER_ALLOWED_HOSTS="broker.example.com", **extra))
    loud = [json.loads(line) for line in broker_logs if "DEMO LOGIN IS ON IN PRODUCTION" in line]
    assert [entry["level"] for entry in loud] == (["error"] if refused else [])
    result = app.test_cli_runner().invoke(args=["config", "check"])
    problems = json.loads(result.stdout)["problems"]
    assert any("BROKER_DEMO_LOGIN is on in production" in p for p in problems) is refused
    assert (result.exit_code == EXIT_FAILED) is refused


def test_the_production_sandbox_has_demo_login_on_by_default_and_is_refused() -> None:
    source = {
        "BROKER_ENV": "production",
        "SECRET_KEY": fake_secrets.SECRET_KEY,
        "BROKER_SANDBOX": "1",
    }
    assert any("BROKER_DEMO_LOGIN" in problem for problem in find_problems(source))
    source["BROKER_DEMO_LOGIN"] = "0"
    assert find_problems(source) == []


def test_find_problems_lists_every_problem_not_just_the_first() -> None:
    problems = find_problems(
        {
            "BROKER_ENV": "production",
            "MINDSET_API_HOST": "not a host",
            "MINDSET_READ_TIMEOUT": "soon",
            "BROKER_DEMO_LOGIN": "maybe",
            "BROKER_REDIS_URL": "localhost:6379",
            "BROKER_METRICS_TOKEN": "short",
            "MINDSET_SDK_URL": "http://sdk.example/sdk.js",
        }
    )
    named = [problem.split()[0] for problem in problems]
    assert named == [
        "SECRET_KEY",
        "MINDSET_API_KEY",
        "MINDSET_APP_UID",
        "MINDSET_READ_TIMEOUT",
        "MINDSET_API_HOST",
        "BROKER_DEMO_LOGIN",
        "BROKER_REDIS_URL",
        "MINDSET_SDK_URL",
        "BROKER_METRICS_TOKEN",
    ]


def test_find_problems_also_checks_typingmind_and_the_user_resolver() -> None:
    problems = find_problems(
        mindset_settings(
            TYPINGMIND_JWT_SECRET=fake_secrets.TYPINGMIND_SECRET,
            TYPINGMIND_URL="ftp://chat.example.com",
            BROKER_USER_RESOLVER="telepathy",
            MINDSET_READ_TIMEOUT="soon",
        )
    )
    named = {problem.split()[0] for problem in problems}
    assert {"TYPINGMIND_URL", "BROKER_USER_RESOLVER", "MINDSET_READ_TIMEOUT"} <= named


@pytest.mark.parametrize(
    "settings",
    [
        {},
        mindset_settings(),
        mindset_settings(
            TYPINGMIND_JWT_SECRET=fake_secrets.TYPINGMIND_SECRET,
            TYPINGMIND_URL="https://chat.example.com",
        ),
        mindset_settings(BROKER_ENV="production", MINDSET_SDK_URL="https://s.example/sdk.js"),
    ],
)
def test_find_problems_finds_none_in_a_valid_configuration(settings: dict[str, str]) -> None:
    assert find_problems(settings) == []


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--app", "wsgi", "config", "check"], True),
        (["--app", "wsgi", "config", "check", "--probe"], True),
        (["--app", "wsgi", "token", "mint", "--external-id", "config"], False),
        (["--app", "wsgi", "run"], False),
    ],
)
def test_only_config_check_loads_with_an_invalid_configuration(
    argv: list[str], expected: bool
) -> None:
    assert diagnosis_requested(argv) is expected


def test_config_check_fails_on_a_plain_http_vendor_host_in_production() -> None:
    settings = mindset_settings(BROKER_ENV="production", MINDSET_API_HOST="http://acme.example")
    result = diagnostics_app(settings).test_cli_runner().invoke(args=["config", "check"])
    report = json.loads(result.stdout)
    assert result.exit_code == EXIT_FAILED
    assert report["ok"] is False
    assert any("MINDSET_API_HOST uses plain http" in problem for problem in report["problems"])


def test_config_check_and_start_up_warn_when_plain_http_is_allowed(
    broker_logs: list[str],
) -> None:
    app = build_app(
        mindset_settings(
            BROKER_ENV="production",
            MINDSET_API_HOST="http://acme.example",
            MINDSET_ALLOW_PLAINTEXT_HOST="1",
        )
    )
    assert "MINDSET_ALLOW_PLAINTEXT_HOST is on" in " ".join(broker_logs)
    result = app.test_cli_runner().invoke(args=["config", "check"])
    report = json.loads(result.stdout)
    assert report["problems"] == []
    assert any("MINDSET_ALLOW_PLAINTEXT_HOST is on" in warning for warning in report["warnings"])


def check(app: Flask) -> tuple[int, dict[str, Any]]:
    result = app.test_cli_runner().invoke(args=["config", "check"])
    return result.exit_code, json.loads(result.stdout)


def test_config_check_refuses_an_unimportable_resolver_with_every_other_problem() -> None:
    # What create_app hands config check when the broker cannot even start.
    source = {"BROKER_USER_RESOLVER": "myapp.auth:broker_user", "MINDSET_API_HOST": "acme.test"}
    code, report = check(diagnostics_app(source))
    assert (code, report["ok"]) == (EXIT_FAILED, False)
    assert [problem.split()[0] for problem in report["problems"]] == [
        "MINDSET_API_KEY",
        "MINDSET_APP_UID",
        "BROKER_USER_RESOLVER:",
    ]
    assert "cannot import module 'myapp.auth'" in report["problems"][2]


def test_config_check_reports_what_stopped_start_up_once() -> None:
    source = mindset_settings(BROKER_USER_RESOLVER="myapp.auth:broker_user")
    refusal = ConfigError("BROKER_USER_RESOLVER: cannot import module 'myapp.auth' (X)")
    code, report = check(diagnostics_app(source, refusal))
    assert code == EXIT_FAILED
    assert report["problems"][-1] == str(refusal)
    assert len([p for p in report["problems"] if "myapp.auth" in p]) == 2  # import, start-up


def test_config_check_lists_a_start_up_error_of_several_problems_one_by_one() -> None:
    source = mindset_settings(MINDSET_READ_TIMEOUT="soon", BROKER_REDIS_URL="localhost:6379")
    with pytest.raises(ConfigError) as raised:
        load_settings(source)
    code, report = check(diagnostics_app(source, raised.value))
    assert code == EXIT_FAILED
    assert len(raised.value.problems) == 2
    assert report["problems"] == list(raised.value.problems)


@pytest.mark.parametrize(
    ("extra", "warning"),
    [
        ({"BROKER_USER_RESOLVER": "headers"}, "BROKER_USER_RESOLVER=headers with no BROKER_"),
        ({"BROKER_DEMO_LOGIN": "1"}, "BROKER_DEMO_LOGIN is on"),
        ({"SECRET_KEY": "changeme"}, "SECRET_KEY is weak (it is a well-known placeholder value)"),
    ],
)
def test_config_check_shows_the_start_up_warnings(
    extra: dict[str, str], warning: str, broker_logs: LogLines
) -> None:
    code, report = check(build_app(mindset_settings(**extra)))
    assert code == 0
    assert any(warning in found for found in report["warnings"])
    assert warning in broker_logs.joined()  # the server's start-up says the same


def test_a_weak_secret_key_fails_config_check_in_production() -> None:
    source = mindset_settings(BROKER_ENV="production", SECRET_KEY="please-change-me")
    code, report = check(diagnostics_app(source))
    assert (code, report["ok"]) == (EXIT_FAILED, False)
    assert report["problems"][0].startswith("SECRET_KEY is too weak for production")
    assert "please-change-me" not in json.dumps(report)


@pytest.mark.parametrize(
    ("vendor_status", "setting"), [(403, "MINDSET_API_KEY"), (404, "MINDSET_APP_UID")]
)
def test_config_check_probe_carries_the_log_lines_hint_and_no_secret(
    app: Flask, vendor_status: int, setting: str, broker_logs: LogLines
) -> None:
    with responses.RequestsMock() as vendor:
        vendor.post(AUTH_URL, status=vendor_status, json={"key": fake_secrets.API_KEY})
        result = app.test_cli_runner().invoke(args=["config", "check", "--probe"])
    probe = json.loads(result.stdout)["probe"]
    assert f"answered HTTP {vendor_status}" in probe["hint"]
    assert setting in probe["hint"]
    assert probe["hint"] in broker_logs.joined()  # the same words as the log line
    for secret in fake_secrets.ALL:
        assert secret not in result.stdout
