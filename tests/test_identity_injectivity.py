"""One host user, one vendor identity: the mapping from users to what the vendor sees, and to
the keys that share calls and tokens, is injective in every mode, over arbitrary Unicode.

What identifies a user depends on the mode (the README says the same):

* ``externalId`` (strict or derive): the id;
* ``userEmail``: the email;
* legacy flavor: the email, or the id for a user without one;
* TypingMind: the id (``user`` and ``id`` payloads) or the email (``email`` payload).

For every pair of users the broker accepts, a difference in those fields means a different
vendor identity and a different coalescing/reuse key; equal fields mean the same identity
(so the list above is exact). The name is display only: it changes the key (a token is only
shared by identical requests) but never the identity.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jwt
import pytest
from hypothesis import given
from hypothesis import strategies as st

from flask_token_broker.errors import InvalidIdentity
from flask_token_broker.mindset.vendor_api import AuthRequest
from flask_token_broker.minting.identity import auth_request_for, derive_external_id
from flask_token_broker.minting.reuse import request_key
from flask_token_broker.settings import MindsetSettings, TypingMindSettings
from flask_token_broker.typingmind import TypingMindCodes, TypingMindIdentityError
from flask_token_broker.users import CurrentUser, user_from_mapping

from . import fake_secrets

DOMAIN = "users.example.com"
# Characters that trimming, case folding or normalising would confuse with others.
TRICKY = "\u00a0\u3000\u2028\u0085\t \u200b\ufeffaA-_|@.\u0130\u0131\u00df\ud800\udc00"

characters = (
    st.characters(exclude_categories=())
    | st.characters(categories=["Cs"])
    | st.sampled_from(TRICKY)
)
texts = st.text(characters, min_size=1, max_size=40)
ids = (
    texts
    | st.text("abcABC019_-", min_size=1, max_size=100)
    | st.builds(
        lambda readable, digest: f"{readable}-{digest}",
        st.text("abcABC019_-", max_size=60),
        st.text("0123456789abcdef", min_size=32, max_size=32),
    )
    | texts.map(derive_external_id)
)
local_parts = st.text("abcABC09.+_-\u00e9", min_size=1, max_size=8) | texts
emails = st.none() | st.builds(
    lambda local, at: f"{local}@{at}",
    local_parts,
    st.sampled_from([DOMAIN, DOMAIN.upper(), f"sub.{DOMAIN}", "x.io", "X.IO", "x"]),
)
users = st.builds(CurrentUser, id=ids, email=emails, name=st.none() | texts)


def with_unicode_space(text: str, space: str, front: bool) -> str:
    return space + text if front else text + space


@st.composite
def pairs(draw: st.DrawFn) -> tuple[CurrentUser, CurrentUser]:
    """Two users, most often near-twins: the cases where a careless mapping collides."""
    one = draw(users)
    space = draw(st.sampled_from(TRICKY[:9]))
    front = draw(st.booleans())
    email_of_id = f"{one.id}@{draw(st.sampled_from([DOMAIN, DOMAIN.upper()]))}"
    twins: list[Callable[[], CurrentUser]] = [
        lambda: draw(users),
        lambda: CurrentUser(with_unicode_space(one.id, space, front), one.email, one.name),
        lambda: CurrentUser(one.id.upper(), one.email, one.name),
        lambda: CurrentUser(one.id.casefold(), one.email, one.name),
        lambda: CurrentUser(derive_external_id(one.id), one.email, one.name),
        lambda: CurrentUser(draw(ids), one.email, one.name),
        lambda: CurrentUser(one.id, draw(emails), one.name),
        lambda: CurrentUser(one.id, None if one.email else email_of_id, one.name),
        lambda: CurrentUser(draw(ids), email_of_id, one.name),
        lambda: CurrentUser(one.id, one.email, draw(st.none() | texts)),
        lambda: CurrentUser(
            one.id, with_unicode_space(one.email or "a@x.io", space, front), one.name
        ),
    ]
    return one, draw(st.sampled_from(twins))()


def mindset(**extra: Any) -> MindsetSettings:
    return MindsetSettings(
        base_url="http://mindset.test",
        api_key="k" * 20,
        app_uid="app",
        account_uids=("a" * 20,),
        **extra,
    )


MODES: dict[str, tuple[MindsetSettings, Callable[[CurrentUser], object]]] = {
    "externalId-strict": (mindset(), lambda user: user.id),
    "externalId-derive": (mindset(external_id_mode="derive"), lambda user: user.id),
    "userEmail": (mindset(identity="userEmail"), lambda user: user.email),
    "userEmail-derive": (
        mindset(identity="userEmail", external_id_mode="derive"),
        lambda user: user.email,
    ),
    "legacy-with-domain": (
        mindset(flavor="legacy", legacy_email_domain=DOMAIN),
        lambda user: ("email", user.email) if user.email is not None else ("id", user.id),
    ),
    "legacy-without-domain": (
        mindset(flavor="legacy"),
        lambda user: ("email", user.email) if user.email is not None else ("id", user.id),
    ),
}
SECRET = b"s" * 32


def accepted(user: CurrentUser, settings: MindsetSettings) -> AuthRequest | None:
    try:
        return auth_request_for(user, settings)
    except InvalidIdentity:
        return None


def vendor_identity(request: AuthRequest) -> tuple[str, str]:
    if request.external_id is not None:
        assert request.user_email is None
        return "externalId", request.external_id
    assert request.user_email is not None
    return "userEmail", request.user_email


def key(settings: MindsetSettings, request: AuthRequest) -> str:
    return request_key(SECRET, (settings.flavor, "http://mindset.test/auth", "app"), request)


@pytest.mark.parametrize("mode", sorted(MODES))
@given(pair=pairs())
def test_distinct_mindset_users_never_share_an_identity_or_a_key(
    mode: str, pair: tuple[CurrentUser, CurrentUser]
) -> None:
    settings, identifying = MODES[mode]
    one, two = pair
    first, second = accepted(one, settings), accepted(two, settings)
    if first is None or second is None:
        return
    if identifying(one) != identifying(two):
        assert vendor_identity(first) != vendor_identity(second)
        assert key(settings, first) != key(settings, second)
    else:
        assert vendor_identity(first) == vendor_identity(second)
        if one.name == two.name:
            assert key(settings, first) == key(settings, second)


TYPINGMIND: dict[str, Callable[[CurrentUser], object]] = {
    "user": lambda user: user.id,
    "id": lambda user: user.id,
    "email": lambda user: user.email,
}


def typingmind_identity(user: CurrentUser, form: str) -> object:
    settings = TypingMindSettings(
        jwt_secret=fake_secrets.TYPINGMIND_SECRET, url="https://chat.example.com", payload=form
    )
    try:
        code = TypingMindCodes(settings).issue(user)
    except TypingMindIdentityError:
        return None
    claims = jwt.decode(code.token, fake_secrets.TYPINGMIND_SECRET, algorithms=["HS256"])
    # TypingMind knows a user by the payload's id ("id" wins over "email"), as signed.
    described = claims.get("user", claims)
    return described.get("id", ("email", described.get("email")))


@pytest.mark.parametrize("form", sorted(TYPINGMIND))
@given(pair=pairs())
def test_distinct_typingmind_users_never_share_an_identity(
    form: str, pair: tuple[CurrentUser, CurrentUser]
) -> None:
    one, two = pair
    first, second = typingmind_identity(one, form), typingmind_identity(two, form)
    if first is None or second is None:
        return
    identifying = TYPINGMIND[form]
    assert (first == second) == (identifying(one) == identifying(two))


raw_ids = (
    st.integers()
    | texts
    | st.builds(lambda text, space: text + space, texts, st.sampled_from(TRICKY[:9]))
)


@given(raw_ids, raw_ids, emails, emails)
def test_resolvers_keep_distinct_ids_and_emails_distinct(
    id_one: Any, id_two: Any, email_one: str | None, email_two: str | None
) -> None:
    one = user_from_mapping({"id": id_one, "email": email_one}, "id", "email", "name")
    two = user_from_mapping({"id": id_two, "email": email_two}, "id", "email", "name")
    if one is None or two is None:
        return
    # An integer id is its decimal string; otherwise nothing is changed.
    assert (one.id == two.id) == (str(id_one) == str(id_two))
    if one.email is not None and two.email is not None:
        assert (one.email == two.email) == (email_one == email_two)
