"""The default resolver: the signed Flask session cookie the broker shares with the host app.

A Flask host app that uses the same ``SECRET_KEY`` and cookie domain writes the user into the
session at sign-in; the broker reads it back. The cookie is signed, so a caller cannot forge
or edit it, and nothing else in the request is consulted.

Flask-Login, the usual way a Flask app signs users in, keeps the user's id under ``_user_id``.
While ``BROKER_SESSION_USER_ID_KEY`` keeps its default, that key is read too, so a
Flask-Login host works with no session setting at all.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable

from flask import session

from ..settings import SessionSettings
from . import CurrentUser, UserResolver, user_from_mapping

log = logging.getLogger("broker.users")

DEFAULT_USER_ID_KEY = SessionSettings().user_id_key
FLASK_LOGIN_USER_ID_KEY = "_user_id"

# Keys a signed-out session commonly keeps: Flask-Login's freshness, session-protection and
# remember-me bookkeeping, Flask's flashed messages and permanence, Flask-WTF's CSRF token.
# A session holding only these is someone signed out, not a misconfigured key.
BOOKKEEPING_KEYS = frozenset(
    {"_fresh", "_id", "_remember", "_remember_seconds", "_flashes", "_permanent", "csrf_token"}
)

# The warning names the keys, so it stays one short line however the host fills its session.
_SHOWN_KEYS = 10
_SHOWN_KEY_LENGTH = 40


def session_resolver(keys: SessionSettings) -> UserResolver:
    id_keys = [keys.user_id_key]
    if keys.user_id_key == DEFAULT_USER_ID_KEY:
        id_keys.append(FLASK_LOGIN_USER_ID_KEY)
    known_keys = frozenset({*id_keys, keys.user_email_key, keys.user_name_key, *BOOKKEEPING_KEYS})
    warned = threading.Event()

    def resolve() -> CurrentUser | None:
        for id_key in id_keys:
            if id_key in session:
                return user_from_mapping(session, id_key, keys.user_email_key, keys.user_name_key)
        if not warned.is_set() and not known_keys.issuperset(session.keys()):
            warned.set()
            log.warning(
                "a verified session cookie holds none of the user id keys %s; its keys are "
                "%s. Set BROKER_SESSION_USER_ID_KEY to the key the host app writes the "
                "signed-in user's id under",
                ", ".join(id_keys),
                _key_list(session.keys()),
            )
        return None

    return resolve


def _key_list(keys: Iterable[object]) -> str:
    """The session's key names, clipped and sorted; never a value."""
    names = sorted(str(key)[:_SHOWN_KEY_LENGTH] for key in keys)
    shown = ", ".join(repr(name) for name in names[:_SHOWN_KEYS])
    hidden = len(names) - _SHOWN_KEYS
    return f"{shown} and {hidden} more" if hidden > 0 else shown
