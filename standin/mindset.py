"""The Mindset AI auth API as a pure function: request in, response out.

Transport-free on purpose: the network server in ``server.py`` and the broker's in-process
sandbox (a ``requests`` transport adapter) both call :meth:`MindsetStandin.handle`, so the two
cannot disagree about the contract. Only the standard library is used, and the hot path (one
auth call) does one JSON parse, a few regex checks and one JSON dump, because a benchmark
drives thousands of calls a second through it.

Tokens are obviously fake (prefix ``standin-tok.``) but carry a readable payload so a test can
tell which user a token was minted for; see :mod:`standin.tokens`.
"""

from __future__ import annotations

import copy
import itertools
import json
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from standin import tokens, validate

SDK3_PREFIX = "/api/v1/appuid/"
SDK3_SUFFIX = "/sdkusers/auth"
LEGACY_PATH = "/api-authenticate-embedded-user"
AUTH_PREFIXES = (SDK3_PREFIX, LEGACY_PATH)
RECORD_LIMIT = 10_000
CHECK_CACHE_LIMIT = 8192
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


# (parsed body, 400 message or None, subject, start of the opaque answer up to the nonce)
Checked = tuple[Any, str | None, str, bytes]
# (time received, request, parsed JSON body, status answered or None, fault applied or None)
Record = tuple[float, StandinRequest, Any, int | None, str | None]


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


class MindsetStandin:
    """Answers the two auth endpoints like the vendor and records what it received."""

    def __init__(
        self, api_key: str, app_uid: str, token_format: str = "opaque", jwt_ttl: int = 3600
    ) -> None:
        self._api_key = api_key
        self._app_uid = app_uid
        self.token_format = tokens.check_format(token_format)
        self.jwt_ttl = jwt_ttl
        self._lock = threading.Lock()
        self._records: deque[Record] = deque(maxlen=RECORD_LIMIT)
        self._statuses: dict[int | None, int] = {}
        self._serial = itertools.count(1)
        self._checked: dict[tuple[str, bytes], Checked] = {}
        self._auth_calls = 0
        self._faulted = 0
        self._minted = 0

    def configure(self, token_format: str | None = None, jwt_ttl: int | None = None) -> None:
        if token_format is not None:
            self.token_format = tokens.check_format(token_format)
        if jwt_ttl is not None:
            if jwt_ttl <= 0:
                raise ValueError("jwt_ttl must be a positive number of seconds")
            self.jwt_ttl = jwt_ttl

    def handle(self, req: StandinRequest, fault: str | None = None) -> StandinResponse:
        """Answer ``req`` as the vendor would, and record it."""
        resp, body = self._answer(req)
        self._record(req, body, resp.status, fault, minted=resp.status < 300)
        return resp

    def record(self, req: StandinRequest, status: int | None, fault: str) -> None:
        """Record a request that a fault answered (or never answered: ``status`` None)."""
        self._record(req, parse_json(req.body), status, fault, minted=False)

    def _answer(self, req: StandinRequest) -> tuple[StandinResponse, Any]:
        """The answer, and the body as parsed JSON for the record."""
        path = req.path.split("?", 1)[0]
        if path == LEGACY_PATH:
            kind, app_uid = "legacy", None
        elif path.startswith(SDK3_PREFIX) and path.endswith(SDK3_SUFFIX):
            kind, app_uid = "sdk3", path[len(SDK3_PREFIX) : -len(SDK3_SUFFIX)]
        else:
            return error(404, "Not found"), parse_json(req.body)
        headers = req.headers  # lower-cased keys; direct gets keep the hot path short
        key = headers.get("x-api-key")
        content_type = headers.get("content-type") or ""
        if req.method != "POST":
            problem: StandinResponse | None = json_response(
                405, {"message": "Method not allowed"}, [("Allow", "POST")]
            )
        elif not key:
            problem = error(401, "Missing API key")
        elif key != self._api_key:
            problem = error(403, "Invalid API key")
        elif app_uid is not None and app_uid != self._app_uid:
            problem = error(404, "Unknown app")
        elif not content_type.lower().startswith("application/json"):
            problem = error(400, "Content-Type must be application/json")
        else:
            problem = None
        if problem is not None:
            return problem, parse_json(req.body)
        body, invalid, subject, prefix = self._check(kind, req.body)
        if invalid:
            return error(400, invalid), body
        status = 200 if kind == "sdk3" else 201
        if self.token_format == "jwt":
            # Tokens are URL-safe ASCII: no JSON escaping needed, so no json.dumps either.
            token = tokens.jwt_token(subject, next(self._serial), kind, self.jwt_ttl)
            return StandinResponse(
                status, JSON_HEADERS, b'{"authToken": "%s"}' % token.encode()
            ), body
        return StandinResponse(status, JSON_HEADERS, prefix + tokens.nonce() + b'"}'), body

    def _check(self, kind: str, raw: bytes) -> Checked:
        """Parse and validate ``raw``, remembering the result for the next identical body.

        A benchmark sends the same few bodies thousands of times a second; parsing, validating
        and encoding the token payload once per distinct body halves the cost of a call.
        """
        key = (kind, raw)
        checked = self._checked.get(key)
        if checked is None:
            body = parse_json(raw)
            invalid, subject = (
                validate.sdk3_body(body) if kind == "sdk3" else validate.legacy_body(body)
            )
            prefix = b'{"authToken": "%s' % tokens.opaque_prefix(subject, kind).encode()
            if len(self._checked) >= CHECK_CACHE_LIMIT:
                self._checked.clear()  # crude, but O(1) per call and bounded
            checked = self._checked[key] = (body, invalid, subject, prefix)
        return checked

    def _record(
        self, req: StandinRequest, body: Any, status: int | None, fault: str | None, minted: bool
    ) -> None:
        # A tuple now, a dict only when someone asks: most recorded requests are never read.
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
                # A copy: parsed bodies are shared with the check cache and must not change.
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
            self._serial = itertools.count(1)

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
                "token_format": self.token_format,
                "jwt_ttl": self.jwt_ttl,
            }
