"""Transport-neutral HTTP messages, and the one JSON error shape every stand-in answer uses.

The server builds a :class:`StandinRequest` from the wire; the broker's in-process sandbox
builds one from a ``requests.PreparedRequest``. Both get a :class:`StandinResponse` back.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

JSON_HEADERS: list[tuple[str, str]] = [("Content-Type", "application/json")]
_DECODER = json.JSONDecoder()


@dataclass(slots=True)
class StandinRequest:
    """One HTTP request; header names are lower-cased here so every lookup ignores case."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes = b""

    def __post_init__(self) -> None:
        self.headers = {k.lower(): v for k, v in self.headers.items()}

    @classmethod
    def lowered(
        cls, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> StandinRequest:
        """For callers whose header names are already lower-case: skips the copy."""
        req = object.__new__(cls)
        req.method, req.path, req.headers, req.body = method, path, headers, body
        return req

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass(slots=True)
class StandinResponse:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""


def json_response(
    status: int, payload: Any, extra: list[tuple[str, str]] | None = None
) -> StandinResponse:
    headers = JSON_HEADERS + extra if extra else JSON_HEADERS
    return StandinResponse(status, headers, json.dumps(payload).encode())


def error(status: int, message: str) -> StandinResponse:
    """The one error shape; the vendor's own is undocumented, so keep it plain and plausible."""
    return json_response(status, {"message": message, "statusCode": status})


def parse_json(body: bytes) -> Any:
    """The body as JSON, or None when it is empty or not JSON (recorded as such, never raised)."""
    if not body:
        return None
    try:
        # Decoding first skips json.loads' encoding sniffing; the vendor speaks UTF-8 only.
        return _DECODER.decode(body.decode())
    except ValueError:  # UnicodeDecodeError and JSONDecodeError both are ValueErrors
        return None
