"""Checks of one value: each parses a setting or raises ConfigError naming its variable."""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

from limits import parse_many

from .constants import (
    _AGENT_UID,
    _BARE_HOST,
    _CALLABLE_PATH,
    ACCOUNT_UID_LENGTHS,
    LOG_LEVELS,
    MAX_ACCOUNT_UIDS,
    MIN_JWT_SECRET_BYTES,
    MIN_METRICS_TOKEN_LENGTH,
    RESOLVER_HEADERS,
    RESOLVER_JWT,
    RESOLVER_SESSION,
)
from .table import ConfigError, checked_url, entries, is_loopback, valid_if

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


# Sent as the x-api-key header: visible ASCII, spaces only inside, no line break or control.
_api_key = valid_if(
    re.compile(r"[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?").fullmatch,
    "MINDSET_API_KEY holds a character an HTTP header cannot carry (a line break, a control "
    "or non-ASCII character, or space around it): copy the key again from the Mindset portal",
)
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
