"""Typed, fail-fast configuration for the token broker.

Every setting is read from one flat mapping of names to values: the process environment
(with a dotenv file underneath it) when the broker runs on its own, or a host application's
``app.config`` when the broker's blueprint is mounted inside another Flask app. Values may be
strings (environment) or already typed (``app.config``); the readers accept both. An empty
value (``NAME=``, as a copied ``.env.example`` leaves it) counts as unset.

Each setting is declared once (:mod:`.table`): as the field of the settings dataclass
that holds it, with its variable, default, kind, bounds, whether it is secret and a one-line
doc. Reading (:func:`load_settings`), every problem ``config check`` lists
(:func:`find_problems`) and the check that every setting is documented all walk those
declarations. The rules that involve more than one setting (a vendor configured by halves,
https in production, one JWT key source) are the section builders below.

Invalid or partial configuration raises one :class:`ConfigError` naming every problem, each
with the variable and what to do, so start-up stops before the first request instead of failing
on it, and one attempt shows all there is to fix. Secrets are never echoed back in those
messages.

A declarative table rather than pydantic-settings or environs: the messages are part of the
product, and start-up and ``config check`` must list every problem, not only the first. Both
libraries would need a custom validator per setting to keep each message and an adapter to run
the cross-setting rules in both modes, so they would add a dependency without removing code.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .checks import (
    is_plaintext_remote,
    parse_account_uids,
    parse_api_host,
    parse_cors_origins,
    parse_rate_limit,
    parse_sdk_url,
)
from .constants import (
    DEMO_LOGIN_IN_PRODUCTION,
    EXTERNAL_ID_DERIVE,
    FLAVOR_LEGACY,
    FLAVOR_SDK3,
    IDENTITY_USER_EMAIL,
    MAX_REUSE_SECONDS,
    MIN_SECRET_KEY_BYTES,
    PRODUCTION,
    RESOLVER_CUSTOM,
    RESOLVER_HEADERS,
    RESOLVER_JWT,
    RESOLVER_SESSION,
    TYPINGMIND_PAYLOAD_EMAIL,
    TYPINGMIND_PAYLOAD_ID,
    WELL_KNOWN_SECRET_KEYS,
)
from .protection_sections import ProtectionSettings, RedisSettings, ResilienceSettings
from .reader import NotingReader, Reader
from .resolvers import (
    JWT_WITHOUT_AUDIENCE,
    HeaderResolverSettings,
    JwtResolverSettings,
    UserResolverSettings,
    user_resolver_section,
)
from .secret_files import secret_sources, with_secret_files_read
from .sections import LOG_LEVEL, DemoSettings, OpsSettings, SessionSettings, Settings
from .table import DECLARED, FILE_SUFFIX, ConfigError
from .vendor_sections import MindsetSettings, TypingMindSettings
from .vendors import (
    mindset_section,
    no_vendor_credentials,
    sandbox_mindset,
    sandbox_section,
    typingmind_section,
)

# The names the rest of the package reads; each is defined in the module of its concern.
__all__ = [
    "DECLARED",
    "DEMO_LOGIN_IN_PRODUCTION",
    "EXTERNAL_ID_DERIVE",
    "FLAVOR_LEGACY",
    "FLAVOR_SDK3",
    "IDENTITY_USER_EMAIL",
    "JWT_WITHOUT_AUDIENCE",
    "LOG_LEVEL",
    "MAX_REUSE_SECONDS",
    "RESOLVER_CUSTOM",
    "RESOLVER_HEADERS",
    "RESOLVER_JWT",
    "RESOLVER_SESSION",
    "SETTING_NAMES",
    "TYPINGMIND_PAYLOAD_EMAIL",
    "TYPINGMIND_PAYLOAD_ID",
    "ConfigError",
    "HeaderResolverSettings",
    "JwtResolverSettings",
    "MindsetSettings",
    "ProtectionSettings",
    "RedisSettings",
    "ResilienceSettings",
    "SessionSettings",
    "Settings",
    "TypingMindSettings",
    "UserResolverSettings",
    "check_configuration",
    "find_problems",
    "load_settings",
    "parse_account_uids",
    "parse_api_host",
    "parse_cors_origins",
    "parse_log_level",
    "parse_rate_limit",
    "plaintext_vendor_host",
    "production_refusals",
    "secret_sources",
    "weak_secret_key",
    "with_secret_files_read",
]

# --- Reading: the declarations, then the rules across settings -----------------------------


def parse_log_level(value: Any) -> str:
    """``BROKER_LOG_LEVEL``: the broker's log level (and gunicorn's own)."""
    level: str = Reader({LOG_LEVEL.name: value}).read(LOG_LEVEL)
    return level


def load_settings(
    source: Mapping[str, Any], *, checks: Iterable[Callable[[Settings], object]] = ()
) -> Settings:
    """Validate ``source`` and build :class:`Settings`, or raise one :class:`ConfigError`
    naming every problem, as ``config check`` lists them, not only the first.

    ``checks``: further checks of the settings (a resolver's import), each raising
    :class:`ConfigError`; they see the settings read with a default for each bad value, so
    their problems are named with the settings' own.
    """
    reader = NotingReader(source)
    settings = _read_settings(reader)
    for check in checks:
        try:
            check(settings)
        except ConfigError as error:
            reader.refuse_all(error)
    if reader.problems:
        raise ConfigError(*reader.problems)
    return settings


def _read_settings(reader: Reader) -> Settings:
    """The settings as ``reader`` reads them: each refusal noted, a default in its place."""
    env = reader.field(Settings, "env")
    production = env == PRODUCTION
    secret_key, generated = _secret_key(reader, production)
    sandbox = sandbox_section(reader, production)
    mindset = sandbox_mindset(reader) if sandbox else mindset_section(reader, production)
    own = reader.values(Settings, skip=("env", "secret_key"), defaults={"demo_login": sandbox})
    return Settings(
        env=env,
        secret_key=secret_key,
        secret_key_generated=generated,
        sandbox=sandbox,
        mindset=mindset,
        **own,
        demo_login_set=reader.given(Settings, "demo_login"),
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
        typingmind=typingmind_section(reader, production),
        users=user_resolver_section(reader, production=production),
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
    settings = _read_settings(reader)
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
        reader.field(Settings, "demo_login", default=no_vendor_credentials(reader))
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
    # Set but refused (an unreadable SECRET_KEY_FILE) is reported as that alone.
    given = reader.is_set("SECRET_KEY")
    if production and not given:
        reader.refuse(
            "SECRET_KEY is required in production: set it to a long random value shared "
            "with the host app (python -c 'import secrets; print(secrets.token_hex(32))')"
        )
    return secrets.token_hex(32), not given


# Every name the broker reads from a configuration mapping, secrets' ``NAME_FILE`` forms
# included: what a standalone app copies from its environment into ``app.config``, and
# nothing else (the environment also holds names Flask itself reads, such as SERVER_NAME).
SETTING_NAMES = frozenset(
    {*DECLARED, *(name + FILE_SUFFIX for name, setting in DECLARED.items() if setting.secret)}
)
