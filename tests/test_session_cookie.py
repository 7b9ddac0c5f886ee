"""The standalone broker's session interface: Flask's cookies, its serializer built once."""

from __future__ import annotations

import responses

from app.users.session_cookie import CachedSerializerSessionInterface

from .conftest import AUTH_URL, build_app, mindset_settings, sign_in


def test_the_serializer_is_built_once_for_the_same_keys_and_again_when_they_change() -> None:
    app = build_app(mindset_settings())
    interface = app.session_interface
    assert isinstance(interface, CachedSerializerSessionInterface)
    first = interface.get_signing_serializer(app)
    assert first is not None
    assert interface.get_signing_serializer(app) is first
    app.config["SECRET_KEY_FALLBACKS"] = ["an-older-key-0123456789abcdef"]
    with_fallback = interface.get_signing_serializer(app)
    assert with_fallback is not first
    app.secret_key = "a-rotated-key-0123456789abcdef0123"
    assert interface.get_signing_serializer(app) not in (first, with_fallback)


def test_a_cookie_signed_with_another_key_signs_nobody_in() -> None:
    app = build_app(mindset_settings())
    client = app.test_client()
    sign_in(client, "ada")
    with responses.RequestsMock() as vendor:
        vendor.post(AUTH_URL, json={"authToken": "tok-ada"})
        assert client.get("/api/getusertoken").get_json() == {"authToken": "tok-ada"}
    app.secret_key = "a-rotated-key-0123456789abcdef0123"
    assert client.get("/api/getusertoken").status_code == 401
