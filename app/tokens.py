"""Minting Mindset tokens for signed-in users, and what each failure means to the caller.

This is the seam between the vendor client (which raises ``MindsetError``) and the HTTP views
(which answer ``BrokerError``): the translation happens here, once, with ``raise ... from``.
"""

from __future__ import annotations

from config import MindsetSettings

from . import telemetry
from .errors import (
    BrokerError,
    VendorBadResponse,
    VendorRejected,
    VendorTimeout,
    VendorUnavailable,
)
from .mindset.client import AuthRequest, MindsetClient
from .mindset.errors import (
    MindsetBadResponse,
    MindsetError,
    MindsetRejected,
    MindsetTimeout,
    MindsetUnavailable,
)
from .mindset.identity import auth_request_for
from .users import CurrentUser


class MindsetTokens:
    """Turns a signed-in user into a fresh Mindset ``authToken``."""

    def __init__(self, client: MindsetClient, settings: MindsetSettings) -> None:
        self.client = client
        self.settings = settings

    def request_for(self, user: CurrentUser) -> AuthRequest:
        return auth_request_for(user, self.settings)

    def mint(self, user: CurrentUser) -> str:
        return self.mint_request(self.request_for(user))

    def mint_request(self, request: AuthRequest) -> str:
        """A token for exactly this request: the one place that decides how it is obtained."""
        token = self.call_vendor(request)
        telemetry.token_outcome("mindset", "minted")
        return token

    def call_vendor(self, request: AuthRequest) -> str:
        """One vendor call for ``request``, its failure translated for the caller."""
        try:
            return self.client.authenticate(request)
        except MindsetError as error:
            raise broker_error_for(error) from error


def broker_error_for(error: MindsetError) -> BrokerError:
    """The caller-facing answer for a vendor failure; the operator's hint stays in the log."""
    hint = str(error)
    if isinstance(error, MindsetTimeout):
        return VendorTimeout(log_hint=hint)
    if isinstance(error, MindsetUnavailable):
        return VendorUnavailable(log_hint=hint, retry_after=error.retry_after)
    if isinstance(error, MindsetRejected):
        return VendorRejected(log_hint=hint)
    if isinstance(error, MindsetBadResponse):
        return VendorBadResponse(log_hint=hint)
    return VendorUnavailable(log_hint=hint)
