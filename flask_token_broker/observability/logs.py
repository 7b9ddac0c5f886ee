"""Structured logs: one JSON object per line, on stderr, so stdout stays machine-readable.

Each line carries the current request's id, so an error body's ``request_id`` finds the
operator's log line that says what to fix. An incoming ``X-Request-ID`` from a load balancer
is kept when it is a plausible id, so one id follows a request across tiers; anything else is
replaced, never echoed. Every request gets one access line
(:func:`..telemetry.finish_request`); every record passes the secret redaction of
:mod:`flask_token_broker.observability.redaction` before it is written.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from typing import Any

from flask import g, has_request_context, request

from .redaction import _STANDARD_ATTRS, redact_record

REQUEST_ID_HEADER = "X-Request-ID"
VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


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
        # The formatter masks secrets itself (redact_record), as every record is formatted.
        handler.setFormatter(JsonFormatter())
        handler._broker_handler = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    logger.propagate = False


def assign_request_id() -> None:
    """The request's id, for its answer and its log lines: kept from the caller if plausible."""
    if "request_id" in g:
        return
    incoming = request.headers.get(REQUEST_ID_HEADER, "")
    g.request_id = incoming if VALID_REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
