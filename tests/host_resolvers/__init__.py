"""Resolvers a host might name in BROKER_USER_RESOLVER, for the custom-resolver tests."""

from __future__ import annotations

import json
import logging
from typing import Any

from flask import current_app, request

from flask_token_broker.users import CurrentUser

NOT_CALLABLE = "just a string"


def from_cookie() -> dict[str, Any] | None:
    """A host that keeps its user in its own (here: trusted, for the test) cookie."""
    user_id = request.cookies.get("host_user")
    if user_id is None:
        return None
    return {"id": user_id, "email": request.cookies.get("host_email"), "name": "Host User"}


def as_current_user() -> CurrentUser:
    return CurrentUser(id="typed", email="t@example.com")


def broken() -> None:
    raise RuntimeError("the host user store is down")


def wrong_type() -> list[str]:
    return ["ada"]


class Resolvers:
    @staticmethod
    def nested() -> dict[str, str]:
        return {"id": "nested"}


def id_not_text() -> CurrentUser:
    """A host bug the type checker would catch but a plain-Python host may ship: the id is
    whatever ``request.args['id']`` names (an int, None or bytes here)."""
    kind = request.args.get("id", "int")
    value: Any = {"int": 42, "none": None, "bytes": b"ada"}[kind]
    return CurrentUser(id=value)


def careless() -> dict[str, str]:
    """A resolver with a debug line left in, quoting a configured secret inside a request."""
    logging.getLogger("broker.host").warning(
        "resolving with SECRET_KEY=%s", current_app.config["SECRET_KEY"]
    )
    return {"id": "ada"}


def from_json_header() -> Any:
    """A host whose user store answers JSON (here: a header, trusted for the test), so ids may
    hold any Unicode character, lone surrogates included."""
    raw = request.headers.get("X-Host-User")
    return None if raw is None else json.loads(raw)


def typed_fields() -> CurrentUser:
    """A host's own CurrentUser with fields of the types ``request.args`` names (``str``,
    ``none``, ``int``, ``bytes``, and the strings ``empty``, ``spaces``, ``max`` of 1024
    characters and ``long`` of 1025) for ``id``, ``email`` and ``name``."""
    values: dict[str, Any] = {
        "str": "text",
        "none": None,
        "int": 42,
        "bytes": b"x",
        "empty": "",
        "spaces": " \t",
        "max": "x" * 1024,
        "long": "x" * 1025,
    }
    fields = {name: values[request.args.get(name, "str")] for name in ("id", "email", "name")}
    return CurrentUser(**fields)
