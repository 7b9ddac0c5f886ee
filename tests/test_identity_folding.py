"""Vendor identities that a vendor comparing loosely (case, Unicode form) would take as one.

Mindset may compare addresses without regard to case or after normalising them. Two distinct
host users must never get identities that are equal once folded (NFKC, case folding, full
stops, format characters), and the reserved domain is compared in that form. A lower-case
ASCII id keeps the identity it has always had.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flask_token_broker.errors import InvalidIdentity
from flask_token_broker.minting.identity import (
    derive_external_id,
    identity_fold,
    legacy_email_for,
)
from flask_token_broker.users import CurrentUser

DOMAIN = "users.example.com"


@pytest.mark.parametrize("user_id", ["ada", "u-42", "42", "auth0|5f2c", "ada.lovelace"])
def test_an_id_folding_leaves_alone_keeps_its_identity(user_id: str) -> None:
    assert legacy_email_for(CurrentUser(user_id), DOMAIN) == f"{user_id}@{DOMAIN}"


def test_ids_that_fold_alike_get_identities_that_stay_apart() -> None:
    ids = ["ada", "Ada", "ADA", "\uff41\uff44\uff41", "ada\u200b", "\uff21da"]
    emails = [legacy_email_for(CurrentUser(user_id), DOMAIN) for user_id in ids]
    assert emails[0] == f"ada@{DOMAIN}"
    assert emails[1] == f"{derive_external_id('Ada')}@{DOMAIN}"
    folded = {identity_fold(email) for email in emails}
    assert len(folded) == len(ids), emails


@pytest.mark.parametrize(
    "email",
    [
        "bob@USERS.example.com",
        "bob@\uff55sers.example.com",  # fullwidth u
        "bob@users.example.com\u200b",  # trailing zero-width space
        "bob@users.example\u3002com",  # ideographic full stop
        "bob@users.example\uff0ecom",  # fullwidth full stop
    ],
)
def test_the_reserved_domain_is_compared_as_a_vendor_that_normalises_would(email: str) -> None:
    with pytest.raises(InvalidIdentity, match="reserved for users without an email"):
        legacy_email_for(CurrentUser("bob", email=email), DOMAIN)


def test_an_address_with_no_ascii_full_stop_in_its_domain_is_refused_anyway() -> None:
    with pytest.raises(InvalidIdentity, match="not one the vendor accepts"):
        legacy_email_for(CurrentUser("bob", email="bob@users\uff0eexample\uff0ecom"), DOMAIN)


# Characters that fold into each other, and the rest of what ids are made of.
LOOKALIKES = "aAdD\uff41\uff21\uff44\u00e5\u212b\u0061\u030a-_|.0\u200b\u00df\u1e9e"


@given(st.lists(st.text(alphabet=LOOKALIKES, min_size=1, max_size=12), min_size=2, unique=True))
def test_distinct_host_ids_never_map_to_identities_equal_once_folded(ids: list[str]) -> None:
    folded: dict[str, str] = {}
    for user_id in ids:
        try:
            email = legacy_email_for(CurrentUser(user_id), DOMAIN)
        except InvalidIdentity:
            continue  # refused, so no identity at all
        key = identity_fold(email)
        assert key not in folded, (user_id, folded.get(key))
        folded[key] = user_id
