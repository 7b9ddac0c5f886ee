"""Body rules of the two auth endpoints, as the vendor documents them.

Each check returns ``(problem, subject)``: a message for a 400 answer, or ``None`` and the
identifier the token is minted for. Messages name the field but never echo its value, like a
careful real API would.
"""

from __future__ import annotations

import re
from typing import Any

IDENT = re.compile(r"[A-Za-z0-9_-]{1,100}")
# "Email-shaped": something, an @, and a dotted domain; the vendor never mails it.
EMAIL = re.compile(r"[^@\s]+@[^@\s.]+(\.[^@\s.]+)+")
MAX_TEXT = 100
MAX_ACCOUNTS = 10
ACCOUNT_UID_LEN = range(20, 129)

Verdict = tuple[str | None, str]


EMAIL_PROBLEM = "userEmail must be an email address of at most 100 characters"


def _email(value: Any) -> str | None:
    """``value`` if it is an acceptable email, else None."""
    if isinstance(value, str) and len(value) <= MAX_TEXT and EMAIL.fullmatch(value):
        return value
    return None


def sdk3_body(body: Any) -> Verdict:
    """Rules of ``POST /api/v1/appuid/{uid}/sdkusers/auth``."""
    if not isinstance(body, dict):
        return "Body must be a JSON object", ""
    external_id = body.get("externalId")
    email = body.get("userEmail")
    if (external_id is None) == (email is None):
        return "Send exactly one of externalId or userEmail", ""
    if external_id is not None:
        if not isinstance(external_id, str) or not IDENT.fullmatch(external_id):
            return "externalId must be 1-100 characters of A-Z a-z 0-9 _ -", ""
        subject = external_id
    else:
        valid = _email(email)
        if valid is None:
            return EMAIL_PROBLEM, ""
        subject = valid
    name = body.get("name")
    if name is not None and (not isinstance(name, str) or len(name) > MAX_TEXT):
        return "name must be a string of at most 100 characters", ""
    tenant = body.get("externalTenantId")
    if tenant is not None and (not isinstance(tenant, str) or not IDENT.fullmatch(tenant)):
        return "externalTenantId must be 1-100 characters of A-Z a-z 0-9 _ -", ""
    accounts = body.get("accountUids")
    if accounts is not None and (
        not isinstance(accounts, list)
        or len(accounts) > MAX_ACCOUNTS
        or not all(isinstance(a, str) and len(a) in ACCOUNT_UID_LEN for a in accounts)
    ):
        return "accountUids must be a list of at most 10 uids of 20-128 characters", ""
    return None, subject


def legacy_body(body: Any) -> Verdict:
    """Rules of ``POST /api-authenticate-embedded-user``: email only, optional accounts."""
    if not isinstance(body, dict):
        return "Body must be a JSON object", ""
    email = _email(body.get("userEmail"))
    if email is None:
        return EMAIL_PROBLEM, ""
    accounts = body.get("addToAccounts")
    if accounts is not None and (
        not isinstance(accounts, list)
        or not all(
            isinstance(a, dict) and isinstance(a.get("accountUid"), str) and a["accountUid"]
            for a in accounts
        )
    ):
        return 'addToAccounts must be a list of {"accountUid": "..."} objects', ""
    return None, email
