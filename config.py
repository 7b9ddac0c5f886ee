"""The standalone broker's configuration: the environment, its dotenv file and secret files.

The extension (:mod:`flask_token_broker`) reads its settings from ``app.config``; this module
is where the standalone service gets them. One precedence for every entry point (``flask
--app wsgi ...``, gunicorn, a test): the process environment over the dotenv file
(``BROKER_ENV_FILE``, default ``.env``), never Flask's own ``.env``. A secret may be given as
``NAME_FILE``, the path of a file holding it (``/run/secrets/...``).

Under gunicorn the master checks a configuration (:func:`accept_server_configuration`, with
the secret files read once) before any worker loads it, and workers load what it accepted
(:func:`accepted_server_configuration`), so a reload never half-applies a broken one.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from dotenv import dotenv_values

from flask_token_broker import (
    SETTING_NAMES,
    ConfigError,
    Settings,
    check_resolver_imports,
    load_settings,
    with_secret_files_read,
)

DEFAULT_ENV_FILE = ".env"


def read_environment(
    env_file: str | None = None, environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The process environment over the dotenv file (``BROKER_ENV_FILE``, default ``.env``).

    Real environment variables win over the file, as operators expect; the file is read, not
    loaded into ``os.environ``, so building an app has no side effects on the process.
    ``environ`` replaces ``os.environ``: the one a server reload will see, or the app's CLI
    environment without Flask's own dotenv files (:mod:`app.cli_environment`).
    """
    environ = os.environ if environ is None else environ
    path = env_file or environ.get("BROKER_ENV_FILE", "").strip() or DEFAULT_ENV_FILE
    from_file = {k: v for k, v in dotenv_values(path).items() if v is not None}
    return {**from_file, **environ}


def broker_config(source: Mapping[str, Any]) -> dict[str, Any]:
    """The broker's settings out of ``source``, for ``app.config``: only the names the broker
    reads, so an environment's unrelated variables (``SERVER_NAME``, ``DEBUG``...) never
    change how Flask itself behaves."""
    return {name: value for name, value in source.items() if name in SETTING_NAMES}


# The configuration this process's server accepted last, for the workers it forks from now on.
# Process-wide on purpose: a forked worker inherits the master's memory, and that is the
# whole hand-over; there is no app yet when the master accepts a configuration.
_accepted: dict[str, Any] | None = None


def accept_server_configuration(source: Mapping[str, Any]) -> Settings:
    """Check ``source`` as the server's workers will load it, then make it theirs.

    Secret files are read here, once (:func:`flask_token_broker.with_secret_files_read`): a
    worker started later (a replacement for one that died, or one still booting when a file
    changes) loads this accepted configuration, never a file's newer, unchecked content. Raises
    :class:`ConfigError` and keeps the previous configuration when ``source`` is invalid.
    """
    global _accepted
    try:
        resolved = with_secret_files_read(source)
    except ConfigError:
        # Name every problem, not only the first file's: reading the settings reads the files
        # again and refuses the unreadable ones among the rest.
        load_settings(source, checks=(check_resolver_imports,))
        raise  # reached only if the file became readable since: it is still unchecked
    settings = load_settings(resolved, checks=(check_resolver_imports,))
    _accepted = resolved
    return settings


def accepted_server_configuration() -> dict[str, Any] | None:
    """What :func:`accept_server_configuration` accepted last in this process, if anything."""
    return None if _accepted is None else dict(_accepted)
