"""The vendors' sections: how to reach Mindset and how to sign TypingMind codes."""

from __future__ import annotations

from dataclasses import dataclass

from .checks import (
    _api_key,
    _app_uid,
    _typingmind_secret,
    parse_account_uids,
    parse_email_domain,
)
from .constants import (
    EXTERNAL_ID_DERIVE,
    EXTERNAL_ID_STRICT,
    FLAVOR_LEGACY,
    FLAVOR_SDK3,
    IDENTITY_EXTERNAL_ID,
    IDENTITY_USER_EMAIL,
    MAX_REUSE_SECONDS,
    MAX_TYPINGMIND_TTL,
    TYPINGMIND_PAYLOAD_EMAIL,
    TYPINGMIND_PAYLOAD_ID,
    TYPINGMIND_PAYLOAD_USER,
)
from .table import REQUIRED, choice, flag, integer, seconds, text


@dataclass(frozen=True)
class MindsetSettings:
    """How to reach the customer's Mindset app and how to describe users to it."""

    base_url: str = text(
        "MINDSET_API_HOST",
        REQUIRED,
        (
            "the Mindset API host; a bare host means `https://host`, a full URL "
            "(`http://127.0.0.1:9911`) is used as is, without a path (`https://host/api/v1`"
            " is refused: the broker adds the API path); production refuses `http://` "
            "except on loopback"
        ),
    )
    api_key: str = text(
        "MINDSET_API_KEY",
        REQUIRED,
        "secret API key; never logged or returned",
        parse=_api_key,
        secret=True,
    )
    app_uid: str = text("MINDSET_APP_UID", REQUIRED, "your Mindset app uid", parse=_app_uid)
    identity: str = choice(
        "MINDSET_IDENTITY",
        IDENTITY_EXTERNAL_ID,
        "`externalId` or `userEmail` (the host's emails must then be verified and unique)",
        choices=(IDENTITY_EXTERNAL_ID, IDENTITY_USER_EMAIL),
    )
    account_uids: tuple[str, ...] = text(
        "MINDSET_ACCOUNT_UIDS", (), "accounts every user is added to", parse=parse_account_uids
    )
    external_id_mode: str = choice(
        "MINDSET_EXTERNAL_ID_MODE",
        EXTERNAL_ID_STRICT,
        "`strict` (422) or `derive` for ids Mindset would refuse",
        choices=(EXTERNAL_ID_STRICT, EXTERNAL_ID_DERIVE),
    )
    connect_timeout: float = seconds(
        "MINDSET_CONNECT_TIMEOUT", 3.05, "seconds to connect to Mindset"
    )
    read_timeout: float = seconds(
        "MINDSET_READ_TIMEOUT", 5.0, "seconds to wait for Mindset's answer"
    )
    pool_size: int = integer(
        "MINDSET_POOL_SIZE", 256, "kept-alive connections to Mindset per worker process", minimum=1
    )
    # Token reuse (app/reuse.py): JWTs until their own ``exp`` minus the margin; opaque tokens
    # only for an opted-in fixed time (0 = never, the default: the vendor documents no lifetime).
    reuse_jwt: bool = flag(
        "MINDSET_TOKEN_REUSE_JWT",
        True,
        "reuse a JWT token until its `exp` minus the margin; `0` treats JWTs as opaque",
    )
    reuse_margin: float = seconds(
        "MINDSET_TOKEN_REUSE_MARGIN",
        60.0,
        "seconds before a JWT's `exp` when it stops being reused",
        maximum=3600,
    )
    reuse_seconds: int = integer(
        "MINDSET_TOKEN_REUSE_SECONDS",
        0,
        (
            "reuse any token (opaque too) for this many seconds; `0` never (the vendor "
            "documents no lifetime)"
        ),
        maximum=MAX_REUSE_SECONDS,
    )
    flavor: str = choice(
        "MINDSET_API_FLAVOR",
        FLAVOR_SDK3,
        "`sdk3` (`sdkusers/auth`) or `legacy` (`api-authenticate-embedded-user`, users by email)",
        choices=(FLAVOR_SDK3, FLAVOR_LEGACY),
    )
    legacy_email_domain: str | None = text(
        "MINDSET_LEGACY_EMAIL_DOMAIN",
        None,
        (
            "legacy flavor: users without an email are sent as `<user id>@<domain>`; host "
            "emails on it are refused"
        ),
        parse=parse_email_domain,
    )
    allow_plaintext_host: bool = flag(
        "MINDSET_ALLOW_PLAINTEXT_HOST",
        False,
        (
            "`1`: production accepts an `http://` `MINDSET_API_HOST` off loopback (the key "
            "and tokens then travel in clear; start-up and `config check` warn)"
        ),
    )


@dataclass(frozen=True)
class TypingMindSettings:
    """How to sign TypingMind ``externalAuthCode`` JWTs and where to send users with one."""

    jwt_secret: str = text(
        "TYPINGMIND_JWT_SECRET",
        REQUIRED,
        "TypingMind's JWT secret, at least 32 bytes; never logged or returned",
        parse=_typingmind_secret,
        secret=True,
    )
    url: str = text(
        "TYPINGMIND_URL",
        REQUIRED,
        "your TypingMind instance; https (http only on loopback or outside production)",
    )
    token_ttl: int = integer(
        "TYPINGMIND_TOKEN_TTL",
        3600,
        "seconds an `externalAuthCode` is valid (60 to 604800)",
        minimum=60,
        maximum=MAX_TYPINGMIND_TTL,
    )
    payload: str = choice(
        "TYPINGMIND_PAYLOAD",
        TYPINGMIND_PAYLOAD_USER,
        "`user` (create on first use), `id` or `email` (existing users)",
        choices=(TYPINGMIND_PAYLOAD_USER, TYPINGMIND_PAYLOAD_ID, TYPINGMIND_PAYLOAD_EMAIL),
    )
