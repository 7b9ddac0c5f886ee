"""Typed, fail-fast configuration for the token broker.

Every setting is read from one flat mapping of names to values: the process environment
(with a dotenv file underneath it) when the broker runs on its own, or a host application's
``app.config`` when the broker's blueprint is mounted inside another Flask app. Values may be
strings (environment) or already typed (``app.config``); the readers accept both. An empty
value (``NAME=``, as a copied ``.env.example`` leaves it) counts as unset.

Each setting is declared once (:mod:`settings_table`): as the field of the settings dataclass
that holds it, with its variable, default, kind, bounds, whether it is secret and a one-line
doc. Reading (:func:`load_settings`), every problem ``config check`` lists
(:func:`find_problems`) and the check that every setting is documented all walk those
declarations. The rules that involve more than one setting (a vendor configured by halves,
https in production, one JWT key source) are the section builders below.

Invalid or partial configuration raises :class:`ConfigError` with one line that names the
variable and says what to do, so start-up stops before the first request instead of failing
on it. Secrets are never echoed back in those messages.

A declarative table rather than pydantic-settings or environs: the messages are part of the
product, and ``config check`` must list every problem where start-up stops at the first. Both
libraries would need a custom validator per setting to keep each message and an adapter to run
the cross-setting rules in both modes, so they would add a dependency without removing code.
"""

from __future__ import annotations

import ipaddress
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any
from urllib.parse import urlsplit

from limits import parse_many

from .settings_table import (
    DECLARED,
    FILE_SUFFIX,
    REQUIRED,
    ConfigError,
    NotingReader,
    Reader,
    checked_url,
    choice,
    declared,
    entries,
    flag,
    integer,
    is_loopback,
    seconds,
    secret_sources,
    text,
    valid_if,
    with_secret_files_read,
)

__all__ = ["ConfigError", "secret_sources", "with_secret_files_read"]

PRODUCTION = "production"
DEVELOPMENT = "development"

IDENTITY_EXTERNAL_ID = "externalId"
IDENTITY_USER_EMAIL = "userEmail"
EXTERNAL_ID_STRICT = "strict"
EXTERNAL_ID_DERIVE = "derive"
FLAVOR_SDK3 = "sdk3"
FLAVOR_LEGACY = "legacy"

TYPINGMIND_PAYLOAD_USER = "user"
TYPINGMIND_PAYLOAD_ID = "id"
TYPINGMIND_PAYLOAD_EMAIL = "email"
# HS256 keys shorter than the hash output are weak (RFC 7518 section 3.2).
MIN_JWT_SECRET_BYTES = 32
# A code in a URL leaks into history and logs: a week is the longest the broker will sign.
MAX_TYPINGMIND_TTL = 7 * 24 * 3600

RESOLVER_SESSION = "session"
RESOLVER_HEADERS = "headers"
RESOLVER_JWT = "jwt"
RESOLVER_CUSTOM = "custom"
# "package.module:function", as BROKER_USER_RESOLVER names a host's own resolver.
_CALLABLE_PATH = re.compile(r"[A-Za-z_][\w]*(?:\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*")
# An HMAC key at least as long as the hash output (RFC 7518 section 3.2).
HMAC_ALGORITHMS = {"HS256": 32, "HS384": 48, "HS512": 64}
PUBLIC_KEY_ALGORITHMS = ("RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256")
# With a JWKS URL and no BROKER_JWT_ALGORITHMS (the HMAC default is the setting's own).
PUBLIC_KEY_DEFAULT_ALGORITHMS = ("RS256", "ES256")

# The vendor's documented limits for accountUids.
MAX_ACCOUNT_UIDS = 10
ACCOUNT_UID_LENGTHS = range(20, 129)

# No token is kept for reuse longer than a day, whatever it claims about itself.
MAX_REUSE_SECONDS = 86_400

# A bare host name, optionally with a port: what the vendor hands out ("acme.api.mindset.ai").
_BARE_HOST = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?(?::\d{1,5})?$")
_AGENT_UID = re.compile(r"[A-Za-z0-9_-]{1,128}")
MIN_METRICS_TOKEN_LENGTH = 16
# SECRET_KEY signs the session cookie that says who is signed in: a guessable one lets anyone
# forge a session for any user. Production refuses one shorter than this, or a value that
# tutorials, templates and placeholders hand out (compared case-insensitively, trimmed).
MIN_SECRET_KEY_BYTES = 32
WELL_KNOWN_SECRET_KEYS = frozenset(
    {
        "dev",
        "development",
        "test",
        "testing",
        "secret",
        "secret-key",
        "secret_key",
        "secretkey",
        "supersecret",
        "super-secret",
        "changeme",
        "change-me",
        "change_me",
        "please-change-me",
        "changeit",
        "password",
        "default",
        "flask",
        "keyboard cat",
        "your-secret-key",
        "your_secret_key",
        "your-secret-key-here",
        "replace-me",
        "you-will-never-guess",
        "change-this-to-a-long-random-secret",
        "please-change-this-to-a-long-random-secret-key",
        "this-is-not-a-secret-change-it-in-production",
    }
)
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

# The sandbox talks to an in-process stand-in through a requests transport adapter mounted on
# this origin; ".invalid" can never resolve, so nothing ever leaves the process by mistake.
SANDBOX_BASE_URL = "http://mindset-sandbox.invalid"
SANDBOX_APP_UID = "sandbox-app"

# Settings that point the broker at a real vendor. With none of them set, it runs the sandbox.
VENDOR_CREDENTIALS = (
    "MINDSET_API_HOST",
    "MINDSET_API_KEY",
    "MINDSET_APP_UID",
    "TYPINGMIND_JWT_SECRET",
    "TYPINGMIND_URL",
)

DEMO_LOGIN_IN_PRODUCTION = (
    "BROKER_DEMO_LOGIN is on in production: anyone can sign in as anyone and get their "
    "token; set BROKER_DEMO_LOGIN=0"
)


# --- Checks of one value: each raises ConfigError naming its variable -----------------------


def is_plaintext_remote(url: str) -> bool:
    """Whether ``url`` is plain http to a host other than loopback (127.0.0.0/8, ::1, localhost)."""
    parts = urlsplit(url)
    return parts.scheme == "http" and not is_loopback(parts.hostname or "")


def parse_api_host(value: str, *, production: bool = False, allow_plaintext: bool = False) -> str:
    """Turn ``MINDSET_API_HOST`` into a base URL without a trailing slash.

    A bare host means HTTPS, as the vendor serves it; a full URL with a scheme is used as is,
    so tests and staging can point at ``http://127.0.0.1:9911``. Every call carries the API
    key and a user's identity, and its answer is a credential: in production plain http is
    refused off loopback, unless the operator opts out with ``MINDSET_ALLOW_PLAINTEXT_HOST``.
    """
    if "://" not in value:
        if not _BARE_HOST.match(value):
            raise ConfigError(
                "MINDSET_API_HOST is malformed: give a host like acme.api.mindset.ai "
                "or a URL like https://acme.api.mindset.ai"
            )
        return f"https://{value}"
    parts = checked_url(
        value,
        "MINDSET_API_HOST is malformed: use http:// or https:// with a host, "
        "and no credentials, query or fragment",
        empty=("query", "fragment"),
        plaintext=None
        if allow_plaintext or not production
        else (
            "MINDSET_API_HOST uses plain http:// to a host that is not loopback: in production "
            "the API key and every token would cross the network readable and alterable; use "
            "https:// (or the bare host), or set MINDSET_ALLOW_PLAINTEXT_HOST=1 if the path to "
            "that host is private and protected"
        ),
    )
    if parts.path.strip("/"):
        # The client adds the API's own path (/api/v1/...): a path here would be sent twice.
        raise ConfigError(
            "MINDSET_API_HOST must be the host only, without a path such as /api/v1: give "
            f"{parts.scheme}://{parts.netloc} (the broker adds the API path itself)"
        )
    return value.rstrip("/")


def parse_typingmind_url(value: str, *, production: bool) -> str:
    """``TYPINGMIND_URL``: https, or http for a loopback host or outside production.

    The login link carries a credential in its query, so it must not cross a network in clear.
    """
    parts = checked_url(
        value,
        "TYPINGMIND_URL is malformed: give your instance's address such as "
        "https://chat.example.com, without credentials",
        plaintext="TYPINGMIND_URL must use https in production: the login link carries a credential"
        if production
        else None,
    )
    if "externalAuthCode" in parts.query:
        raise ConfigError("TYPINGMIND_URL must not already hold an externalAuthCode parameter")
    return value


def parse_sdk_url(value: str | None, *, production: bool) -> str | None:
    """``MINDSET_SDK_URL``: the vendor's SDK script, https (http only outside production)."""
    if value is None:
        return None
    refusal = (
        "MINDSET_SDK_URL must be the https:// URL of the Mindset SDK script your Mindset "
        "team gave you (plain http only outside production)"
    )
    checked_url(
        value,
        refusal,
        plaintext=refusal if production else None,
        plaintext_on_loopback=False,
    )
    return value


def _jwks_url(value: str) -> str:
    refusal = (
        "BROKER_JWKS_URL must be an https:// URL (http:// only on loopback), e.g. "
        "https://login.example.com/.well-known/jwks.json"
    )
    checked_url(value, refusal, plaintext=refusal)
    return value


def parse_cors_origins(value: str | None) -> tuple[str, ...]:
    """``BROKER_CORS_ORIGINS``: comma-separated exact origins, never a wildcard."""
    origins = []
    for part in entries(value):
        if "*" in part:
            raise ConfigError(
                "BROKER_CORS_ORIGINS may not hold a wildcard: credentials are sent, so list "
                "each exact origin, e.g. https://app.example.com"
            )
        parts = checked_url(
            part,
            f"BROKER_CORS_ORIGINS entry {part[:80]!r} is not an origin: use "
            "scheme://host[:port] without a path, e.g. https://app.example.com",
            empty=("path", "query", "fragment"),
        )
        # Browsers send the scheme and host lowercased and leave out a default port.
        host = parts.netloc.lower()
        if parts.port == {"http": 80, "https": 443}[parts.scheme]:
            host = host.rsplit(":", 1)[0]
        origins.append(f"{parts.scheme}://{host}")
    return tuple(origins)


def parse_rate_limit(name: str, value: str | None) -> str | None:
    """A rate in the syntax of ``limits``, as Flask-Limiter's: ``30/minute``, ``5 per hour``,
    ``10/second;100/day``."""
    if value is None:
        return None
    try:
        limits = parse_many(value)
    except ValueError:
        limits = []
    if not limits or any(limit.amount < 1 for limit in limits):
        raise ConfigError(
            f"{name} is not a rate limit: use the syntax of limits (as in Flask-Limiter), e.g. "
            "30/minute, 5 per hour or 10/second;100/day"
        )
    return value


# A DNS name or IPv4 address in ASCII (IDNA-encoded), optionally with a leading dot that also
# allows every subdomain; Werkzeug compares it to the Host header without the port.
_ALLOWED_HOST = re.compile(r"\.?[a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?")


def parse_allowed_hosts(value: str | None) -> tuple[str, ...]:
    """``BROKER_ALLOWED_HOSTS``: comma-separated host names, ``.example.com`` for subdomains."""
    hosts = tuple(part.lower() for part in entries(value))
    for host in hosts:
        if not _ALLOWED_HOST.fullmatch(host):
            raise ConfigError(
                f"BROKER_ALLOWED_HOSTS entry {host[:80]!r} is not a host name: list names such "
                "as broker.example.com (no scheme, port or path; .example.com also allows its "
                "subdomains; IDNA names in their xn-- form)"
            )
    return hosts


def parse_account_uids(value: str | None) -> tuple[str, ...]:
    """``MINDSET_ACCOUNT_UIDS``: comma-separated, at most 10, each 20 to 128 characters."""
    uids = tuple(entries(value))
    if len(uids) > MAX_ACCOUNT_UIDS:
        raise ConfigError(
            f"MINDSET_ACCOUNT_UIDS lists {len(uids)} accounts; the vendor accepts at most "
            f"{MAX_ACCOUNT_UIDS}"
        )
    for position, uid in enumerate(uids, start=1):
        if len(uid) not in ACCOUNT_UID_LENGTHS:
            raise ConfigError(
                f"MINDSET_ACCOUNT_UIDS entry {position} is {len(uid)} characters long; "
                "the vendor accepts 20 to 128"
            )
    return uids


def parse_agent_uids(value: str | None) -> tuple[str, ...]:
    """``BROKER_DEMO_AGENT_UIDS``: comma-separated agent uids for the demo page."""
    uids = tuple(entries(value))
    for position, uid in enumerate(uids, start=1):
        if not _AGENT_UID.fullmatch(uid):
            raise ConfigError(
                f"BROKER_DEMO_AGENT_UIDS entry {position} may hold only letters, digits, "
                "'_' and '-' (at most 128)"
            )
    return uids


IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_trusted_proxies(value: str | None) -> tuple[IPNetwork, ...]:
    """``BROKER_TRUSTED_PROXIES``: comma-separated addresses or CIDR networks."""
    networks = []
    for part in entries(value):
        try:
            networks.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise ConfigError(
                f"BROKER_TRUSTED_PROXIES entry {part!r} is not an IP address or CIDR network "
                "(e.g. 10.0.0.5 or 10.0.0.0/24)"
            ) from None
    return tuple(networks)


# A DNS name with at least one dot, as the domain of an email address must be.
_EMAIL_DOMAIN = re.compile(
    r"(?=.{4,80}$)(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
)


def parse_email_domain(value: str) -> str:
    """``MINDSET_LEGACY_EMAIL_DOMAIN``: a domain such as ``users.example.com``."""
    if not _EMAIL_DOMAIN.fullmatch(value):
        raise ConfigError(
            "MINDSET_LEGACY_EMAIL_DOMAIN must be a domain name such as users.example.com "
            "(no @, no scheme, at most 80 characters)"
        )
    return value.lower()


def parse_redis_url(value: str | None) -> str | None:
    """``BROKER_REDIS_URL``: redis://, rediss:// or unix:// (it may hold a password)."""
    if value is not None and urlsplit(value).scheme not in ("redis", "rediss", "unix"):
        raise ConfigError(
            "BROKER_REDIS_URL must start with redis://, rediss:// or unix://, "
            "e.g. redis://127.0.0.1:6379/0"
        )
    return value


_app_uid = valid_if(
    re.compile(r"[A-Za-z0-9_-]{1,128}").fullmatch,
    "MINDSET_APP_UID may hold only letters, digits, '_' and '-'",
)
_redis_prefix = valid_if(
    re.compile(r"[A-Za-z0-9_.:-]{1,64}").fullmatch,
    "BROKER_REDIS_PREFIX may hold only letters, digits and _ . : - (at most 64)",
)
_metrics_token = valid_if(
    lambda value: len(value) >= MIN_METRICS_TOKEN_LENGTH,
    f"BROKER_METRICS_TOKEN is shorter than {MIN_METRICS_TOKEN_LENGTH} characters: use a long "
    "random value (python -c 'import secrets; print(secrets.token_hex(24))')",
)
_typingmind_secret = valid_if(
    lambda value: len(value.encode()) >= MIN_JWT_SECRET_BYTES,
    f"TYPINGMIND_JWT_SECRET is shorter than {MIN_JWT_SECRET_BYTES} bytes: use the secret "
    "TypingMind gave you, not a shortened or hand-made one",
)
_jwt_secret = valid_if(
    lambda value: len(value.encode()) >= MIN_JWT_SECRET_BYTES,
    f"BROKER_JWT_SECRET is shorter than {MIN_JWT_SECRET_BYTES} bytes: use a long random value "
    "shared with the identity provider",
)
_user_resolver_kind = valid_if(
    lambda value: (
        value in (RESOLVER_SESSION, RESOLVER_HEADERS, RESOLVER_JWT)
        or _CALLABLE_PATH.fullmatch(value)
    ),
    "BROKER_USER_RESOLVER must be session, headers, jwt or a callable's import path such as "
    "mypackage.auth:current_user",
)


def _log_level(value: str) -> str:
    if value.upper() not in LOG_LEVELS:
        raise ConfigError(f"BROKER_LOG_LEVEL must be one of: {', '.join(LOG_LEVELS)}")
    return value.upper()


def _names(value: str) -> tuple[str, ...]:
    return tuple(entries(value))


# --- The declarations: one per setting, on the field that holds it -------------------------
# (name, default, one-line doc, then bounds); the README's table says more of each.


@dataclass(frozen=True)
class MindsetSettings:
    """How to reach the customer's Mindset app and how to describe users to it."""

    base_url: str = text("MINDSET_API_HOST", REQUIRED, "the Mindset API host (bare: https)")
    api_key: str = text("MINDSET_API_KEY", REQUIRED, "the app's API key", secret=True)
    app_uid: str = text("MINDSET_APP_UID", REQUIRED, "your Mindset app's uid", parse=_app_uid)
    identity: str = choice(
        "MINDSET_IDENTITY",
        IDENTITY_EXTERNAL_ID,
        "how users are known to Mindset",
        choices=(IDENTITY_EXTERNAL_ID, IDENTITY_USER_EMAIL),
    )
    account_uids: tuple[str, ...] = text(
        "MINDSET_ACCOUNT_UIDS", (), "accounts every user is added to", parse=parse_account_uids
    )
    external_id_mode: str = choice(
        "MINDSET_EXTERNAL_ID_MODE",
        EXTERNAL_ID_STRICT,
        "ids Mindset would refuse: answered 422, or mapped to accepted ones",
        choices=(EXTERNAL_ID_STRICT, EXTERNAL_ID_DERIVE),
    )
    connect_timeout: float = seconds("MINDSET_CONNECT_TIMEOUT", 3.05, "to connect to Mindset")
    read_timeout: float = seconds("MINDSET_READ_TIMEOUT", 5.0, "to wait for Mindset's answer")
    pool_size: int = integer(
        "MINDSET_POOL_SIZE", 256, "kept-alive connections per worker", minimum=1
    )
    # Token reuse (app/reuse.py): JWTs until their own ``exp`` minus the margin; opaque tokens
    # only for an opted-in fixed time (0 = never, the default: the vendor documents no lifetime).
    reuse_jwt: bool = flag("MINDSET_TOKEN_REUSE_JWT", True, "reuse a JWT until its exp")
    reuse_margin: float = seconds(
        "MINDSET_TOKEN_REUSE_MARGIN", 60.0, "before exp, a JWT stops being reused", maximum=3600
    )
    reuse_seconds: int = integer(
        "MINDSET_TOKEN_REUSE_SECONDS", 0, "reuse any token this long", maximum=MAX_REUSE_SECONDS
    )
    flavor: str = choice(
        "MINDSET_API_FLAVOR",
        FLAVOR_SDK3,
        "sdkusers/auth, or the legacy endpoint (users by email only)",
        choices=(FLAVOR_SDK3, FLAVOR_LEGACY),
    )
    legacy_email_domain: str | None = text(
        "MINDSET_LEGACY_EMAIL_DOMAIN",
        None,
        "legacy flavor: users without an email are sent as <user id>@<this domain>",
        parse=parse_email_domain,
    )
    allow_plaintext_host: bool = flag(
        "MINDSET_ALLOW_PLAINTEXT_HOST", False, "production accepts an http:// API host"
    )


@dataclass(frozen=True)
class SessionSettings:
    """Where the host app's session keeps the signed-in user."""

    # With the default, Flask-Login's "_user_id" is read too (users/session.py).
    user_id_key: str = text(
        "BROKER_SESSION_USER_ID_KEY",
        "user_id",
        "key of the user id; with the default, Flask-Login's `_user_id` is read too",
    )
    user_email_key: str = text("BROKER_SESSION_USER_EMAIL_KEY", "user_email", "key of the email")
    user_name_key: str = text("BROKER_SESSION_USER_NAME_KEY", "user_name", "key of the name")


@dataclass(frozen=True)
class RedisSettings:
    """How the broker uses ``BROKER_REDIS_URL``; Redis is never allowed to slow a request much."""

    prefix: str = text(
        "BROKER_REDIS_PREFIX", "tokenbroker", "first part of every key", parse=_redis_prefix
    )
    timeout: float = seconds(
        "BROKER_REDIS_TIMEOUT", 0.25, "Redis is on the local network, or in trouble", maximum=10
    )
    # After a Redis failure, per-instance state is used for this long before Redis is retried.
    retry_after: float = 5.0


@dataclass(frozen=True)
class ResilienceSettings:
    """How long a token request may take, and how hard the broker tries a failing vendor."""

    deadline: float = seconds(
        "BROKER_DEADLINE", 8.0, "a token request, all attempts and waits included", maximum=60
    )
    retry_attempts: int = integer(
        "BROKER_RETRY_ATTEMPTS", 3, "per token request, the first included", minimum=1, maximum=5
    )
    retry_after_cap: float = seconds(
        "BROKER_RETRY_AFTER_CAP", 2.0, "a vendor Retry-After up to this is waited", maximum=30
    )
    breaker_failures: int = integer(
        "BROKER_BREAKER_FAILURES", 5, "failures that open the circuit", minimum=1, maximum=1000
    )
    breaker_cooldown: float = seconds(
        "BROKER_BREAKER_COOLDOWN", 30.0, "the circuit stays open", maximum=3600
    )


@dataclass(frozen=True)
class ProtectionSettings:
    """Who may call the token routes, how often, and from where."""

    rate_limit: str = text(
        "BROKER_RATE_LIMIT",
        "60/minute",
        "per signed-in user (limits syntax, as Flask-Limiter)",
        parse=partial(parse_rate_limit, "BROKER_RATE_LIMIT"),
    )
    rate_limit_per_ip: str = text(
        "BROKER_RATE_LIMIT_PER_IP",
        "600/minute",
        "per client address",
        parse=partial(parse_rate_limit, "BROKER_RATE_LIMIT_PER_IP"),
    )
    proxy_hops: int = integer(
        "BROKER_PROXY_HOPS", 0, "proxies whose X-Forwarded-* are believed", maximum=10
    )
    cors_origins: tuple[str, ...] = text(
        "BROKER_CORS_ORIGINS", (), "other exact origins that may call", parse=parse_cors_origins
    )
    allowed_hosts: tuple[str, ...] = text(
        "BROKER_ALLOWED_HOSTS", (), "Host names answered (none: any)", parse=parse_allowed_hosts
    )


@dataclass(frozen=True)
class DemoSettings:
    """The demo page (``GET /demo/``): which agent SDK it loads and which agents it shows."""

    # None means the broker's stand-in SDK (development only).
    sdk_url: str | None = text("MINDSET_SDK_URL", None, "the vendor's SDK script")
    agent_uids: tuple[str, ...] = text(
        "BROKER_DEMO_AGENT_UIDS", (), "agents the demo page shows", parse=parse_agent_uids
    )


@dataclass(frozen=True)
class OpsSettings:
    """Operations endpoints."""

    # None: GET /metrics is loopback only, in development.
    metrics_token: str | None = text(
        "BROKER_METRICS_TOKEN",
        None,
        "bearer token for GET /metrics",
        parse=_metrics_token,
        secret=True,
    )


@dataclass(frozen=True)
class TypingMindSettings:
    """How to sign TypingMind ``externalAuthCode`` JWTs and where to send users with one."""

    jwt_secret: str = text(
        "TYPINGMIND_JWT_SECRET",
        REQUIRED,
        "TypingMind's JWT secret",
        parse=_typingmind_secret,
        secret=True,
    )
    url: str = text("TYPINGMIND_URL", REQUIRED, "your TypingMind instance")
    token_ttl: int = integer(
        "TYPINGMIND_TOKEN_TTL", 3600, "a code is valid", minimum=60, maximum=MAX_TYPINGMIND_TTL
    )
    payload: str = choice(
        "TYPINGMIND_PAYLOAD",
        TYPINGMIND_PAYLOAD_USER,
        "what the code says of the user",
        choices=(TYPINGMIND_PAYLOAD_USER, TYPINGMIND_PAYLOAD_ID, TYPINGMIND_PAYLOAD_EMAIL),
    )


@dataclass(frozen=True)
class HeaderResolverSettings:
    """Identity headers set by an authenticating reverse proxy (oauth2-proxy's names)."""

    trusted_proxies: tuple[IPNetwork, ...] = text(
        "BROKER_TRUSTED_PROXIES",
        (),
        "addresses whose identity headers are believed",
        parse=parse_trusted_proxies,
    )
    id_header: str = text("BROKER_HEADER_USER_ID", "X-Forwarded-User", "the user id")
    email_header: str = text("BROKER_HEADER_EMAIL", "X-Forwarded-Email", "the email")
    name_header: str = text("BROKER_HEADER_NAME", "X-Forwarded-Preferred-Username", "the name")


@dataclass(frozen=True)
class JwtResolverSettings:
    """Bearer tokens from the host's identity provider: one shared secret or a JWKS URL."""

    secret: str | None = text(
        "BROKER_JWT_SECRET", None, "HMAC secret of the provider", parse=_jwt_secret, secret=True
    )
    jwks_url: str | None = text("BROKER_JWKS_URL", None, "the provider's JWKS", parse=_jwks_url)
    # With a JWKS URL the default is PUBLIC_KEY_DEFAULT_ALGORITHMS.
    algorithms: tuple[str, ...] = text(
        "BROKER_JWT_ALGORITHMS", ("HS256",), "accepted algorithms", parse=_names
    )
    issuer: str | None = text("BROKER_JWT_ISSUER", None, "required iss, when set")
    audience: str | None = text("BROKER_JWT_AUDIENCE", None, "required aud, when set")
    leeway: float = seconds("BROKER_JWT_LEEWAY", 30.0, "of clock skew tolerated on exp")
    id_claim: str = text("BROKER_JWT_ID_CLAIM", "sub", "claim with the user id")
    email_claim: str = text("BROKER_JWT_EMAIL_CLAIM", "email", "claim with the email")
    name_claim: str = text("BROKER_JWT_NAME_CLAIM", "name", "claim with the display name")
    jwks_cache_seconds: int = integer(
        "BROKER_JWKS_CACHE_SECONDS", 300, "fetched keys are kept", minimum=1, maximum=86400
    )
    jwks_timeout: float = seconds("BROKER_JWKS_TIMEOUT", 5.0, "for the JWKS endpoint", maximum=60)
    # Least seconds between refetches forced by an unknown kid, so made-up kids in a stream of
    # bad tokens cannot turn the broker into a flood against the identity provider.
    jwks_refresh_cooldown: int = integer(
        "BROKER_JWKS_REFRESH_COOLDOWN", 30, "between refetches for an unknown kid", maximum=3600
    )


@dataclass(frozen=True)
class UserResolverSettings:
    """Which way the broker learns who is signed in (``BROKER_USER_RESOLVER``)."""

    kind: str = text(
        "BROKER_USER_RESOLVER",
        RESOLVER_SESSION,
        "session, headers, jwt or package.module:function",
        parse=_user_resolver_kind,
    )
    # For kind "custom": the "package.module:function" to import at start-up.
    callable_path: str | None = None
    headers: HeaderResolverSettings = HeaderResolverSettings()
    jwt: JwtResolverSettings | None = None


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Everything the broker needs, validated."""

    env: str = choice(
        "BROKER_ENV",
        DEVELOPMENT,
        "production or development; anything else is refused",
        choices=(PRODUCTION, DEVELOPMENT),
    )
    # Generated in development when unset (secret_key_generated).
    secret_key: str = text("SECRET_KEY", REQUIRED, "signs the session cookie", secret=True)
    secret_key_generated: bool
    sandbox: bool
    # On by default in the sandbox.
    demo_login: bool = flag("BROKER_DEMO_LOGIN", False, "the demo page and its login")
    mindset: MindsetSettings | None
    session: SessionSettings = SessionSettings()
    session_cookie_name: str = text("BROKER_SESSION_COOKIE_NAME", "session", "the cookie's name")
    session_cookie_domain: str | None = text(
        "BROKER_SESSION_COOKIE_DOMAIN", None, "the cookie's domain"
    )
    # Shared state between instances (rate-limit counters, reusable tokens, coalescing);
    # without it everything is kept per process.
    redis_url: str | None = text(
        "BROKER_REDIS_URL",
        None,
        "Redis shared by all instances",
        parse=parse_redis_url,
        secret=True,
    )
    redis: RedisSettings = RedisSettings()
    resilience: ResilienceSettings = ResilienceSettings()
    protection: ProtectionSettings = ProtectionSettings()
    demo: DemoSettings = DemoSettings()
    ops: OpsSettings = OpsSettings()
    typingmind: TypingMindSettings | None = None
    users: UserResolverSettings = UserResolverSettings()

    @property
    def is_production(self) -> bool:
        return self.env == PRODUCTION


# Settings that hold no field of their own.
SANDBOX = declared(flag("BROKER_SANDBOX", False, "production runs the sandbox on purpose"))
# Read by create_app before the rest, so the rest's problems are logged at the right level.
LOG_LEVEL = declared(text("BROKER_LOG_LEVEL", "INFO", "the log level", parse=_log_level))
# An environment variable only: it says where the others are read from.
ENV_FILE = declared(text("BROKER_ENV_FILE", ".env", "the dotenv file to read"))


# --- Reading: the declarations, then the rules across settings -----------------------------


def parse_log_level(value: Any) -> str:
    """``BROKER_LOG_LEVEL``: the broker's log level (and gunicorn's own)."""
    level: str = Reader({LOG_LEVEL.name: value}).read(LOG_LEVEL)
    return level


def load_settings(source: Mapping[str, Any], *, reader: Reader | None = None) -> Settings:
    """Validate ``source`` and build :class:`Settings`, or raise :class:`ConfigError`.

    With a noting reader (:func:`find_problems`) every refusal is noted instead, and reading
    carries on with the default, so each problem is found in the order start-up meets them.
    """
    reader = reader or Reader(source)
    env = reader.field(Settings, "env")
    production = env == PRODUCTION
    secret_key, generated = _secret_key(reader, production)
    sandbox = _sandbox(reader, production)
    mindset = _sandbox_mindset(reader) if sandbox else _mindset(reader, production)
    own = reader.values(Settings, skip=("env", "secret_key"), defaults={"demo_login": sandbox})
    return Settings(
        env=env,
        secret_key=secret_key,
        secret_key_generated=generated,
        sandbox=sandbox,
        mindset=mindset,
        **own,
        session=reader.section(SessionSettings),
        redis=reader.section(RedisSettings),
        resilience=reader.section(ResilienceSettings),
        protection=reader.section(ProtectionSettings),
        demo=reader.section(
            DemoSettings,
            sdk_url=reader.attempt(
                lambda: parse_sdk_url(reader.field(DemoSettings, "sdk_url"), production=production),
                None,
            ),
        ),
        ops=reader.section(OpsSettings),
        typingmind=_typingmind(reader, production),
        users=_user_resolver(reader),
    )


def find_problems(source: Mapping[str, Any]) -> list[str]:
    """Every problem in ``source``, not only the first one (for ``flask config check``)."""
    return check_configuration(source)[0]


def check_configuration(source: Mapping[str, Any]) -> tuple[list[str], Settings]:
    """Every problem in ``source``, and the settings read with a default for each bad value.

    The same reading as start-up, with a reader that notes each refusal and carries on, so one
    bad setting does not hide another; then what start-up accepts but production refuses.
    The settings let ``config check`` also say what a working part would warn about.
    """
    reader = NotingReader(source)
    settings = load_settings(source, reader=reader)
    reader.read(LOG_LEVEL)
    for refusal in production_refusals(reader):
        reader.refuse(refusal)
    return reader.problems, settings


def production_refusals(reader: Reader) -> list[str]:
    """Settings that start (so a demo can be shown) but that ``config check`` refuses.

    Start-up logs them as errors; ``config check`` exits non-zero, so a deploy pipeline that
    runs it stops before real users meet them.
    """
    if reader.field(Settings, "env") != PRODUCTION:
        return []
    # The demo login signs users into the session: with another resolver it is off anyway.
    if (
        reader.field(Settings, "demo_login", default=_no_vendor_credentials(reader))
        and reader.field(UserResolverSettings, "kind") == RESOLVER_SESSION
    ):
        return [DEMO_LOGIN_IN_PRODUCTION]
    return []


def plaintext_vendor_host(settings: Settings) -> bool:
    """Whether production talks to Mindset over plain http off loopback (by the opt-out)."""
    mindset = settings.mindset
    return (
        settings.is_production
        and not settings.sandbox
        and mindset is not None
        and is_plaintext_remote(mindset.base_url)
    )


def weak_secret_key(value: str) -> str | None:
    """Why ``value`` is too weak to sign sessions (never quoting it), or None."""
    if value.strip().lower() in WELL_KNOWN_SECRET_KEYS:
        return "it is a well-known placeholder value"
    if len(set(value)) < 4:  # "xxxx...": long, yet no secret at all
        return "it repeats one or a few characters"
    if len(value.encode()) < MIN_SECRET_KEY_BYTES:
        return f"it is shorter than {MIN_SECRET_KEY_BYTES} bytes"
    return None


def _secret_key(reader: Reader, production: bool) -> tuple[str, bool]:
    secret_key = reader.field(Settings, "secret_key")
    if secret_key is not None:
        weakness = weak_secret_key(secret_key) if production else None
        if weakness is not None:
            reader.refuse(
                f"SECRET_KEY is too weak for production: {weakness}, and whoever guesses it can "
                "sign in as anyone; set a long random value shared with the host app "
                "(python -c 'import secrets; print(secrets.token_hex(32))')"
            )
        return secret_key, False
    if production:
        reader.refuse(
            "SECRET_KEY is required in production: set it to a long random value shared "
            "with the host app (python -c 'import secrets; print(secrets.token_hex(32))')"
        )
    return secrets.token_hex(32), True


def _no_vendor_credentials(reader: Reader) -> bool:
    return not any(reader.raw(name) is not None for name in VENDOR_CREDENTIALS)


def _sandbox(reader: Reader, production: bool) -> bool:
    # Knobs such as MINDSET_IDENTITY may be tried on the sandbox; any credential turns it off.
    sandbox = _no_vendor_credentials(reader)
    if sandbox and production and not reader.read(SANDBOX):
        reader.refuse(
            "MINDSET_API_HOST, MINDSET_API_KEY and MINDSET_APP_UID are not set, so the broker "
            "would run on its fake sandbox vendor; configure Mindset, or set BROKER_SANDBOX=1 "
            "to run the sandbox in production on purpose"
        )
    return sandbox


def _mindset(reader: Reader, production: bool) -> MindsetSettings | None:
    host, key, app_uid = (reader.raw(name) for name in VENDOR_CREDENTIALS[:3])
    if host is None and key is None and app_uid is None:
        return None
    for value, name, what in (
        (host, "MINDSET_API_HOST", "the API host the Mindset team gave you"),
        (key, "MINDSET_API_KEY", "a key from the Mindset admin portal (API Management)"),
        (app_uid, "MINDSET_APP_UID", "your Mindset app's uid"),
    ):
        if value is None:  # each missing one named, so one check tells the whole story
            reader.refuse(f"{name} is missing: set it to {what} (Mindset is partly configured)")
    values = reader.values(MindsetSettings, skip=("base_url",))
    base_url = host and reader.attempt(
        lambda: parse_api_host(
            str(host), production=production, allow_plaintext=values["allow_plaintext_host"]
        ),
        "",
    )
    return MindsetSettings(base_url=base_url, **values)


def _sandbox_mindset(reader: Reader) -> MindsetSettings:
    # A fresh random key per process: the sandbox checks it exactly as the vendor would.
    return reader.section(
        MindsetSettings,
        base_url=SANDBOX_BASE_URL,
        api_key=secrets.token_urlsafe(24),
        app_uid=SANDBOX_APP_UID,
    )


def _typingmind(reader: Reader, production: bool) -> TypingMindSettings | None:
    secret, url = (reader.raw(name) for name in VENDOR_CREDENTIALS[3:])
    if secret is None and url is None:
        return None
    if secret is None:
        reader.refuse(
            "TYPINGMIND_JWT_SECRET is missing: set it to the JWT secret from TypingMind's "
            "admin panel (User Authentication > JWT) (TypingMind is partly configured)"
        )
    if url is None:
        reader.refuse(
            "TYPINGMIND_URL is missing: set it to your TypingMind instance, e.g. "
            "https://chat.example.com (TypingMind is partly configured)"
        )
    values = reader.values(TypingMindSettings, skip=("url",))
    checked = url and reader.attempt(
        lambda: parse_typingmind_url(str(url), production=production), ""
    )
    return TypingMindSettings(url=checked, **values)


def _user_resolver(reader: Reader) -> UserResolverSettings:
    value = reader.field(UserResolverSettings, "kind")
    builtin = value in (RESOLVER_SESSION, RESOLVER_HEADERS, RESOLVER_JWT)
    kind = value if builtin else RESOLVER_CUSTOM
    return UserResolverSettings(
        kind=kind,
        callable_path=None if builtin else value,
        headers=reader.section(HeaderResolverSettings),
        jwt=_jwt_resolver(reader) if kind == RESOLVER_JWT else None,
    )


def _jwt_resolver(reader: Reader) -> JwtResolverSettings:
    hmac = reader.raw("BROKER_JWT_SECRET") is not None
    if hmac == (reader.raw("BROKER_JWKS_URL") is not None):
        # Both at once would let a token choose between HMAC and public keys.
        reader.refuse(
            "BROKER_USER_RESOLVER=jwt needs exactly one of BROKER_JWT_SECRET (HS256) and "
            "BROKER_JWKS_URL (RS256/ES256 keys of your identity provider)"
        )
    family = tuple(HMAC_ALGORITHMS) if hmac else PUBLIC_KEY_ALGORITHMS
    default = JwtResolverSettings.algorithms if hmac else PUBLIC_KEY_DEFAULT_ALGORITHMS
    values = reader.values(JwtResolverSettings, defaults={"algorithms": default})
    # A value of commas only lists nothing: the default then.
    algorithms = values["algorithms"] = values["algorithms"] or default
    if any(name not in family for name in algorithms):
        reader.refuse(
            f"BROKER_JWT_ALGORITHMS may list only {', '.join(family)} with this key source"
        )
    elif hmac and values["secret"] is not None:
        needed = max(HMAC_ALGORITHMS[name] for name in algorithms)
        if len(values["secret"].encode()) < needed:
            reader.refuse(
                f"BROKER_JWT_SECRET is shorter than {needed} bytes, the least for "
                f"{', '.join(algorithms)}; use a longer secret or BROKER_JWT_ALGORITHMS=HS256"
            )
    return JwtResolverSettings(**values)


# Every name the broker reads from a configuration mapping, secrets' ``NAME_FILE`` forms
# included: what a standalone app copies from its environment into ``app.config``, and
# nothing else (the environment also holds names Flask itself reads, such as SERVER_NAME).
SETTING_NAMES = frozenset(
    {*DECLARED, *(name + FILE_SUFFIX for name, setting in DECLARED.items() if setting.secret)}
)
