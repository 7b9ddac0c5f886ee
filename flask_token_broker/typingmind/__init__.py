"""TypingMind ``externalAuthCode``: HS256 JWTs that sign a host user into a TypingMind instance.

Pure functions and one small class, no Flask: the routes and the CLI both use
:class:`TypingMindCodes`. TypingMind verifies the code on every page load with the shared
secret; the payload says which user it is (created on first use, or one that exists already).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import jwt

from ..settings import TYPINGMIND_PAYLOAD_EMAIL, TYPINGMIND_PAYLOAD_ID, TypingMindSettings
from ..users import CurrentUser

ALGORITHM = "HS256"


class TypingMindIdentityError(ValueError):
    """The user cannot be described in the configured payload form (no email for ``email``)."""


@dataclass(frozen=True)
class AuthCode:
    """A signed ``externalAuthCode`` and when it stops working."""

    token: str
    expires_at: datetime
    jti: str

    @property
    def expires_at_iso(self) -> str:
        return self.expires_at.isoformat().replace("+00:00", "Z")


def payload_for(user: CurrentUser, form: str) -> dict[str, Any]:
    """The identity part of the claims, in the form TypingMind documents.

    ``user`` creates the user on first use (``id`` is the host's id); ``id`` and ``email``
    name a user that already exists in TypingMind.
    """
    if form == TYPINGMIND_PAYLOAD_ID:
        return {"id": user.id}
    if form == TYPINGMIND_PAYLOAD_EMAIL:
        if user.email is None:
            raise TypingMindIdentityError(
                "The signed-in user has no email address, which TYPINGMIND_PAYLOAD=email needs."
            )
        return {"email": user.email}
    described = {"id": user.id, "email": user.email, "name": user.name}
    return {"user": {key: value for key, value in described.items() if value is not None}}


def sign(
    claims: dict[str, Any], secret: str, ttl_seconds: int, *, now: datetime | None = None
) -> AuthCode:
    """Sign ``claims`` with ``iat``, ``exp`` and a unique ``jti``.

    No ``nbf``: TypingMind's verifier has no documented clock-skew tolerance, and a code that
    is "not yet valid" on a server whose clock lags by a second would fail the user's sign-in.
    """
    issued = (now or datetime.now(UTC)).replace(microsecond=0)
    expires = issued + timedelta(seconds=ttl_seconds)
    jti = secrets.token_urlsafe(16)
    token = jwt.encode(
        {**claims, "iat": issued, "exp": expires, "jti": jti}, secret, algorithm=ALGORITHM
    )
    return AuthCode(token=token, expires_at=expires, jti=jti)


def login_url(base_url: str, code: str) -> str:
    """``base_url`` with ``externalAuthCode`` appended, its own query and fragment kept as is."""
    parts = urlsplit(base_url)
    added = f"externalAuthCode={quote(code, safe='')}"
    query = f"{parts.query}&{added}" if parts.query else added
    return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", query, parts.fragment))


class TypingMindCodes:
    """Issues codes and login links for one TypingMind instance."""

    def __init__(self, settings: TypingMindSettings) -> None:
        self.settings = settings

    def issue(self, user: CurrentUser, *, now: datetime | None = None) -> AuthCode:
        claims = payload_for(user, self.settings.payload)
        return sign(claims, self.settings.jwt_secret, self.settings.token_ttl, now=now)

    def login_url(self, code: AuthCode) -> str:
        return login_url(self.settings.url, code.token)
