"""What happened during a request, for the access log line and the metrics.

The token path reports facts here (a vendor attempt, how a token was obtained, a rate limit,
a circuit change) without knowing who listens. Per-request facts are kept on ``flask.g`` for
the request's log line; process-wide listeners (metrics) subscribe with :func:`subscribe`.
Nothing here may raise into the token path.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask import g, has_request_context

log = logging.getLogger("broker.telemetry")

# Events: "vendor_attempt" (vendor, outcome, status, seconds), "token" (vendor, outcome:
# minted | coalesced | reused), "rate_limited" (scope), "circuit" (vendor, state).
Listener = Callable[[str, dict[str, Any]], None]
# Process-wide on purpose, not on the app: the one listener is the process's metrics (see
# observability.metrics), and events come from places that hold no app (a vendor attempt
# observed by the client, a circuit change seen by whichever request tripped it).
_listeners: list[Listener] = []


def subscribe(listener: Listener) -> None:
    """Receive every event from now on (idempotent for the same listener)."""
    if listener not in _listeners:
        _listeners.append(listener)


def note(**fields: Any) -> None:
    """Attach fields to the current request's log line (no-op outside a request)."""
    if has_request_context():
        notes: dict[str, Any] = g.setdefault("telemetry", {})
        notes.update(fields)


def request_notes() -> dict[str, Any]:
    if not has_request_context():
        return {}
    notes: dict[str, Any] = g.get("telemetry", {})
    return notes


def emit(event: str, **fields: Any) -> None:
    for listener in _listeners:
        try:
            listener(event, fields)
        except Exception:
            # Observability must never break a token request.
            log.exception("telemetry listener failed on %s", event)


def vendor_attempt(vendor: str, outcome: str, status: int | None, seconds: float) -> None:
    """One HTTP attempt to a vendor; ``vendor_ms`` on the log line adds up all attempts."""
    if has_request_context():
        notes: dict[str, Any] = g.setdefault("telemetry", {})
        notes["vendor_ms"] = round(notes.get("vendor_ms", 0.0) + seconds * 1000, 1)
        notes["vendor_attempts"] = notes.get("vendor_attempts", 0) + 1
    emit("vendor_attempt", vendor=vendor, outcome=outcome, status=status, seconds=seconds)


def token_outcome(vendor: str, outcome: str) -> None:
    """How this request got its token: ``minted``, ``coalesced`` or ``reused``."""
    note(outcome=outcome)
    emit("token", vendor=vendor, outcome=outcome)
