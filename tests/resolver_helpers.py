"""Seeing who the broker believes is signed in, through the TypingMind code it signs."""

from __future__ import annotations

from typing import Any

import jwt
from flask.testing import FlaskClient

from . import fake_secrets


def typingmind_settings(**extra: Any) -> dict[str, Any]:
    return {
        "TYPINGMIND_JWT_SECRET": fake_secrets.TYPINGMIND_SECRET,
        "TYPINGMIND_URL": "https://chat.example.com",
        "SECRET_KEY": fake_secrets.SECRET_KEY,
        **extra,
    }


def signed_in_as(client: FlaskClient, **request: Any) -> dict[str, Any] | None:
    """The user the broker resolves for this request, or None when it answers 401."""
    response = client.get("/api/typingmind/authcode", **request)
    if response.status_code == 401:
        assert response.get_json()["error"] == "not_signed_in"
        return None
    assert response.status_code == 200, response.get_json()
    claims = jwt.decode(
        response.get_json()["externalAuthCode"],
        fake_secrets.TYPINGMIND_SECRET,
        algorithms=["HS256"],
    )
    user: dict[str, Any] = claims["user"]
    return user
