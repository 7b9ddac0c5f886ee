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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from dotenv import dotenv_values

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
_AGENT_UID = re.compile(r"[A-Za-z0-9_-]{1,128}")
MIN_METRICS_TOKEN_LENGTH = 16
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
class DemoSettings:
    """The demo page (``GET /demo/``): which agent SDK it loads and which agents it shows."""

    # The vendor's SDK script; None means the broker's stand-in SDK (development only).
    sdk_url: str | None = None
    agent_uids: tuple[str, ...] = ()


@dataclass(frozen=True)
class OpsSettings:
    """Operations endpoints."""

    # Bearer token a scraper must send to GET /metrics; None: loopback only, in development.
    metrics_token: str | None = field(default=None, repr=False)


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
    demo: DemoSettings = DemoSettings()
    ops: OpsSettings = OpsSettings()

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


def load_settings(source: Mapping[str, Any], *, reader: _Reader | None = None) -> Settings:
    """Validate ``source`` and build :class:`Settings`, or raise :class:`ConfigError`."""
    reader = reader or _Reader(source)
    env, secret_key, generated, sandbox = _environment(reader)
    production = env == PRODUCTION

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
        demo=_demo(reader, production),
        ops=_ops(reader),
    )


def _environment(reader: _Reader) -> tuple[str, str, bool, bool]:
    """``(env, secret_key, secret_key_generated, sandbox)``."""
    env = PRODUCTION if _production(reader) else DEVELOPMENT
    secret_key, generated = _secret_key(reader, env == PRODUCTION)
    return env, secret_key, generated, _sandbox(reader, env == PRODUCTION)


def _secret_key(reader: _Reader, production: bool) -> tuple[str, bool]:
    secret_key = reader.text("SECRET_KEY")
    if secret_key is not None:
        return secret_key, False
    if production:
        raise ConfigError(
            "SECRET_KEY is required in production: set it to a long random value shared "
            "with the host app (python -c 'import secrets; print(secrets.token_hex(32))')"
        )
    return secrets.token_hex(32), True


def _sandbox(reader: _Reader, production: bool) -> bool:
    # Knobs such as MINDSET_IDENTITY may be tried on the sandbox; any credential turns it off.
    sandbox = not any(reader.raw(name) is not None for name in VENDOR_CREDENTIALS)
    if sandbox and production and not reader.flag("BROKER_SANDBOX", default=False):
        raise ConfigError(
            "MINDSET_API_HOST, MINDSET_API_KEY and MINDSET_APP_UID are not set, so the broker "
            "would run on its fake sandbox vendor; configure Mindset, or set BROKER_SANDBOX=1 "
            "to run the sandbox in production on purpose"
        )
    return sandbox


def find_problems(source: Mapping[str, Any]) -> list[str]:
    """Every problem in ``source``, not only the first one (for ``flask config check``).

    :func:`load_settings` stops at the first problem, as start-up should. Here a reader that
    notes a bad typed value and carries on with its default runs it once, then each section
    is checked on its own, so one bad section does not hide another. A new section of
    :class:`Settings` belongs in :data:`SECTION_CHECKS` too.
    """
    reader = _NotingReader(source)
    try:
        load_settings(source, reader=reader)
    except ConfigError as error:
        reader.note(error)
    for check in SECTION_CHECKS:
        try:
            check(reader)
        except ConfigError as error:
            reader.note(error)
    return reader.problems


def _production(reader: _Reader) -> bool:
    return reader.text("BROKER_ENV") == PRODUCTION


def _vendor_section(reader: _Reader) -> object:
    sandbox = not any(reader.raw(name) is not None for name in VENDOR_CREDENTIALS)
    return _sandbox_mindset(reader) if sandbox else _mindset(reader)


def _api_host_section(reader: _Reader) -> object:
    host = reader.text("MINDSET_API_HOST")
    return None if host is None else parse_api_host(host)


# Each builds one section of Settings from a reader and raises ConfigError when it cannot.
SECTION_CHECKS: list[Callable[[_Reader], object]] = [
    lambda reader: _secret_key(reader, _production(reader)),
    lambda reader: _sandbox(reader, _production(reader)),
    _vendor_section,
    # Also on their own: a partly configured vendor stops _vendor_section before these.
    lambda reader: _mindset_knobs(reader),
    _api_host_section,
    lambda reader: reader.flag("BROKER_DEMO_LOGIN", default=False),
    lambda reader: parse_redis_url(reader.text("BROKER_REDIS_URL")),
    lambda reader: _demo(reader, _production(reader)),
    lambda reader: _ops(reader),
]


def _demo(reader: _Reader, production: bool) -> DemoSettings:
    return DemoSettings(
        sdk_url=parse_sdk_url(reader.text("MINDSET_SDK_URL"), production=production),
        agent_uids=parse_agent_uids(reader.text("BROKER_DEMO_AGENT_UIDS")),
    )


def _ops(reader: _Reader) -> OpsSettings:
    token = reader.text("BROKER_METRICS_TOKEN")
    if token is not None and len(token) < MIN_METRICS_TOKEN_LENGTH:
        raise ConfigError(
            f"BROKER_METRICS_TOKEN is shorter than {MIN_METRICS_TOKEN_LENGTH} characters: "
            "use a long random value (python -c 'import secrets; print(secrets.token_hex(24))')"
        )
    return OpsSettings(metrics_token=token)


def parse_sdk_url(value: str | None, *, production: bool) -> str | None:
    """``MINDSET_SDK_URL``: the vendor's SDK script, https (http only outside production)."""
    if value is None:
        return None
    try:
        parts = urlsplit(value)
    except ValueError:
        parts = None
    schemes = ("https",) if production else ("http", "https")
    if (
        parts is None
        or parts.scheme not in schemes
        or not parts.hostname
        or parts.username
        or parts.password
    ):
        raise ConfigError(
            "MINDSET_SDK_URL must be the https:// URL of the Mindset SDK script your Mindset "
            "team gave you (plain http only outside production)"
        )
    return value


def parse_agent_uids(value: str | None) -> tuple[str, ...]:
    """``BROKER_DEMO_AGENT_UIDS``: comma-separated agent uids for the demo page."""
    if value is None:
        return ()
    uids = tuple(part.strip() for part in value.split(",") if part.strip())
    for position, uid in enumerate(uids, start=1):
        if not _AGENT_UID.fullmatch(uid):
            raise ConfigError(
                f"BROKER_DEMO_AGENT_UIDS entry {position} may hold only letters, digits, "
                "'_' and '-' (at most 128)"
            )
    return uids


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


class _NotingReader(_Reader):
    """A reader that notes each bad typed value and answers the default instead of raising."""

    def __init__(self, source: Mapping[str, Any]) -> None:
        super().__init__(source)
        self.problems: list[str] = []

    def note(self, error: ConfigError) -> None:
        if str(error) not in self.problems:
            self.problems.append(str(error))

    def flag(self, name: str, *, default: bool) -> bool:
        try:
            return super().flag(name, default=default)
        except ConfigError as error:
            self.note(error)
            return default

    def choice(self, name: str, allowed: tuple[str, ...], default: str) -> str:
        try:
            return super().choice(name, allowed, default)
        except ConfigError as error:
            self.note(error)
            return default

    def seconds(self, name: str, default: float, *, maximum: float = 300.0) -> float:
        try:
            return super().seconds(name, default, maximum=maximum)
        except ConfigError as error:
            self.note(error)
            return default

    def integer(self, name: str, default: int, *, minimum: int = 0, maximum: int = 10**9) -> int:
        try:
            return super().integer(name, default, minimum=minimum, maximum=maximum)
        except ConfigError as error:
            self.note(error)
            return default
