"""Properties of the identity mapping over arbitrary users: one identifier, within the vendor's
limits, the same every time, and nothing a caller sends can change it."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flask_token_broker.errors import InvalidIdentity
from flask_token_broker.mindset.client import MindsetClient
from flask_token_broker.mindset.vendor_api import AuthRequest
from flask_token_broker.minting.identity import (
    EMAIL_SHAPE,
    EXTERNAL_ID,
    MAX_EMAIL_LENGTH,
    MAX_NAME_LENGTH,
    auth_request_for,
    derive_external_id,
    external_id_for,
)
from flask_token_broker.observability.telemetry import user_hash
from flask_token_broker.settings import MindsetSettings
from flask_token_broker.users import MAX_FIELD_LENGTH, CurrentUser, user_from_mapping

from .vendor_defaults import CLIENT_OPTIONS

SETTINGS = {
    mode: MindsetSettings(
        base_url="http://mindset.test",
        api_key="k" * 20,
        app_uid="app",
        identity=identity,
        external_id_mode=mode,
    )
    for identity, mode in (("externalId", "strict"), ("externalId", "derive"))
}
EMAIL_SETTINGS = MindsetSettings(
    base_url="http://mindset.test", api_key="k" * 20, app_uid="app", identity="userEmail"
)
CLIENT = MindsetClient("http://mindset.test", "k" * 20, "app", **CLIENT_OPTIONS)

users = st.builds(
    CurrentUser,
    id=st.text(min_size=1, max_size=300),
    email=st.none() | st.emails() | st.text(max_size=120),
    name=st.none() | st.text(max_size=300),
)


def body_or_refusal(user: CurrentUser, settings: MindsetSettings) -> dict[str, object] | None:
    try:
        request = auth_request_for(user, settings)
    except InvalidIdentity:
        return None
    return CLIENT.body_for(request)


@given(users)
def test_derive_mode_always_sends_exactly_one_accepted_external_id(user: CurrentUser) -> None:
    body = body_or_refusal(user, SETTINGS["derive"])
    assert body is not None
    assert "userEmail" not in body
    assert EXTERNAL_ID.fullmatch(str(body["externalId"]))
    assert len(str(body.get("name", ""))) <= MAX_NAME_LENGTH


@given(users)
def test_strict_mode_sends_the_id_unchanged_or_refuses(user: CurrentUser) -> None:
    body = body_or_refusal(user, SETTINGS["strict"])
    if EXTERNAL_ID.fullmatch(user.id):
        assert body is not None
        assert body["externalId"] == user.id
    else:
        assert body is None


@given(users)
def test_email_identity_sends_only_an_email_within_the_vendor_limits(user: CurrentUser) -> None:
    body = body_or_refusal(user, EMAIL_SETTINGS)
    if body is not None:
        assert set(body) <= {"userEmail", "name"}
        email = str(body["userEmail"])
        assert len(email) <= MAX_EMAIL_LENGTH
        assert EMAIL_SHAPE.fullmatch(email)


@given(st.text(min_size=1, max_size=300))
def test_the_mapping_is_a_pure_function_of_the_id(user_id: str) -> None:
    assert external_id_for(user_id, derive=True) == external_id_for(user_id, derive=True)
    assert derive_external_id(user_id) == derive_external_id(user_id)
    assert user_hash("key-0123456789", user_id) == user_hash("key-0123456789", user_id)


@given(st.dictionaries(st.text(max_size=20), st.none() | st.booleans() | st.integers() | st.text()))
def test_session_values_of_any_type_give_a_user_or_nobody(values: dict[str, object]) -> None:
    user = user_from_mapping(values, "user_id", "user_email", "user_name")
    if user is not None:
        # Used exactly as given: nothing trimmed, only an integer written as its digits.
        assert user.id == str(values["user_id"])
        assert 0 < len(user.id) <= MAX_FIELD_LENGTH
        AuthRequest(external_id=derive_external_id(user.id))


LONGEST = "x" * MAX_FIELD_LENGTH
TOO_LONG = "x" * (MAX_FIELD_LENGTH + 1)


@pytest.mark.parametrize(
    ("values", "user"),
    [
        ({"id": LONGEST}, CurrentUser(id=LONGEST)),
        ({"id": TOO_LONG}, None),
        ({"id": "ada", "email": LONGEST}, CurrentUser(id="ada", email=LONGEST)),
        ({"id": "ada", "email": TOO_LONG}, None),  # abuse: refused, not identified otherwise
        ({"id": "ada", "email": 42}, CurrentUser(id="ada")),  # not text: no email
        ({"id": "ada", "email": " \u3000"}, CurrentUser(id="ada")),  # blank: no email
        ({"id": "ada", "name": "  Ada  "}, CurrentUser(id="ada", name="Ada")),
        ({"id": "ada", "name": " \t "}, CurrentUser(id="ada")),  # blank: no name
        ({"id": "ada", "name": LONGEST}, CurrentUser(id="ada", name=LONGEST)),
        ({"id": "ada", "name": TOO_LONG}, CurrentUser(id="ada")),  # display only: dropped
        ({"id": "ada", "name": 7}, CurrentUser(id="ada")),
    ],
)
def test_a_user_is_built_from_loosely_typed_values_within_the_length_limit(
    values: dict[str, object], user: CurrentUser | None
) -> None:
    assert user_from_mapping(values, "id", "email", "name") == user
