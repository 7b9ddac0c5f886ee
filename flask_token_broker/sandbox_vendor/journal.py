"""What the stand-in received: a bounded, thread-safe log of requests plus cheap counters.

Tests assert on it ("the broker sent the key, once"); the benchmark polls the counters, so
recording keeps a tuple per request and builds dicts only when someone reads them.
"""

from __future__ import annotations

import copy
import threading
import time
from collections import deque
from typing import Any

from .messages import StandinRequest

RECORD_LIMIT = 10_000
AUTH_PREFIXES = ("/api/v1/appuid/", "/api-authenticate-embedded-user")

# (time received, request, parsed JSON body, status answered or None, fault applied or None)
Record = tuple[float, StandinRequest, Any, int | None, str | None]


class Journal:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: deque[Record] = deque(maxlen=RECORD_LIMIT)
        self._statuses: dict[int | None, int] = {}
        self._auth_calls = 0
        self._faulted = 0
        self._minted = 0

    def record(
        self, req: StandinRequest, body: Any, status: int | None, fault: str | None, minted: bool
    ) -> None:
        entry = (time.time(), req, body, status, fault)
        auth = req.path.startswith(AUTH_PREFIXES)
        with self._lock:
            self._records.append(entry)
            self._auth_calls += auth
            self._faulted += fault is not None
            self._minted += minted
            self._statuses[status] = self._statuses.get(status, 0) + 1

    def requests(self) -> list[dict[str, Any]]:
        """Recorded requests, oldest first (at most the last ``RECORD_LIMIT``)."""
        with self._lock:
            records = list(self._records)
        return [
            {
                "time": when,
                "method": req.method,
                "path": req.path,
                "headers": dict(req.headers),
                # A copy: parsed bodies may be shared with a cache and must not change.
                "json": copy.deepcopy(body),
                "status": status,
                "fault": fault,
            }
            for when, req, body, status, fault in records
        ]

    def clear(self) -> None:
        """Forget recorded requests and reset the counters, so each test starts from zero."""
        with self._lock:
            self._records.clear()
            self._statuses.clear()
            self._auth_calls = self._faulted = self._minted = 0

    def stats(self) -> dict[str, Any]:
        """Counters only, no copying of records, so a benchmark can poll it cheaply."""
        with self._lock:
            return {
                "auth_calls": self._auth_calls,
                "tokens_minted": self._minted,
                "faulted_calls": self._faulted,
                # Key "none": requests a fault left unanswered (hang, reset).
                "by_status": {str(k).lower(): v for k, v in self._statuses.items()},
                "recorded": len(self._records),
            }
