"""Failure modes the server plays instead of (or before) the normal answer.

A broker must survive an upstream that errors, stalls, drops the connection or answers
nonsense; each mode here reproduces one of those on demand:

- ``status``: answer ``status`` (default 503), optional ``Retry-After``, JSON or given body;
- ``slow``: wait ``delay_ms`` then answer normally;
- ``hang``: read the request and never answer;
- ``reset``: drop the connection with a TCP RST;
- ``garbage``: 200 with an HTML body;
- ``wrong_shape``: 200 JSON without ``authToken``.

A fault applies to the next ``times`` vendor requests and then clears itself, or stays until
cleared when ``times`` is None. ``latency_ms`` is not a fault but lives here because, like one,
it is applied by the server around the handler (the benchmark sets 100 ms).
"""

from __future__ import annotations

import json
import threading
from dataclasses import asdict, dataclass
from typing import Any

from flask_token_broker.sandbox_vendor.messages import JSON_HEADERS, StandinResponse, json_response

MODES = ("status", "slow", "hang", "reset", "garbage", "wrong_shape")
GARBAGE = b"<!DOCTYPE html><html><body><h1>502 Bad Gateway</h1></body></html>"


@dataclass(frozen=True, slots=True)
class Fault:
    mode: str
    status: int = 503
    retry_after: str | None = None
    delay_ms: int = 0
    times: int | None = None
    # Absent: a plausible JSON error; "" gives an empty body; other str raw; else JSON.
    body: Any = None

    def response(self) -> StandinResponse:
        """The canned answer of the modes that answer without the handler."""
        if self.mode == "garbage":
            return StandinResponse(200, [("Content-Type", "text/html")], GARBAGE)
        if self.mode == "wrong_shape":
            return json_response(200, {"status": "ok", "data": {}})
        extra = [("Retry-After", self.retry_after)] if self.retry_after is not None else []
        if self.body is None:
            return json_response(self.status, {"message": "Injected fault"}, extra)
        if isinstance(self.body, str):
            headers = [("Content-Type", "text/plain")] if self.body else []
            return StandinResponse(self.status, headers + extra, self.body.encode())
        return StandinResponse(self.status, JSON_HEADERS + extra, json.dumps(self.body).encode())


def parse_fault(spec: Any) -> Fault:
    """A :class:`Fault` from the control API's JSON, or ValueError saying what is wrong."""
    if not isinstance(spec, dict) or spec.get("mode") not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}")
    status = spec.get("status", 503)
    if not isinstance(status, int) or not 100 <= status <= 599:
        raise ValueError("status must be an HTTP status code")
    retry_after = spec.get("retry_after")
    if retry_after is not None and not isinstance(retry_after, str | int):
        raise ValueError("retry_after must be a string or an integer")
    delay_ms = spec.get("delay_ms", 0)
    if not isinstance(delay_ms, int | float) or delay_ms < 0:
        raise ValueError("delay_ms must be a non-negative number")
    times = spec.get("times")
    if times is not None and (not isinstance(times, int) or times < 1):
        raise ValueError("times must be a positive integer, or omitted for until cleared")
    return Fault(
        mode=spec["mode"],
        status=status,
        retry_after=None if retry_after is None else str(retry_after),
        delay_ms=int(delay_ms),
        times=times,
        body=spec.get("body"),
    )


class FaultSwitch:
    """The active fault and the global latency; safe to share between threads."""

    def __init__(self, latency_ms: float = 0) -> None:
        self.latency_ms = latency_ms
        self._lock = threading.Lock()
        self._fault: Fault | None = None
        self._left: int | None = None

    def set(self, fault: Fault) -> None:
        with self._lock:
            self._fault, self._left = fault, fault.times

    def clear(self) -> None:
        with self._lock:
            self._fault = self._left = None

    def take(self) -> Fault | None:
        """The fault for the request at hand, counting it against ``times``."""
        if self._fault is None:  # The healthy path skips the lock: a benchmark runs here.
            return None
        with self._lock:
            fault = self._fault
            if fault is not None and self._left is not None:
                self._left -= 1
                if self._left <= 0:
                    self._fault = self._left = None
            return fault

    def describe(self) -> dict[str, Any] | None:
        with self._lock:
            if self._fault is None:
                return None
            return {**asdict(self._fault), "remaining": self._left}
