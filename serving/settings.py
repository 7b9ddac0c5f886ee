"""The production server's own settings: each declared once, here, with its default and check.

``gunicorn.conf.py`` reads them in the master (:func:`read_server_settings`, from the
environment over the dotenv file) and hands the result to the workers with :func:`accept`:
gunicorn forks every worker from the master, so a worker finds the settings its master
accepted (:func:`accepted`) without reading the environment again. A reload reads the file
again, so new workers get the new values. The broker's own settings (``MINDSET_*``,
``BROKER_*`` of the app) are the package's, read from ``app.config``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ServerSetting:
    """One variable: its name, its default as an operator would write it, what it means, and
    the values it takes (``kind``: :func:`_whole` or :func:`_seconds` between ``low`` and
    ``high``, or :func:`_text`)."""

    name: str
    default: str
    doc: str
    kind: Callable[[ServerSetting, str], Any]
    low: int = 0
    high: int = 0

    def parse(self, raw: str) -> Any:
        """The value of ``raw``, or ValueError naming the variable and what it takes."""
        return self.kind(self, raw)


def _whole(setting: ServerSetting, raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{setting.name} must be a whole number, not {raw[:40]!r}") from None
    if not setting.low <= value <= setting.high:
        raise ValueError(
            f"{setting.name} must be at least {setting.low} and at most {setting.high}"
        )
    return value


def _seconds(setting: ServerSetting, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{setting.name} must be a number of seconds, not {raw[:40]!r}") from None
    if not 0 < value <= setting.high:
        raise ValueError(f"{setting.name} must be more than 0 and at most {setting.high} seconds")
    return value


def _text(setting: ServerSetting, raw: str) -> str:
    return raw


PORT = ServerSetting(
    "PORT",
    "8000",
    (
        "the port to listen on (`make run` takes it from the environment or command line, "
        "not `.env`)"
    ),
    _whole,
    0,
    65535,
)
BIND = ServerSetting("BROKER_BIND", "0.0.0.0:$PORT", "bind address", _text)
WORKERS = ServerSetting("BROKER_WORKERS", "cores", "worker processes", _whole, 1, 1024)
WORKER_CONNECTIONS = ServerSetting(
    "BROKER_WORKER_CONNECTIONS",
    "1000",
    (
        "open client connections per worker; when full, a new connection displaces the one "
        "waiting longest for a request"
    ),
    _whole,
    1,
    1_000_000,
)
KEEPALIVE = ServerSetting(
    "BROKER_KEEPALIVE",
    "75",
    (
        "seconds an idle client connection is kept open between requests (longer than the "
        "load balancer's idle timeout)"
    ),
    _whole,
    0,
    3600,
)
HEADER_TIMEOUT = ServerSetting(
    "BROKER_HEADER_TIMEOUT",
    "10",
    (
        "seconds a request's line and headers may take to arrive (from the connection's "
        "start for its first request, from its first byte for a later one); then the "
        "connection is closed, with `408 request_timeout`"
    ),
    _seconds,
    high=300,
)
MAX_IN_FLIGHT = ServerSetting(
    "BROKER_MAX_IN_FLIGHT",
    "512",
    (
        "requests a worker holds at once (being answered or waiting for the vendor); the "
        'next is answered `503 overloaded` with `Retry-After` at once (see "Under '
        'overload")'
    ),
    _whole,
    1,
    100_000,
)
DECLARED = (PORT, BIND, WORKERS, WORKER_CONNECTIONS, KEEPALIVE, HEADER_TIMEOUT, MAX_IN_FLIGHT)
# Settings of the worker models the server no longer runs, with the one value still accepted
# (besides unset): a deployment that asked for threads hears it will not get them.
RETIRED = {"BROKER_WORKER_CLASS": "gevent", "BROKER_THREADS": ""}


@dataclass(frozen=True)
class ServerSettings:
    bind: str
    workers: int
    worker_connections: int
    keepalive: int
    header_timeout: float
    max_in_flight: int


def read_server_settings(source: Mapping[str, Any]) -> ServerSettings:
    """The server's settings from ``source``, or ValueError naming the variable."""

    def given(name: str) -> str:
        return str(source.get(name) or "").strip()

    def read(setting: ServerSetting, default: str | None = None) -> Any:
        return setting.parse(
            given(setting.name) or (default if default is not None else setting.default)
        )

    for name, allowed in RETIRED.items():
        value = given(name) or allowed
        if value != allowed:
            raise ValueError(
                f"{name}={value[:40]!r}: the server runs gevent workers only "
                "(serving/gevent_worker.py); unset it"
            )

    port = read(PORT)
    return ServerSettings(
        bind=read(BIND, f"0.0.0.0:{port}"),
        workers=read(WORKERS, str(os.cpu_count() or 1)),
        worker_connections=read(WORKER_CONNECTIONS),
        keepalive=read(KEEPALIVE),
        header_timeout=read(HEADER_TIMEOUT),
        max_in_flight=read(MAX_IN_FLIGHT),
    )


# What this process's master accepted; a forked worker inherits it.
_accepted: ServerSettings | None = None


def accept(settings: ServerSettings) -> None:
    global _accepted
    _accepted = settings


def accepted() -> ServerSettings:
    """The settings the master accepted, or, under a server that never read them (a worker
    class used without ``gunicorn.conf.py``), their defaults."""
    return _accepted if _accepted is not None else read_server_settings({})
