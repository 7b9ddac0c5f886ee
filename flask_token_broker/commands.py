"""Every terminal command of the broker: ``flask --app wsgi token mint``, ``config check`` and
``typingmind link``.

``token mint`` and ``config check`` print one JSON document on stdout, so scripts can read it,
and log on stderr as the server does. ``token mint`` goes through exactly the route's code
(identity mapping, vendor client, error translation) and answers the route's JSON, so a
terminal session tells an integrator what the browser would get; the terminal, being the
operator's, also gets the log line's ``hint`` and the wait in seconds (:func:`for_terminal`).
Exit codes: 0 success, 1 a final failure, 75 (EX_TEMPFAIL) a retryable one.

``typingmind link`` prints a TypingMind login link for support staff and scripts that need to
send someone a sign-in link ("create a quick login link from other systems"). The link is
printed on stdout, alone, so it can be piped; logs go to stderr as everywhere else. It is a
credential: send it only to that user.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any

import click
from flask import Flask, Response, current_app
from flask.cli import AppGroup

from .errors import BrokerError, broker_error_response, unexpected_error_response
from .observability.logs import assign_request_id
from .settings import (
    ConfigError,
    Settings,
    check_configuration,
    secret_sources,
)
from .startup_warnings import startup_warnings
from .state import TYPINGMIND_SETTINGS, Broker, broker_of, current_broker
from .typingmind import TypingMindIdentityError
from .users import MAX_FIELD_LENGTH, CurrentUser
from .users.custom import check_resolver_import
from .version import VERSION

SOURCE = "token_broker_settings_source"
# What stopped the broker from being built (create_app), for config check to report.
STARTUP_ERROR = "token_broker_startup_error"
EXIT_FAILED = 1
EXIT_RETRYABLE = 75
PROBE_USER = "broker-config-probe"

token_cli = AppGroup("token", help="Mint tokens as the browser would get them.")
config_cli = AppGroup("config", help="Inspect the broker's configuration.")
typingmind_cli = AppGroup("typingmind", help="TypingMind externalAuthCode tools.")
broker_cli = AppGroup("broker", help="About this broker.")
# Commands that must work whatever the configuration: they diagnose a broken one.
WITHOUT_CONFIGURATION = (["config", "check"], ["broker", "version"])


def register_commands(app: Flask, source: Mapping[str, Any]) -> None:
    """Add the commands; ``source`` is the raw settings mapping, for ``config check``."""
    app.extensions[SOURCE] = dict(source)
    app.cli.add_command(token_cli)
    app.cli.add_command(config_cli)
    app.cli.add_command(broker_cli)


def diagnosis_requested(argv: Sequence[str] | None = None) -> bool:
    """Whether this process is ``flask ... config check`` or ``broker version``, which must
    load with a bad config."""
    args = list(sys.argv[1:] if argv is None else argv)
    return any(args[i : i + 2] in WITHOUT_CONFIGURATION for i in range(len(args) - 1))


def diagnostics_app(source: Mapping[str, Any], error: ConfigError | None = None) -> Flask:
    """An app holding only ``config check``, to list every problem of an invalid config;
    ``error`` is what stopped the broker's start-up, reported among them."""
    app = Flask(__name__)
    app.extensions[SOURCE] = dict(source)
    app.extensions[STARTUP_ERROR] = error
    app.cli.add_command(config_cli)
    app.cli.add_command(broker_cli)
    return app


def _broker() -> Broker | None:
    return broker_of(current_app)


def _emit(document: Mapping[str, Any]) -> None:
    click.echo(json.dumps(document, indent=2, sort_keys=False))


def _mint(broker: Broker, user: CurrentUser) -> tuple[int, dict[str, Any], bool]:
    """``(status, body, retryable)``: what ``GET /api/getusertoken`` would answer, for a
    terminal (:func:`for_terminal`)."""
    with current_app.test_request_context("/api/getusertoken"):
        assign_request_id()
        response: Response
        hint = None
        try:
            return 200, {"authToken": broker.mindset_tokens().mint(user)}, False
        except BrokerError as error:
            response, hint = broker_error_response(error), error.log_hint
        except Exception as error:  # the route's catch-all answer, with its log line
            response = unexpected_error_response(error)
        body = for_terminal(response.get_json(), hint, response.headers.get("Retry-After"))
        return response.status_code, body, bool(body.get("retryable"))


def for_terminal(body: dict[str, Any], hint: str | None, retry_after: str | None) -> dict[str, Any]:
    """The route's JSON error for whoever runs the command: the operator.

    It adds ``hint``, what the log line says to check (``the vendor answered 403: check
    MINDSET_API_KEY``; hints are written for logs, so they never hold a secret), and says the
    wait in seconds where a browser is told to read the ``Retry-After`` header it cannot see.
    """
    if hint:
        body["hint"] = hint
    if retry_after is not None:
        wait = f"{retry_after} s"
        message = str(body["message"]).replace("after Retry-After seconds", f"in {wait}")
        body["message"] = message.replace("Retry-After seconds", wait)
        body["retry_after"] = int(retry_after)
    return body


@token_cli.command("mint")
@click.option("--external-id", required=True, help="The host app's user id.")
@click.option("--email", default=None, help="The user's email.")
@click.option("--name", default=None, help="The user's display name.")
def mint_command(external_id: str, email: str | None, name: str | None) -> None:
    """Mint a Mindset token for a user: the vendor's answer, or the route's JSON error."""
    status, body, retryable = _mint(current_broker(), CurrentUser(external_id, email, name))
    _emit(body)
    if status != 200:
        sys.exit(EXIT_RETRYABLE if retryable else EXIT_FAILED)


@config_cli.command("check")
@click.option("--probe", is_flag=True, help="Also mint one real token and report the outcome.")
@click.option(
    "--probe-user",
    default=PROBE_USER,
    show_default=True,
    help="The external id the probe mints for (the vendor creates it on first use).",
)
def check_command(probe: bool, probe_user: str) -> None:
    """Print the effective configuration (secrets masked), flows on, and every problem."""
    broker = _broker()
    source = current_app.extensions.get(SOURCE, {})
    problems, read = check_configuration(source)
    for problem in start_up_problems(read, current_app.extensions.get(STARTUP_ERROR)):
        if problem not in problems:
            problems.append(problem)
    settings = broker.settings if broker is not None else None
    report: dict[str, Any] = {
        "ok": not problems,
        "problems": problems,
        "warnings": warnings_for(read),
        "flows": broker.flows() if broker is not None else [],
        "settings": masked(settings) if settings is not None else None,
        # Where each secret was read from (a variable or a *_FILE), never its value.
        "secret_sources": secret_sources(source),
    }
    if probe:
        report["probe"] = _probe(broker, probe_user)
        report["ok"] = report["ok"] and report["probe"]["outcome"] == "ok"
    _emit(report)
    if not report["ok"]:
        sys.exit(EXIT_FAILED)


def start_up_problems(settings: Settings, error: ConfigError | None) -> list[str]:
    """What building the broker refuses beyond reading the settings: the resolver import
    (tried here even when other settings are invalid), and whatever stopped start-up."""
    found: list[str] = []
    try:
        check_resolver_import(settings)
    except ConfigError as refusal:
        found.extend(refusal.problems)
    if error is not None:
        found.extend(error.problems)
    return found


@broker_cli.command("version")
def version_command() -> None:
    """Print the broker's version (the one /healthz, metrics and the start-up line show)."""
    click.echo(VERSION)


def _probe(broker: Broker | None, user_id: str) -> dict[str, Any]:
    if broker is None:
        return {"outcome": "skipped", "reason": "the configuration is invalid"}
    user = CurrentUser(user_id, f"{user_id}@probe.invalid", "Broker configuration probe")
    started = time.perf_counter()
    status, body, retryable = _mint(broker, user)
    latency_ms = round((time.perf_counter() - started) * 1000, 1)
    if status == 200:
        return {"outcome": "ok", "latency_ms": latency_ms, "token_length": len(body["authToken"])}
    return {
        "outcome": body.get("error"),
        "status": status,
        "retryable": retryable,
        "message": body.get("message"),
        **({"hint": body["hint"]} if "hint" in body else {}),
        **({"retry_after": body["retry_after"]} if "retry_after" in body else {}),
        "request_id": body.get("request_id"),
        "latency_ms": latency_ms,
    }


def masked(value: Any) -> Any:
    """Settings as plain JSON; fields kept out of ``repr`` (secrets) show only if they are set."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        result: dict[str, Any] = {}
        for item in dataclasses.fields(value):
            field_value = getattr(value, item.name)
            if not item.repr:
                result[item.name] = None if field_value is None else "<set, hidden>"
            else:
                result[item.name] = masked(field_value)
        return result
    if isinstance(value, tuple | list):
        return [masked(item) for item in value]
    return value


def warnings_for(settings: Settings) -> list[str]:
    """Working but risky or surprising choices, each with what to do: start-up's own words."""
    hosts_checked = bool(settings.protection.allowed_hosts)
    return [found.message for found in startup_warnings(settings, hosts_checked=hosts_checked)]


def _text(value: str | None, option: str, *, identifies: bool = False) -> str | None:
    """Blank means none. An id or email is kept exactly as typed, as resolvers keep it: trimmed,
    ``"ada\u00a0"`` would become another user, ``ada``. A name is only displayed: trimmed."""
    if value is None or not value or value.isspace():
        return None
    if not identifies:
        value = value.strip()
    if len(value) > MAX_FIELD_LENGTH:
        raise click.BadParameter(f"longer than {MAX_FIELD_LENGTH} characters", param_hint=option)
    return value


@typingmind_cli.command("link")
@click.option("--user-id", required=True, help="The user's id in the host app.")
@click.option(
    "--email", default=None, help="The user's email (required by TYPINGMIND_PAYLOAD=email)."
)
@click.option("--name", default=None, help="The user's display name.")
def link(user_id: str, email: str | None, name: str | None) -> None:
    """Print a login URL that signs this user into TypingMind (valid TYPINGMIND_TOKEN_TTL s)."""
    codes = current_broker().typingmind
    if codes is None:
        raise click.ClickException(f"TypingMind is not configured: set {TYPINGMIND_SETTINGS}")
    user_id_text = _text(user_id, "--user-id", identifies=True)
    if user_id_text is None:
        raise click.BadParameter("must not be empty", param_hint="--user-id")
    user = CurrentUser(
        id=user_id_text,
        email=_text(email, "--email", identifies=True),
        name=_text(name, "--name"),
    )
    try:
        code = codes.issue(user)
    except TypingMindIdentityError as error:
        raise click.ClickException(str(error)) from None
    click.echo(codes.login_url(code))
    click.echo(f"expires at {code.expires_at_iso}", err=True)
