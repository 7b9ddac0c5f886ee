"""The standalone broker's session interface: Flask's cookies, its serializer built once.

Careless changes these tests catch (``users/session_cookie.py``): a kept cookie taken after
the session lifetime, or after ``SECRET_KEY`` changed; a cookie signed with another key
accepted; the kept values shared with (and changed by) a request that edits its session; the
store keyed by the cookie as sent, so that spellings of one cookie each take a slot; a forged
signed part taken for a kept cookie's; the store growing past its bound; a kept cookie
re-encoded, or verified again, on every request that sends it.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
import responses
from flask import Flask
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from itsdangerous import BadSignature, URLSafeTimedSerializer
from werkzeug.test import EnvironBuilder

from flask_token_broker.users import session_cookie
from flask_token_broker.users.session_cookie import CachedSerializerSessionInterface

from .conftest import AUTH_URL, build_app, mindset_settings, sign_in

LIFETIME = 3600


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


def interface_of(app: Flask) -> CachedSerializerSessionInterface:
    interface = app.session_interface
    assert isinstance(interface, CachedSerializerSessionInterface)
    return interface


def open_with(app: Flask, cookie: str) -> SecureCookieSession | None:
    interface = interface_of(app)
    name = interface.get_cookie_name(app)
    # A bare request: pushing a request context would open the session once already.
    environ = EnvironBuilder(headers=[("Cookie", f"{name}={cookie}")]).get_environ()
    return interface.open_session(app, app.request_class(environ))


def values(app: Flask, cookie: str) -> dict[str, Any]:
    session = open_with(app, cookie)
    assert session is not None
    return dict(session)


def signed(app: Flask, values: dict[str, Any]) -> str:
    serializer = interface_of(app).get_signing_serializer(app)
    assert serializer is not None
    return str(serializer.dumps(values))


def count_verifications(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls = [0]
    original = URLSafeTimedSerializer.loads

    def counted(self: URLSafeTimedSerializer, *args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        return original(self, *args, **kwargs)

    monkeypatch.setattr(URLSafeTimedSerializer, "loads", counted)
    return calls


def test_a_cookie_is_verified_once_and_its_values_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    app = build_app(mindset_settings())
    verifications = count_verifications(monkeypatch)
    cookie = signed(app, {"user_id": "ada"})
    for _ in range(3):
        assert values(app, cookie) == {"user_id": "ada"}
    assert verifications[0] == 1
    assert dict(open_with(app, signed(app, {"user_id": "grace"})) or {}) == {"user_id": "grace"}
    assert verifications[0] == 2


def test_a_forged_cookie_is_never_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    app = build_app(mindset_settings())
    verifications = count_verifications(monkeypatch)
    cookie = signed(app, {"user_id": "ada"})
    forged = cookie[:-2] + ("AA" if not cookie.endswith("AA") else "BB")
    assert values(app, forged) == {}
    once = verifications[0]
    assert once > 0
    assert values(app, forged) == {}
    assert verifications[0] == 2 * once


@pytest.mark.parametrize(
    ("seconds_after_signing", "accepted"),
    [(0, True), (LIFETIME, True), (LIFETIME + 1, False), (-1, False)],
)
def test_a_kept_cookie_ages_as_flask_would_age_it(
    monkeypatch: pytest.MonkeyPatch, seconds_after_signing: int, accepted: bool
) -> None:
    app = build_app(mindset_settings())
    app.permanent_session_lifetime = timedelta(seconds=LIFETIME)
    now = float(int(time.time()))
    monkeypatch.setattr(time, "time", lambda: now)
    cookie = signed(app, {"user_id": "ada"})
    assert values(app, cookie) == {"user_id": "ada"}  # now kept
    monkeypatch.setattr(time, "time", lambda: now + seconds_after_signing)
    expected = {"user_id": "ada"} if accepted else {}
    assert values(app, cookie) == expected
    # The cookie verified afresh gives the same verdict as the kept one.
    app.session_interface = CachedSerializerSessionInterface()
    assert values(app, cookie) == expected


def test_new_keys_verify_kept_cookies_again(monkeypatch: pytest.MonkeyPatch) -> None:
    app = build_app(mindset_settings())
    cookie = signed(app, {"user_id": "ada"})
    assert values(app, cookie)
    verifications = count_verifications(monkeypatch)
    old_key = app.secret_key
    app.secret_key = "a-rotated-key-0123456789abcdef0123"
    app.config["SECRET_KEY_FALLBACKS"] = [old_key]
    assert values(app, cookie) == {"user_id": "ada"}  # accepted by the fallback
    assert verifications[0] == 1
    assert len(interface_of(app)._verified) == 1  # what the old keys verified is gone
    app.config["SECRET_KEY_FALLBACKS"] = []
    assert values(app, cookie) == {}


def test_a_request_changing_its_session_leaves_the_kept_values_alone() -> None:
    app = build_app(mindset_settings())
    cookie = signed(app, {"user_id": "ada", "user_roles": ["reader"]})
    first = open_with(app, cookie)
    assert first is not None
    first["user_roles"].append("admin")
    first["user_id"] = "mallory"
    assert values(app, cookie) == {"user_id": "ada", "user_roles": ["reader"]}


def test_the_kept_cookies_are_bounded_oldest_dropped_first(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(session_cookie, "VERIFIED_COOKIES_KEPT", 3)
    app = build_app(mindset_settings())
    cookies = [signed(app, {"user_id": f"user-{i}"}) for i in range(4)]
    for cookie in cookies:
        assert values(app, cookie)
    verifications = count_verifications(monkeypatch)
    for cookie in cookies[1:]:
        assert values(app, cookie)
    assert verifications[0] == 0  # the three newest are kept
    assert values(app, cookies[0]) == {"user_id": "user-0"}
    assert verifications[0] == 1  # the oldest was dropped, and is verified again


def test_no_secret_key_opens_no_session() -> None:
    app = build_app(mindset_settings())
    app.secret_key = None
    assert open_with(app, "anything") is None


def spellings(cookie: str) -> list[str]:
    """Other texts of ``cookie`` for its signature's decoder: base64 padding, and characters
    outside its alphabet (some of them are accepted, as below)."""
    signed_part, signature = cookie.rsplit(".", 1)
    found = [f"{signed_part}.{signature}{'=' * pads}" for pads in range(1, 200)]
    for junk in ("!", "*=", "~==", "(!", "@@@"):
        for at in range(len(signature) + 1):
            found.append(f"{signed_part}.{signature[:at]}{junk}{signature[at:]}")
    return found


def test_spellings_of_one_cookie_share_one_verified_slot() -> None:
    app = build_app(mindset_settings())
    cookie = signed(app, {"user_id": "ada"})
    flask_own = Flask(__name__)
    flask_own.secret_key = app.secret_key
    reference = SecureCookieSessionInterface().get_signing_serializer(flask_own)
    assert reference is not None
    accepted = []
    for variant in spellings(cookie):
        try:
            reference.loads(variant)
        except BadSignature:
            assert values(app, variant) == {}  # refused here too
        else:
            accepted.append(variant)
    assert len(accepted) > 200
    for variant in accepted:
        # Each spelling Flask's own interface accepts is accepted...
        assert values(app, variant) == {"user_id": "ada"}
    # ...and all of them take the one slot of the cookie they spell.
    assert len(interface_of(app)._verified) == 1


def test_a_changed_signed_part_is_another_cookie_and_is_refused() -> None:
    app = build_app(mindset_settings())
    cookie = signed(app, {"user_id": "ada"})
    assert values(app, cookie) == {"user_id": "ada"}
    payload, timestamp, signature = cookie.split(".")
    for forged in (f"{payload}=.{timestamp}.{signature}", f"{payload}.{timestamp}=.{signature}"):
        assert values(app, forged) == {}
    assert len(interface_of(app)._verified) == 1


def count_re_encodings(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    original = session_cookie.canonical_cookie

    def counted(cookie: str) -> str:
        calls.append(cookie)
        return original(cookie)

    monkeypatch.setattr(session_cookie, "canonical_cookie", counted)
    return calls


def test_a_kept_cookie_sent_as_flask_wrote_it_is_found_without_re_encoding(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every request carries the cookie as written: its lookup must stay a dictionary hit."""
    app = build_app(mindset_settings())
    cookie = signed(app, {"user_id": "ada"})
    assert values(app, cookie) == {"user_id": "ada"}
    re_encoded = count_re_encodings(monkeypatch)
    verifications = count_verifications(monkeypatch)
    for _ in range(3):
        assert values(app, cookie) == {"user_id": "ada"}
    assert (re_encoded, verifications[0]) == ([], 0)


def test_another_spelling_of_a_kept_cookie_is_found_again_without_a_new_verification(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = build_app(mindset_settings())
    cookie = signed(app, {"user_id": "ada"})
    padded = f"{cookie}=="
    verifications = count_verifications(monkeypatch)
    for _ in range(3):
        assert values(app, padded) == {"user_id": "ada"}
    assert values(app, cookie) == {"user_id": "ada"}
    assert verifications[0] == 1
