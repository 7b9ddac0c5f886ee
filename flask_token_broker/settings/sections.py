"""The declarations: one per setting, on the field of the section dataclass that holds it."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from .checks import (
    _api_key,
    _app_uid,
    _log_level,
    _metrics_token,
    _redis_prefix,
    _typingmind_secret,
    parse_account_uids,
    parse_agent_uids,
    parse_allowed_hosts,
    parse_cors_origins,
    parse_email_domain,
    parse_rate_limit,
    parse_redis_url,
)
from .constants import (
    DEVELOPMENT,
    EXTERNAL_ID_DERIVE,
    EXTERNAL_ID_STRICT,
    FLAVOR_LEGACY,
    FLAVOR_SDK3,
    IDENTITY_EXTERNAL_ID,
    IDENTITY_USER_EMAIL,
    MAX_REUSE_SECONDS,
    MAX_TYPINGMIND_TTL,
    PRODUCTION,
    TYPINGMIND_PAYLOAD_EMAIL,
    TYPINGMIND_PAYLOAD_ID,
    TYPINGMIND_PAYLOAD_USER,
)
from .resolvers import UserResolverSettings
from .table import REQUIRED, choice, declared, flag, integer, seconds, text

# --- The declarations: one per setting, on the field that holds it -------------------------
# (name, default, one-line doc, then bounds); the README's table says more of each.


@dataclass(frozen=True)
class MindsetSettings:
    """How to reach the customer's Mindset app and how to describe users to it."""

    base_url: str = text("MINDSET_API_HOST", REQUIRED, "the Mindset API host (bare: https)")
    api_key: str = text(
        "MINDSET_API_KEY", REQUIRED, "the app's API key", parse=_api_key, secret=True
    )
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
    ipv6_prefix: int = integer(
        "BROKER_RATE_LIMIT_IPV6_PREFIX",
        64,
        "IPv6 addresses in one network of this prefix share a per-address budget",
        minimum=32,
        maximum=128,
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
    # A frozen dataclass (resolvers.py): one shared default is safe.
    users: UserResolverSettings = UserResolverSettings()  # noqa: RUF009

    @property
    def is_production(self) -> bool:
        return self.env == PRODUCTION


# Settings that hold no field of their own.
SANDBOX = declared(flag("BROKER_SANDBOX", False, "production runs the sandbox on purpose"))
# Read by create_app before the rest, so the rest's problems are logged at the right level.
LOG_LEVEL = declared(text("BROKER_LOG_LEVEL", "INFO", "the log level", parse=_log_level))
# An environment variable only: it says where the others are read from.
ENV_FILE = declared(text("BROKER_ENV_FILE", ".env", "the dotenv file to read"))
