"""How host users become Mindset identifiers: strict, derived, stable."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.errors import InvalidIdentity
from app.mindset.identity import EXTERNAL_ID, checked_email, derive_external_id, external_id_for


@pytest.mark.parametrize("user_id", ["ada", "user_123-X", "a" * 100, "0"])
def test_valid_ids_pass_unchanged_in_both_modes(user_id: str) -> None:
    assert external_id_for(user_id, derive=False) == user_id
    assert external_id_for(user_id, derive=True) == user_id


@pytest.mark.parametrize("user_id", ["auth0|5f2c", "a" * 101, "ada lovelace", "é", "a.b"])
def test_invalid_ids_are_refused_in_strict_mode(user_id: str) -> None:
    with pytest.raises(InvalidIdentity, match="MINDSET_EXTERNAL_ID_MODE"):
        external_id_for(user_id, derive=False)


def test_derived_ids_never_change() -> None:
    # Conversation history hangs on this value: changing the derivation orphans every user.
    assert derive_external_id("auth0|5f2c8e") == "auth0_5f2c8e-0bf3feeb69c480b9795be6e4c29a3045"
    assert derive_external_id("Ada Lovelace") == derive_external_id("Ada Lovelace")


@given(st.text(min_size=1, max_size=3000))
def test_derived_ids_are_always_accepted_by_the_vendor(user_id: str) -> None:
    assert EXTERNAL_ID.fullmatch(derive_external_id(user_id))


@given(st.text(min_size=1, max_size=50), st.text(min_size=1, max_size=50))
def test_different_ids_derive_different_external_ids(one: str, two: str) -> None:
    if one != two:
        assert derive_external_id(one) != derive_external_id(two)


@pytest.mark.parametrize("email", ["ada@example.com", "a+b@mail.example.co.uk"])
def test_email_shaped_addresses_are_accepted(email: str) -> None:
    assert checked_email(email, setting="MINDSET_IDENTITY") == email


@pytest.mark.parametrize(
    "email", [None, "ada", "ada@", "@x.io", "a@b", "a b@x.io", "a" * 95 + "@x.io"]
)
def test_addresses_the_vendor_would_refuse_are_422(email: str | None) -> None:
    with pytest.raises(InvalidIdentity) as raised:
        checked_email(email, setting="MINDSET_IDENTITY")
    assert raised.value.status == 422
