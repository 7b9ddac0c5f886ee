"""The Mindset AI auth API as a pure function: request in, response out.

Transport-free on purpose: the network server in ``server.py`` and the broker's in-process
sandbox (a ``requests`` transport adapter) both call :meth:`MindsetStandin.handle`, so the two
cannot disagree about the contract. Only the standard library is used. A benchmark drives
thousands of calls a second through :meth:`MindsetStandin.handle`, hence the per-body cache
and the hand-built success body.

Tokens are obviously fake (prefix ``standin-tok.``) but carry a readable payload so a test can
tell which user a token was minted for; see :mod:`flask_token_broker.sandbox_vendor.tokens`.
"""

from __future__ import annotations

import itertools
from typing import Any

from . import tokens, validate
from .journal import Journal
from .messages import (
    JSON_HEADERS,
    StandinRequest,
    StandinResponse,
    error,
    json_response,
    parse_json,
)

__all__ = ["MindsetStandin", "StandinRequest", "StandinResponse"]

SDK3_PREFIX = "/api/v1/appuid/"
SDK3_SUFFIX = "/sdkusers/auth"
LEGACY_PATH = "/api-authenticate-embedded-user"
CHECK_CACHE_LIMIT = 8192

# (parsed body, 400 message or None, subject, start of the opaque answer up to the nonce)
Checked = tuple[Any, str | None, str, bytes]


class MindsetStandin:
    """Answers the two auth endpoints like the vendor and records what it received."""

    def __init__(
        self, api_key: str, app_uid: str, token_format: str = tokens.OPAQUE, jwt_ttl: int = 3600
    ) -> None:
        # More than one while a key is being rotated: the vendor accepts old and new for a while.
        self._api_keys = frozenset((api_key,))
        self._app_uid = app_uid
        self.token_format = tokens.check_format(token_format)
        self.jwt_ttl = jwt_ttl
        self.journal = Journal()
        self._serial = itertools.count(1)
        self._checked: dict[tuple[str, bytes], Checked] = {}

    def configure(
        self,
        token_format: str | None = None,
        jwt_ttl: int | None = None,
        api_keys: list[str] | None = None,
    ) -> None:
        if api_keys is not None:
            if not api_keys or not all(isinstance(key, str) and key for key in api_keys):
                raise ValueError("api_keys must be a non-empty list of non-empty strings")
            self._api_keys = frozenset(api_keys)
        if token_format is not None:
            self.token_format = tokens.check_format(token_format)
        if jwt_ttl is not None:
            if jwt_ttl <= 0:
                raise ValueError("jwt_ttl must be a positive number of seconds")
            self.jwt_ttl = jwt_ttl

    def handle(self, req: StandinRequest, fault: str | None = None) -> StandinResponse:
        """Answer ``req`` as the vendor would, and record it."""
        resp, body = self._answer(req)
        self.journal.record(req, body, resp.status, fault, minted=resp.status < 300)
        return resp

    def record(self, req: StandinRequest, status: int | None, fault: str) -> None:
        """Record a request that a fault answered (or never answered: ``status`` None)."""
        self.journal.record(req, parse_json(req.body), status, fault, minted=False)

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
        elif key not in self._api_keys:
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
        if self.token_format == tokens.JWT:
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

    def requests(self) -> list[dict[str, Any]]:
        """Recorded requests, oldest first; see :class:`.journal.Journal`."""
        return self.journal.requests()

    def clear(self) -> None:
        self.journal.clear()
        self._serial = itertools.count(1)

    def stats(self) -> dict[str, Any]:
        return {
            **self.journal.stats(),
            "token_format": self.token_format,
            "jwt_ttl": self.jwt_ttl,
        }
