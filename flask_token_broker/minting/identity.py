"""How a host user is described to Mindset.

Mindset keeps conversation history per identifier, so the mapping must be stable forever:
the same user must always produce the same ``externalId`` (or email), on every instance and
after every restart. Nothing here may depend on configuration that could rotate.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

from ..errors import InvalidIdentity
from ..mindset.vendor_api import ENDPOINTS, AuthRequest
from ..settings import EXTERNAL_ID_DERIVE, IDENTITY_USER_EMAIL, MindsetSettings
from ..users import CurrentUser

EXTERNAL_ID = re.compile(r"[A-Za-z0-9_-]{1,100}")
EMAIL_SHAPE = re.compile(r"[^@\s]{1,64}@(?P<domain>[^@\s]+\.[^@\s.]+)")
MAX_EMAIL_LENGTH = 100
MAX_NAME_LENGTH = 100
# Readable part of a derived id; the hash after it is what makes the id unique.
DERIVED_PREFIX_LENGTH = 60
DERIVED_HASH_LENGTH = 32
# Every id derive_external_id can produce has this shape (and hex digests are lower case).
DERIVED_SHAPE = re.compile(
    rf"[A-Za-z0-9_-]{{0,{DERIVED_PREFIX_LENGTH}}}-[0-9a-f]{{{DERIVED_HASH_LENGTH}}}"
)
# Full stops other than "." that domain names read as one (IDNA, UTS #46).
_FULL_STOPS = str.maketrans({"\u3002": ".", "\uff0e": ".", "\uff61": "."})


def auth_request_for(user: CurrentUser, settings: MindsetSettings) -> AuthRequest:
    """Build the vendor request for ``user``, or raise :class:`InvalidIdentity`."""
    name = user.name[:MAX_NAME_LENGTH] if user.name else None
    # The settings accept only the flavors ENDPOINTS knows.
    if ENDPOINTS[settings.flavor].email_only:
        return AuthRequest(
            user_email=legacy_email_for(user, settings.legacy_email_domain),
            account_uids=settings.account_uids,
        )
    if settings.identity == IDENTITY_USER_EMAIL:
        return AuthRequest(
            user_email=checked_email(user.email, setting="MINDSET_IDENTITY"),
            name=name,
            account_uids=settings.account_uids,
        )
    return AuthRequest(
        external_id=external_id_for(
            user.id, derive=settings.external_id_mode == EXTERNAL_ID_DERIVE
        ),
        name=name,
        account_uids=settings.account_uids,
    )


def identity_fold(text: str) -> str:
    """``text`` as a vendor comparing identities loosely may see it: NFKC, case folded, every
    full stop a ".", and no format characters (zero-width spaces, joiners, marks)."""
    folded = unicodedata.normalize("NFKC", text).casefold().translate(_FULL_STOPS)
    folded = "".join(char for char in folded if unicodedata.category(char) != "Cf")
    return unicodedata.normalize("NFKC", folded)


def legacy_email_for(user: CurrentUser, domain: str | None) -> str:
    """The legacy endpoint knows users by email only: theirs, or ``<local part>@<domain>``.

    The vendor never mails the address, so an email-shaped id on a domain the host owns is a
    stable identifier for users without an email. A user who later gains an email switches
    identifier (and history): hosts whose users may do that should leave every user on the
    domain form by not handing the broker an email.

    The vendor may compare addresses without regard to case or Unicode form, so the local part
    is the user's id only when :func:`identity_fold` leaves it as it is (lower-case ASCII ids
    keep their identity) and it does not look derived; any other id gets its derived form
    (:func:`derive_external_id`), whose digest keeps apart ids that fold alike (``Ada``,
    ``ada``, their fullwidth forms).
    """
    setting = "MINDSET_LEGACY_EMAIL_DOMAIN"
    if user.email is not None:
        email = checked_email(user.email, setting="MINDSET_API_FLAVOR=legacy")
        if domain is not None and on_domain(email, domain):
            # <id>@<domain> names users without an email; a host address there could be one.
            raise InvalidIdentity(
                "The signed-in user's email address is on a domain that is reserved for users "
                "without an email, so it cannot identify them to Mindset.",
                log_hint=f"user email on {setting}, which is reserved for users without an "
                f"email; give {setting} a domain no host user has an address on",
            )
        return email
    if domain is None:
        raise InvalidIdentity(
            "The signed-in user has no email address, which Mindset's legacy endpoint needs. "
            f"The operator can set {setting} to identify such users as <user id>@<domain>.",
            log_hint=f"user without an email on the legacy flavor; set {setting}",
        )
    local = user.id
    if identity_fold(local) != local or DERIVED_SHAPE.fullmatch(local):
        local = derive_external_id(local)
    address = f"{local}@{domain}"
    if not is_address(address):
        raise InvalidIdentity(
            f"The signed-in user's id cannot form an address with {setting} that Mindset "
            f"accepts (email-shaped, at most {MAX_EMAIL_LENGTH} characters).",
            log_hint=f"<user id>@{setting} is not email-shaped or is too long; "
            "shorten the domain or give users an email",
        )
    return address


def on_domain(email: str, domain: str) -> bool:
    """Whether ``email`` is an address on ``domain``, compared as :func:`identity_fold` sees
    them (a fullwidth letter, a trailing zero-width space or an ideographic full stop for "."
    leave the domain the same to a vendor that normalises)."""
    shape = EMAIL_SHAPE.fullmatch(identity_fold(email))
    return shape is not None and shape["domain"] == identity_fold(domain)


def external_id_for(user_id: str, *, derive: bool) -> str:
    """``user_id`` itself when the vendor accepts it; otherwise derived, or refused.

    In derive mode an id that has the shape of a derived id is derived too, so derived ids
    form a namespace no id passed through can enter: a host user whose id is literally
    another user's derived id gets an id of their own, not that user's identity. Derived ids
    are unchanged by this; only ids of that exact shape are no longer sent as they are.
    Strict mode derives nothing, so it passes such ids through unchanged.
    """
    if EXTERNAL_ID.fullmatch(user_id) and not (derive and DERIVED_SHAPE.fullmatch(user_id)):
        return user_id
    if not derive:
        raise InvalidIdentity(
            "The signed-in user's id cannot be a Mindset externalId (only A-Z a-z 0-9 _ -, "
            "at most 100 characters). The operator can set MINDSET_EXTERNAL_ID_MODE=derive "
            "to map such ids to stable accepted ones.",
            log_hint="user id outside the externalId charset or length; "
            "set MINDSET_EXTERNAL_ID_MODE=derive or map ids in the host app",
        )
    return derive_external_id(user_id)


def derive_external_id(user_id: str) -> str:
    """A stable id the vendor accepts: a readable cleaned prefix plus a SHA-256 digest.

    The digest is of the whole original id, so ids that clean up to the same prefix
    (``auth0|1`` and ``auth0:1``) still map to different users. It is unkeyed on purpose:
    a key could rotate, and a changed id would orphan the user's history.
    """
    readable = re.sub(r"[^A-Za-z0-9_-]", "_", user_id)[:DERIVED_PREFIX_LENGTH]
    encoded = user_id.encode(
        "utf-8",  # pragma: no mutate (codec names ignore case: "UTF-8" is this codec)
        "surrogatepass",
    )
    digest = hashlib.sha256(encoded).hexdigest()
    return f"{readable}-{digest[:DERIVED_HASH_LENGTH]}"


def is_address(text: str) -> bool:
    """Email-shaped, within the vendor's limit, and text UTF-8 can carry (no lone surrogate)."""
    return (
        len(text) <= MAX_EMAIL_LENGTH
        and EMAIL_SHAPE.fullmatch(text) is not None
        and not any("\ud800" <= char <= "\udfff" for char in text)
    )


def checked_email(email: str | None, *, setting: str) -> str:
    """An email-shaped identifier within the vendor's length limit, or InvalidIdentity."""
    if email is None:
        raise InvalidIdentity(
            f"The signed-in user has no email address, which {setting} requires.",
            log_hint=f"user without an email while {setting} needs one",
        )
    if not is_address(email):
        raise InvalidIdentity(
            "The signed-in user's email address is not one the vendor accepts "
            f"(email-shaped, at most {MAX_EMAIL_LENGTH} characters).",
            log_hint=f"user email rejected by shape or length while {setting} needs one",
        )
    return email
