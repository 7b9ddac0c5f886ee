"""The production server's own log lines (gunicorn's and its workers') as JSON, like the broker's.

``gunicorn.conf.py`` hands :data:`LOGCONFIG` to gunicorn (``logconfig_dict``), so "Listening
at", "Booting worker", "Worker timeout" and a worker's traceback are one JSON object per line
on stderr, with the same ``ts``, ``level``, ``logger`` and ``msg`` fields as the broker's
lines (``flask_token_broker/observability/logs.py``).
Standard library and gunicorn only: its master loads this
before any worker exists, and a gevent worker patches the standard library after.
"""

from __future__ import annotations

import json
import logging
import logging.config
import sys
import time
from typing import Any, NoReturn

from gunicorn import glogging


def log_timestamp(created: float, msecs: float) -> str:
    """UTC, millisecond precision, the same on every line of the broker's stream."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created)) + f".{int(msecs):03d}Z"


class JsonLineFormatter(logging.Formatter):
    """One JSON object per record; a traceback travels inside it (``exc``), never on its own
    lines, so a log collector never sees half a record."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": log_timestamp(record.created, record.msecs),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            "pid": record.process,
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exc"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        return json.dumps(
            entry,
            ensure_ascii=False,  # pragma: no mutate (None, the replacement, is falsy as False)
        )


class Logger(glogging.Logger):  # type: ignore[misc]  # gunicorn ships no types
    """gunicorn's logger, without its access log.

    gunicorn builds every request's access-log fields whenever a ``logconfig_dict`` is set,
    even with no access log to write them to: about 4% of a worker's CPU for nothing. The
    broker writes its own access line, so gunicorn's is on only if ``accesslog`` is set: the
    logger's public ``access_log_enabled``, which gunicorn reads before building them.
    """

    @property
    def access_log_enabled(self) -> bool:
        return bool(self.cfg.accesslog)


def logconfig(level: str) -> dict[str, Any]:
    """gunicorn's ``logconfig_dict``: its error log and every other library's lines (the root
    logger, at ``warning``) as JSON on stderr. The access log is left to gunicorn: off unless
    ``accesslog`` is set (the broker writes one JSON line per request itself); configuring it
    here would drop the handler gunicorn gives it for an operator's ``accesslog``."""
    handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": f"{__name__}.JsonLineFormatter"}},
        "handlers": {"error_console": handler, "console": handler},
        "root": {"level": "WARNING", "handlers": ["console"]},
        "loggers": {
            "gunicorn.error": {
                "level": level.upper(),
                "handlers": ["error_console"],
                # gunicorn's Logger turns propagation off too, so no test can tell this line's
                # absence; it keeps the dict complete for any other reader of it.
                "propagate": False,  # pragma: no mutate
            },
        },
    }


def log_json_from_the_first_line() -> None:
    """Apply :func:`logconfig` now, at ``warning``, until gunicorn applies it at the operator's
    level: gunicorn does so only after reading its config file, and what is logged while it
    reads it (python-dotenv's warning about a line of the dotenv file it cannot parse) would
    otherwise reach logging's last resort, as plain text."""
    # logconfig reads a level in either case, as gunicorn's loglevel setting is written.
    logging.config.dictConfig(logconfig("warning"))  # pragma: no mutate


def exit_with_error(message: str) -> NoReturn:
    """Stop the server with ``message`` as one JSON ``error`` line (a start-up refusal is a
    log line like any other)."""
    record = logging.LogRecord(
        "broker.server",
        logging.ERROR,
        __file__,  # pragma: no mutate (a record's file and line are not in its JSON line)
        0,  # pragma: no mutate (as above)
        message,
        None,
        None,
    )
    print(JsonLineFormatter().format(record), file=sys.stderr)  # stderr is line-buffered
    sys.exit(1)


class BootRefusalAsLogLine:
    """Mixed into the broker's workers: the app's start-up refusal (``SystemExit`` with a
    message, e.g. an unimportable ``BROKER_USER_RESOLVER``) becomes a JSON ``error`` line on
    gunicorn's error log instead of Python's bare text on stderr. The exit code is unchanged."""

    log: Any

    def load_wsgi(self) -> None:
        try:
            super().load_wsgi()  # type: ignore[misc]
        except SystemExit as refusal:
            if not isinstance(refusal.code, str):
                raise
            self.log.error(refusal.code)
            raise SystemExit(1) from None
