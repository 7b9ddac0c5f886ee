"""Structured logs: one JSON object per line, on stderr, so stdout stays machine-readable.

Each line carries the current request's id, so an error body's ``request_id`` finds the
operator's log line that says what to fix. An incoming ``X-Request-ID`` from a load balancer
is kept when it is a plausible id, so one id follows a request across tiers; anything else is
replaced, never echoed. Every request gets one access line
(:func:`log_request`); every record passes the secret redaction of
:mod:`flask_token_broker.observability.redaction` before it is written.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import logging
import re
import sys
import time
import uuid
from typing import Any

from flask import Response, current_app, g, has_request_context, request

from . import telemetry
from .redaction import _STANDARD_ATTRS, RedactingFilter, redact_record

access_log = logging.getLogger("broker.access")

REQUEST_ID_HEADER = "X-Request-ID"
VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")

# Hex digits of the keyed user hash in log lines: plenty to tell users apart, and short.
USER_HASH_LENGTH = 16
MAX_LOGGED_PATH = 256


class JsonFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__()
        # The formatted second, kept: strftime costs more than the rest of a line's timestamp,
        # and a worker writes hundreds of lines within one second. One tuple, replaced whole,
        # so a thread never pairs one second with another's text.
        self._second: tuple[int, str] = (-1, "")

    def _timestamp(self, record: logging.LogRecord) -> str:
        second, text = self._second
        if int(record.created) != second:
            second = int(record.created)
            text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = (second, text)
        return f"{text}.{int(record.msecs):03d}Z"

    def format(self, record: logging.LogRecord) -> str:
        redact_record(record)
        entry: dict[str, Any] = {
            "ts": self._timestamp(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if has_request_context() and "request_id" in g:
            entry["request_id"] = g.request_id
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                entry[key] = value
        if record.exc_text:
            entry["exc"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        return json.dumps(entry, default=str, ensure_ascii=False)


def configure_logging(level: str = "INFO") -> None:
    """Send the broker's loggers to stderr as JSON lines (idempotent)."""
    logger = logging.getLogger("broker")
    logger.setLevel(level)
    if not any(getattr(h, "_broker_handler", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        handler.addFilter(RedactingFilter())
        handler._broker_handler = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    logger.propagate = False


def user_hash(secret_key: str, user_id: str) -> str:
    """A stable, non-reversible tag for a user in logs and rate-limit keys.

    HMAC-SHA256 keyed with a key derived from ``SECRET_KEY`` (never the key itself), so the
    same user has the same tag on every instance, and nobody without the key can test a
    guessed id or email against it.
    """
    digest = hmac.new(
        _user_hash_key(secret_key), user_id.encode("utf-8", "surrogatepass"), hashlib.sha256
    )
    return digest.hexdigest()[:USER_HASH_LENGTH]


@functools.lru_cache(maxsize=8)
def _user_hash_key(secret_key: str) -> bytes:
    """Derived once per secret key (a process has one or two), not on every request."""
    return hmac.new(secret_key.encode(), b"broker log user tag v1", hashlib.sha256).digest()


def note_user(user_id: str) -> str:
    """Record the request's user (as its hash) for the access line; returns the hash."""
    tag = user_hash(current_app.config["SECRET_KEY"], user_id)
    telemetry.note(user=tag)
    return tag


def assign_request_id() -> None:
    """The request's id, for its answer and its log lines: kept from the caller if plausible."""
    if "request_id" in g:
        return
    incoming = request.headers.get(REQUEST_ID_HEADER, "")
    g.request_id = incoming if VALID_REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex


def log_request(response: Response) -> Response:
    """The request's one access line (:mod:`..routes.pipeline` calls it once a request)."""
    if not access_log.isEnabledFor(logging.INFO):
        return response
    notes = telemetry.request_notes()
    started = g.get("_started")
    duration = 0.0 if started is None else (time.perf_counter() - started) * 1000
    method, path, status = request.method, request.path[:MAX_LOGGED_PATH], response.status_code
    # Built and handed to the logger's handlers directly: Logger.info would also walk the
    # stack to find its caller, which no line of the broker shows, on every request.
    record = access_log.makeRecord(
        access_log.name,
        logging.INFO,
        __file__,
        0,
        "%s %s %s",
        (method, path, status),
        None,
        extra={
            "method": method,
            "path": path,
            "status": status,
            "duration_ms": round(duration, 1),
            "outcome": notes.get("outcome") or _outcome_of(response),
            "vendor_ms": notes.get("vendor_ms"),
            "user": notes.get("user"),
        },
    )
    access_log.handle(record)
    return response


def _outcome_of(response: Response) -> str:
    """``ok`` for success; for errors, the JSON error code (``vendor_timeout``...)."""
    if response.status_code < 400:
        return "ok"
    if response.is_json and not response.is_streamed:
        body = response.get_json(silent=True)
        if isinstance(body, dict) and isinstance(body.get("error"), str):
            return str(body["error"])
    return "error"
