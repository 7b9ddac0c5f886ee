"""How long a connection may take to send a request's line and headers: BROKER_HEADER_TIMEOUT."""

from __future__ import annotations

import os

DEFAULT_HEADER_TIMEOUT = 10.0
# A refusal's answer gets this long to leave before the connection is closed for good.
REFUSAL_LINGER = 1.0


def header_timeout() -> float:
    """Seconds; ``gunicorn.conf.py`` checks the setting and passes it on to the workers."""
    return float(os.environ.get("BROKER_HEADER_TIMEOUT") or DEFAULT_HEADER_TIMEOUT)


def parse_header_timeout(raw: str) -> float:
    """The setting's value, or ValueError saying what is wrong with it."""
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(
            f"BROKER_HEADER_TIMEOUT must be a number of seconds, not {raw!r}"
        ) from None
    if not 0 < value <= 300:
        raise ValueError("BROKER_HEADER_TIMEOUT must be more than 0 and at most 300 seconds")
    return value
