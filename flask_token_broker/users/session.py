"""The default resolver: the signed Flask session cookie the broker shares with the host app.

A Flask host app that uses the same ``SECRET_KEY`` and cookie domain writes the user into the
session at sign-in; the broker reads it back. The cookie is signed, so a caller cannot forge
or edit it, and nothing else in the request is consulted.
"""

from __future__ import annotations

from flask import session

from ..settings import SessionSettings
from . import CurrentUser, UserResolver, user_from_mapping


def session_resolver(keys: SessionSettings) -> UserResolver:
    def resolve() -> CurrentUser | None:
        return user_from_mapping(session, keys.user_id_key, keys.user_email_key, keys.user_name_key)

    return resolve
