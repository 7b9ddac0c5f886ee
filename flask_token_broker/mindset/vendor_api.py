"""Mindset's documented token API, as data: who to ask for, each flavor's endpoint and body.

What identifies a user (:class:`AuthRequest`), and for each ``MINDSET_API_FLAVOR`` where its
token endpoint is, the JSON body it documents and whether it knows users by email only: the
one place the vendor's field names are spelled. No HTTP here: the identity mapping and the
reuse key read it without entering the client, and the client (:mod:`.client`) sends what it
describes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from ..settings import FLAVOR_LEGACY, FLAVOR_SDK3


@dataclass(frozen=True)
class AuthRequest:
    """What identifies a user to Mindset. Exactly one of the two identifiers is set."""

    external_id: str | None = None
    user_email: str | None = None
    name: str | None = None
    account_uids: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if (self.external_id is None) == (self.user_email is None):
            raise ValueError("exactly one of external_id and user_email must be set")

    @property
    def identifier(self) -> tuple[str, str]:
        """The identifying body field, as the vendor spells it, and its value: the one place
        those names are written (the reuse key is derived from it too)."""
        if self.external_id is not None:
            return "externalId", self.external_id
        # __post_init__ guarantees the email is set when the external id is not.
        return "userEmail", cast(str, self.user_email)


def _sdk3_body(request: AuthRequest) -> dict[str, Any]:
    body: dict[str, Any] = dict([request.identifier])
    if request.name:
        body["name"] = request.name
    if request.account_uids:
        body["accountUids"] = list(request.account_uids)
    return body


def _legacy_body(request: AuthRequest) -> dict[str, Any]:
    if request.user_email is None:
        raise ValueError("the legacy endpoint identifies users by email only")
    legacy: dict[str, Any] = dict([request.identifier])
    if request.account_uids:
        legacy["addToAccounts"] = [{"accountUid": uid} for uid in request.account_uids]
    return legacy


@dataclass(frozen=True)
class Endpoint:
    """What a flavor (``MINDSET_API_FLAVOR``) means: the one place each flavor is decided.

    Where its token endpoint is, the body it documents, and whether it knows users by email
    only (then the identity mapping sends neither an ``externalId`` nor a name).
    """

    path: str
    body: Callable[[AuthRequest], dict[str, Any]]
    email_only: bool

    def url(self, base_url: str, app_uid: str) -> str:
        return base_url + self.path.format(app_uid=app_uid)


ENDPOINTS = {
    FLAVOR_SDK3: Endpoint("/api/v1/appuid/{app_uid}/sdkusers/auth", _sdk3_body, email_only=False),
    FLAVOR_LEGACY: Endpoint("/api-authenticate-embedded-user", _legacy_body, email_only=True),
}


def endpoint_for(flavor: str) -> Endpoint:
    try:
        return ENDPOINTS[flavor]
    except KeyError:
        raise ValueError(f"unknown Mindset API flavor {flavor!r}") from None
