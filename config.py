"""Typed, fail-fast configuration for the token broker.

Every setting is read from one flat mapping of names to values: the process environment
(with a dotenv file underneath it) when the broker runs on its own, or a host application's
``app.config`` when the broker's blueprint is mounted inside another Flask app. Values may be
strings (environment) or already typed (``app.config``); the readers below accept both.

An empty value (``NAME=``, as a copied ``.env.example`` leaves it) counts as unset.

Invalid or partial configuration raises :class:`ConfigError` with one line that names the
variable and says what to do, so start-up stops before the first request instead of failing
on it. Secrets are never echoed back in those messages.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from dotenv import dotenv_values
from limits import parse_many

PRODUCTION = "production"
DEVELOPMENT = "development"

IDENTITY_EXTERNAL_ID = "externalId"
IDENTITY_USER_EMAIL = "userEmail"
EXTERNAL_ID_STRICT = "strict"
EXTERNAL_ID_DERIVE = "derive"

# The vendor's documented limits for accountUids.
MAX_ACCOUNT_UIDS = 10
ACCOUNT_UID_LENGTHS = range(20, 129)

# A bare host name, optionally with a port: what the vendor hands out ("acme.api.mindset.ai").
_BARE_HOST = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?(?::\d{1,5})?$")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}

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


class ConfigError(ValueError):
    """The configuration cannot work; the message names the variable and the fix."""


@dataclass(frozen=True)
class MindsetSettings:
    """How to reach the customer's Mindset app and how to describe users to it."""

    base_url: str
    api_key: str = field(repr=False)
    app_uid: str
    identity: str = IDENTITY_EXTERNAL_ID
    account_uids: tuple[str, ...] = ()
    external_id_mode: str = EXTERNAL_ID_STRICT
    connect_timeout: float = 3.05
    read_timeout: float = 5.0
    pool_size: int = 256


@dataclass(frozen=True)
class SessionSettings:
    """Where the host app's session keeps the signed-in user."""

    user_id_key: str = "user_id"
    user_email_key: str = "user_email"
    user_name_key: str = "user_name"


@dataclass(frozen=True)
class ResilienceSettings:
    """How long a token request may take, and how hard the broker tries a failing vendor."""

    # No combination of attempts, back-off and timeouts may make a token request exceed this.
    deadline: float = 8.0
    # Attempts per token request, the first included; only failures worth retrying repeat.
    retry_attempts: int = 3
    # A vendor Retry-After up to this is waited out (within the deadline); longer is passed on.
    retry_after_cap: float = 2.0
    # Consecutive failed token requests that open the circuit, and how long it stays open.
    breaker_failures: int = 5
    breaker_cooldown: float = 30.0


@dataclass(frozen=True)
class ProtectionSettings:
    """Who may call the token routes, how often, and from where."""

    # Flask-Limiter rate strings: per signed-in user, and per client address.
    rate_limit: str = "60/minute"
    rate_limit_per_ip: str = "600/minute"
    # Proxies in front of the broker whose X-Forwarded-* headers are trusted (0: none).
    proxy_hops: int = 0
    # Exact origins (scheme://host[:port]) other than the broker's own that may call it.
    cors_origins: tuple[str, ...] = ()


@dataclass(frozen=True)
class Settings:
    """Everything the broker needs, validated."""

    env: str
    secret_key: str = field(repr=False)
    secret_key_generated: bool
    sandbox: bool
    demo_login: bool
    mindset: MindsetSettings | None
    session: SessionSettings = SessionSettings()
    session_cookie_name: str = "session"
    session_cookie_domain: str | None = None
    # Shared state between instances (rate-limit counters, reusable tokens, coalescing);
    # without it everything is kept per process.
    redis_url: str | None = field(default=None, repr=False)
    resilience: ResilienceSettings = ResilienceSettings()
    protection: ProtectionSettings = ProtectionSettings()

    @property
    def is_production(self) -> bool:
        return self.env == PRODUCTION


def read_environment(env_file: str | None = None) -> dict[str, Any]:
    """The process environment over the dotenv file (``BROKER_ENV_FILE``, default ``.env``).

    Real environment variables win over the file, as operators expect; the file is read, not
    loaded into ``os.environ``, so building an app has no side effects on the process.
    """
    path = env_file or os.environ.get("BROKER_ENV_FILE") or ".env"
    from_file = {k: v for k, v in dotenv_values(path).items() if v is not None}
    return {**from_file, **os.environ}


def load_settings(source: Mapping[str, Any]) -> Settings:
    """Validate ``source`` and build :class:`Settings`, or raise :class:`ConfigError`."""
    reader = _Reader(source)
    env = PRODUCTION if reader.text("BROKER_ENV") == PRODUCTION else DEVELOPMENT
    production = env == PRODUCTION

    secret_key = reader.text("SECRET_KEY")
    generated = False
    if secret_key is None:
        if production:
            raise ConfigError(
                "SECRET_KEY is required in production: set it to a long random value shared "
                "with the host app (python -c 'import secrets; print(secrets.token_hex(32))')"
            )
        secret_key, generated = secrets.token_hex(32), True

    # Knobs such as MINDSET_IDENTITY may be tried on the sandbox; any credential turns it off.
    sandbox = not any(reader.raw(name) is not None for name in VENDOR_CREDENTIALS)
    if sandbox and production and not reader.flag("BROKER_SANDBOX", default=False):
        raise ConfigError(
            "MINDSET_API_HOST, MINDSET_API_KEY and MINDSET_APP_UID are not set, so the broker "
            "would run on its fake sandbox vendor; configure Mindset, or set BROKER_SANDBOX=1 "
            "to run the sandbox in production on purpose"
        )

    return Settings(
        env=env,
        secret_key=secret_key,
        secret_key_generated=generated,
        sandbox=sandbox,
        demo_login=reader.flag("BROKER_DEMO_LOGIN", default=sandbox),
        mindset=_sandbox_mindset(reader) if sandbox else _mindset(reader),
        session=SessionSettings(
            user_id_key=reader.text("BROKER_SESSION_USER_ID_KEY") or "user_id",
            user_email_key=reader.text("BROKER_SESSION_USER_EMAIL_KEY") or "user_email",
            user_name_key=reader.text("BROKER_SESSION_USER_NAME_KEY") or "user_name",
        ),
        session_cookie_name=reader.text("BROKER_SESSION_COOKIE_NAME") or "session",
        session_cookie_domain=reader.text("BROKER_SESSION_COOKIE_DOMAIN"),
        redis_url=parse_redis_url(reader.text("BROKER_REDIS_URL")),
        resilience=_resilience(reader),
        protection=_protection(reader),
    )


def _resilience(reader: _Reader) -> ResilienceSettings:
    return ResilienceSettings(
        deadline=reader.seconds("BROKER_DEADLINE", 8.0, maximum=60.0),
        retry_attempts=reader.integer("BROKER_RETRY_ATTEMPTS", 3, minimum=1, maximum=5),
        retry_after_cap=reader.seconds("BROKER_RETRY_AFTER_CAP", 2.0, maximum=30.0),
        breaker_failures=reader.integer("BROKER_BREAKER_FAILURES", 5, minimum=1, maximum=1000),
        breaker_cooldown=reader.seconds("BROKER_BREAKER_COOLDOWN", 30.0, maximum=3600.0),
    )


def _protection(reader: _Reader) -> ProtectionSettings:
    return ProtectionSettings(
        rate_limit=parse_rate_limit("BROKER_RATE_LIMIT", reader.text("BROKER_RATE_LIMIT"))
        or "60/minute",
        rate_limit_per_ip=parse_rate_limit(
            "BROKER_RATE_LIMIT_PER_IP", reader.text("BROKER_RATE_LIMIT_PER_IP")
        )
        or "600/minute",
        proxy_hops=reader.integer("BROKER_PROXY_HOPS", 0, minimum=0, maximum=10),
        cors_origins=parse_cors_origins(reader.text("BROKER_CORS_ORIGINS")),
    )


def parse_rate_limit(name: str, value: str | None) -> str | None:
    """A Flask-Limiter rate string (``30/minute``, ``5 per hour``, ``10/second;100/day``)."""
    if value is None:
        return None
    try:
        limits = parse_many(value)
    except ValueError:
        limits = []
    if not limits or any(limit.amount < 1 for limit in limits):
        raise ConfigError(
            f"{name} is not a rate limit: use Flask-Limiter's syntax, e.g. 30/minute, "
            "5 per hour or 10/second;100/day"
        )
    return value


def parse_cors_origins(value: str | None) -> tuple[str, ...]:
    """``BROKER_CORS_ORIGINS``: comma-separated exact origins, never a wildcard."""
    if value is None:
        return ()
    origins = []
    for part in (part.strip() for part in value.split(",")):
        if not part:
            continue
        if "*" in part:
            raise ConfigError(
                "BROKER_CORS_ORIGINS may not hold a wildcard: credentials are sent, so list "
                "each exact origin, e.g. https://app.example.com"
            )
        try:
            parts = urlsplit(part)
            port = parts.port
        except ValueError:
            parts, port = None, None
        if (
            parts is None
            or parts.scheme not in ("http", "https")
            or not parts.hostname
            or parts.username is not None
            or parts.path
            or parts.query
            or parts.fragment
            or (port is not None and not 0 < port < 65536)
        ):
            raise ConfigError(
                f"BROKER_CORS_ORIGINS entry {part[:80]!r} is not an origin: use "
                "scheme://host[:port] without a path, e.g. https://app.example.com"
            )
        # Browsers send the scheme and host lowercased and leave out a default port.
        default_port = {"http": 80, "https": 443}[parts.scheme]
        host = parts.netloc.lower()
        if port == default_port:
            host = host.rsplit(":", 1)[0]
        origins.append(f"{parts.scheme}://{host}")
    return tuple(origins)


def _mindset(reader: _Reader) -> MindsetSettings | None:
    host = reader.text("MINDSET_API_HOST")
    key = reader.text("MINDSET_API_KEY")
    app_uid = reader.text("MINDSET_APP_UID")
    if host is None and key is None and app_uid is None:
        return None
    if host is None:
        raise _partly("MINDSET_API_HOST", "the API host the Mindset team gave you")
    if key is None:
        raise _partly("MINDSET_API_KEY", "a key from the Mindset admin portal (API Management)")
    if app_uid is None:
        raise _partly("MINDSET_APP_UID", "your Mindset app's uid")
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,128}", app_uid):
        raise ConfigError("MINDSET_APP_UID may hold only letters, digits, '_' and '-'")
    return MindsetSettings(
        base_url=parse_api_host(host),
        api_key=key,
        app_uid=app_uid,
        **_mindset_knobs(reader),
    )


def _partly(name: str, what: str) -> ConfigError:
    return ConfigError(f"{name} is missing: set it to {what} (Mindset is partly configured)")


def _sandbox_mindset(reader: _Reader) -> MindsetSettings:
    # A fresh random key per process: the sandbox checks it exactly as the vendor would.
    return MindsetSettings(
        base_url=SANDBOX_BASE_URL,
        api_key=secrets.token_urlsafe(24),
        app_uid=SANDBOX_APP_UID,
        **_mindset_knobs(reader),
    )


def _mindset_knobs(reader: _Reader) -> dict[str, Any]:
    return {
        "identity": reader.choice(
            "MINDSET_IDENTITY", (IDENTITY_EXTERNAL_ID, IDENTITY_USER_EMAIL), IDENTITY_EXTERNAL_ID
        ),
        "account_uids": parse_account_uids(reader.text("MINDSET_ACCOUNT_UIDS")),
        "external_id_mode": reader.choice(
            "MINDSET_EXTERNAL_ID_MODE", (EXTERNAL_ID_STRICT, EXTERNAL_ID_DERIVE), EXTERNAL_ID_STRICT
        ),
        "connect_timeout": reader.seconds("MINDSET_CONNECT_TIMEOUT", 3.05),
        "read_timeout": reader.seconds("MINDSET_READ_TIMEOUT", 5.0),
        "pool_size": reader.integer("MINDSET_POOL_SIZE", 256, minimum=1),
    }


def parse_api_host(value: str) -> str:
    """Turn ``MINDSET_API_HOST`` into a base URL without a trailing slash.

    A bare host means HTTPS, as the vendor serves it; a full URL with a scheme is used as is,
    so tests and staging can point at ``http://127.0.0.1:9911``.
    """
    if "://" not in value:
        if not _BARE_HOST.match(value):
            raise ConfigError(
                "MINDSET_API_HOST is malformed: give a host like acme.api.mindset.ai "
                "or a URL like https://acme.api.mindset.ai"
            )
        return f"https://{value}"
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        parts, port = None, None
    if (
        parts is None
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.username
        or parts.password
        or parts.query
        or parts.fragment
        or (port is not None and not 0 < port < 65536)
    ):
        raise ConfigError(
            "MINDSET_API_HOST is malformed: use http:// or https:// with a host, "
            "and no credentials, query or fragment"
        )
    return value.rstrip("/")


def parse_redis_url(value: str | None) -> str | None:
    """``BROKER_REDIS_URL``: redis://, rediss:// or unix:// (it may hold a password)."""
    if value is None:
        return None
    if urlsplit(value).scheme not in ("redis", "rediss", "unix"):
        raise ConfigError(
            "BROKER_REDIS_URL must start with redis://, rediss:// or unix://, "
            "e.g. redis://127.0.0.1:6379/0"
        )
    return value


def parse_account_uids(value: str | None) -> tuple[str, ...]:
    """``MINDSET_ACCOUNT_UIDS``: comma-separated, at most 10, each 20 to 128 characters."""
    if value is None:
        return ()
    uids = tuple(part.strip() for part in value.split(",") if part.strip())
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


class _Reader:
    """Typed reads from a mapping, with the variable's name in every error."""

    def __init__(self, source: Mapping[str, Any]) -> None:
        self._source = source

    def raw(self, name: str) -> Any:
        value = self._source.get(name)
        if isinstance(value, str):
            value = value.strip()
            return value or None
        return value

    def text(self, name: str) -> str | None:
        value = self.raw(name)
        return None if value is None else str(value)

    def flag(self, name: str, *, default: bool) -> bool:
        value = self.raw(name)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        lowered = str(value).lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ConfigError(f"{name} must be 1 or 0 (also true/false, yes/no, on/off)")

    def choice(self, name: str, allowed: tuple[str, ...], default: str) -> str:
        value = self.text(name)
        if value is None:
            return default
        if value not in allowed:
            raise ConfigError(f"{name} must be one of: {', '.join(allowed)}")
        return value

    def seconds(self, name: str, default: float, *, maximum: float = 300.0) -> float:
        value = self.raw(name)
        if value is None:
            return default
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{name} must be a number of seconds") from None
        if not 0 < number <= maximum:
            raise ConfigError(f"{name} must be more than 0 and at most {maximum:g} seconds")
        return number

    def integer(self, name: str, default: int, *, minimum: int = 0, maximum: int = 10**9) -> int:
        value = self.raw(name)
        if value is None:
            return default
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{name} must be a whole number") from None
        if not minimum <= number <= maximum:
            raise ConfigError(f"{name} must be between {minimum} and {maximum}")
        return number
