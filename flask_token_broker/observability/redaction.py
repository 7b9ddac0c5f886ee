"""The logging layer's safety net: configured secrets are masked in every broker log line.

Code must not log secrets in the first place; this catches the mistakes (an exception that
quotes a header, a traceback's local values, a debug line). Two registries:

- process-wide secrets, from the configuration (API keys, JWT secrets, ``SECRET_KEY``, the
  Redis password): :func:`register_secret`, called by whoever reads them;
- request secrets, for values that exist only in one request (the session cookie, a minted
  token): :func:`request_secret`, kept on ``flask.g`` and forgotten with the request.

:class:`RedactingFilter` rewrites a record's message, arguments, ``extra`` fields, exception
text and stack before any handler formats it.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from typing import Any
from urllib.parse import urlsplit

from flask import g, has_request_context, request

MASK = "[redacted]"
# Shorter values would mask ordinary words; no real secret is this short.
MIN_SECRET_LENGTH = 8

# Process-wide on purpose, not on the app: logging is process-wide (a handler formats records
# from every app, thread and library of the process, often outside any app context), so the
# secrets it must mask are too. A host running two brokers masks both brokers' secrets.
_secrets: set[str] = set()
_lock = threading.Lock()


def register_secret(value: str | None) -> None:
    """Mask ``value`` in every log line of this process from now on."""
    if value and len(value) >= MIN_SECRET_LENGTH:
        with _lock:
            _secrets.add(value)


def request_secret(value: str | None) -> None:
    """Mask ``value`` in the log lines of the current request (no-op outside one)."""
    if value and len(value) >= MIN_SECRET_LENGTH and has_request_context():
        extra: set[str] = g.setdefault("_redact", set())
        extra.add(value)


def _current_secrets() -> list[str]:
    with _lock:
        found = set(_secrets)
    if has_request_context():
        found |= g.get("_redact", set())
        # Every cookie value of the request: the session cookie is a bearer credential.
        found |= {v for v in request.cookies.values() if len(v) >= MIN_SECRET_LENGTH}
    # Longest first, so a secret that contains another is masked whole.
    return sorted(found, key=len, reverse=True)


def redact(text: str, secrets: list[str]) -> str:
    """``text`` with each of ``secrets`` (longest first, as gathered) replaced by the mask."""
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def _redact_value(value: Any, secrets: list[str]) -> Any:
    if isinstance(value, str):
        return redact(value, secrets)
    if isinstance(value, dict):
        # Keys too: a secret may name an entry as well as fill one.
        return {_redact_value(k, secrets): _redact_value(v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_redact_value(v, secrets) for v in value)
    if value is None or isinstance(value, bool | int | float):
        return value
    # Any other object is logged by its text; mask that text.
    return redact(str(value), secrets)


_formatter = logging.Formatter()


def redact_record(record: logging.LogRecord) -> None:
    """Mask secrets in ``record`` in place (idempotent). Never raises: a filter that raised
    would turn a careless log call into a failed request."""
    # Masking is idempotent: the mark only spares a second handler the work, so its spellings
    # and values are equivalent mutants.
    if getattr(record, "_redacted", False):  # pragma: no mutate
        return
    try:
        _redact_record(record)
    except Exception as error:  # the record cannot be vouched for: keep none of its content
        record.msg = f"[log record withheld: redaction failed with {type(error).__name__}]"
        # Logging treats every false value of these alike ("" formats as nothing, like None).
        record.args = None  # pragma: no mutate
        record.exc_info = record.exc_text = record.stack_info = None  # pragma: no mutate
        for key in vars(record).keys() - _STANDARD_ATTRS:
            delattr(record, key)
    record._redacted = True  # pragma: no mutate (the idempotence mark, see above)


def _redact_record(record: logging.LogRecord) -> None:
    secrets = _current_secrets()
    try:
        message = record.getMessage()
    except (TypeError, ValueError):  # arguments that do not fit the format
        message = f"{record.msg} [unformattable arguments]"
    record.msg = redact(message, secrets)
    record.args = None  # pragma: no mutate (logging treats "" like None: no arguments)
    if record.exc_info:
        # The traceback and the exception's message are formatted once, here, then masked.
        record.exc_text = redact(_formatter.formatException(record.exc_info), secrets)
        record.exc_info = None  # pragma: no mutate (logging treats "" like None: none)
    elif record.exc_text:
        record.exc_text = redact(record.exc_text, secrets)
    if record.stack_info:
        record.stack_info = redact(record.stack_info, secrets)
    # Every field a caller added (``extra``); "_"-fields too, although no formatter shows them.
    # A field named by a secret is renamed: the formatter writes the names as keys.
    for key in vars(record).keys() - _STANDARD_ATTRS:
        value = _redact_value(vars(record).pop(key), secrets)
        setattr(record, redact(key, secrets), value)


class RedactingFilter(logging.Filter):
    """Attach to a handler: every record it emits has its secrets masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record)
        return True


_STANDARD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
}


def register_settings_secrets(settings: Any) -> None:
    """Every setting declared ``field(repr=False)`` in the settings dataclasses is a secret."""
    if not dataclasses.is_dataclass(settings):
        return
    for item in dataclasses.fields(settings):
        value = getattr(settings, item.name)
        if dataclasses.is_dataclass(value):
            register_settings_secrets(value)
        elif not item.repr and isinstance(value, str):
            register_secret(value)
            if "://" in value:  # a URL with a password: also the password alone
                register_secret(urlsplit(value).password)
