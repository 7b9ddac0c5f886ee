"""The process environment as the operator set it, without what Flask's CLI added to it.

The broker has one precedence for every entry point: the environment, then its dotenv file
(``BROKER_ENV_FILE``, default ``.env``), then nothing else. ``flask --app wsgi ...`` breaks it
before the broker's code runs: unless ``FLASK_SKIP_DOTENV=1`` is set, Flask's CLI copies the
nearest ``.flaskenv`` and ``.env`` (searched upward from the working directory) into
``os.environ`` for every key not already there. ``config check`` could then check another app
uid than ``gunicorn`` (which reads only ``BROKER_ENV_FILE``) serves with.

Flask only adds keys that were absent, each with the file's value, so the keys it added are
those of its files that hold exactly the file's value and were not in the environment the
process started with (``/proc/self/environ`` on Linux). Where that cannot be read, a key holding
exactly the file's value is taken to come from the file; the broker's own file is then read as
usual, so the only difference is a shell variable that happens to equal Flask's file's value.
"""

from __future__ import annotations

import os

import click
from dotenv import dotenv_values, find_dotenv
from flask.cli import ScriptInfo

# Flask's default files, in the order its CLI merges them (the later one wins).
FLASK_DOTENV_FILES = (".flaskenv", ".env")


def operator_environment() -> dict[str, str]:
    """``os.environ`` without the keys Flask's CLI loaded from its dotenv files."""
    environment = dict(os.environ)
    if not _flask_cli_loaded_dotenv():
        return environment
    started_with = _initial_environment_keys()
    for key, value in _flask_dotenv_values().items():
        if environment.get(key) != value or (started_with is not None and key in started_with):
            continue
        del environment[key]
    return environment


def _flask_cli_loaded_dotenv() -> bool:
    """Whether this app is being loaded by Flask's CLI with its dotenv loading on."""
    context = click.get_current_context(silent=True)
    info = context.find_object(ScriptInfo) if context is not None else None
    return info is not None and bool(getattr(info, "load_dotenv_defaults", True))


def _flask_dotenv_values() -> dict[str, str]:
    merged: dict[str, str] = {}
    for name in FLASK_DOTENV_FILES:
        path = find_dotenv(name, usecwd=True)
        if path:
            merged |= {k: v for k, v in dotenv_values(path).items() if v is not None}
    return merged


def _initial_environment_keys() -> set[str] | None:
    """The names the process was started with, or None where the system does not tell."""
    if os.environ.get("WERKZEUG_RUN_MAIN"):
        return None  # the reloader's child inherits the parent's environment, Flask's keys too
    try:
        with open("/proc/self/environ", "rb") as initial:
            entries = initial.read().split(b"\0")
    except OSError:
        return None
    return {entry.partition(b"=")[0].decode(errors="replace") for entry in entries if entry}
