"""Who is signed in: the host app's user, as the broker understands it.

A *resolver* is a callable run inside a Flask request that returns the signed-in
:class:`CurrentUser`, or ``None`` when nobody is. Resolvers read only what the host app
controls (its signed session, a trusted proxy's headers, a verified token), never a value
the caller may choose. Nothing here knows of vendors.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

# Longer values are not identifiers but abuse; they are refused rather than forwarded.
MAX_FIELD_LENGTH = 1024


@dataclass(frozen=True)
class CurrentUser:
    """The signed-in user of the host app."""

    id: str
    email: str | None = None
    name: str | None = None


UserResolver = Callable[[], "CurrentUser | None"]


def user_from_mapping(
    values: Mapping[str, Any], id_key: str, email_key: str, name_key: str
) -> CurrentUser | None:
    """Build a user from loosely typed values (a session, claims, a host callable's result).

    The id and the email identify the user, so they are used exactly as given: never trimmed
    or case-folded, since ``"ada\u00a0"`` and ``"ada"`` are two users to the host. An id must
    be a string or an integer (its decimal string); a missing, blank or over-long one means
    nobody is signed in. A blank email means none; an over-long one is abuse, refused like an
    over-long id rather than silently dropped (the user would then be identified otherwise).
    The name is for display only: trimmed, and dropped when blank or over-long.
    """
    raw_id = values.get(id_key)
    if isinstance(raw_id, bool) or not isinstance(raw_id, str | int):
        return None
    user_id = str(raw_id)
    if _blank(user_id) or len(user_id) > MAX_FIELD_LENGTH:
        return None
    email = values.get(email_key)
    if not isinstance(email, str) or _blank(email):
        email = None
    elif len(email) > MAX_FIELD_LENGTH:
        return None
    return CurrentUser(id=user_id, email=email, name=_display_text(values.get(name_key)))


def _blank(value: str) -> bool:
    """Empty or only whitespace: no identifier at all, whatever the source's padding habits."""
    return not value or value.isspace()


def _display_text(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value if value and len(value) <= MAX_FIELD_LENGTH else None
