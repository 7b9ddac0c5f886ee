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
class SessionSettings:
    """Where the host app's session keeps the signed-in user."""

    # With the default, Flask-Login's "_user_id" is read too (users/session.py).
    user_id_key: str = text(
        "BROKER_SESSION_USER_ID_KEY",
        "user_id",
        (
            "session key holding the signed-in user's id; with the default, Flask-Login's "
            "`_user_id` is read too"
        ),
    )
    user_email_key: str = text(
        "BROKER_SESSION_USER_EMAIL_KEY", "user_email", "session key holding the email"
    )
    user_name_key: str = text(
        "BROKER_SESSION_USER_NAME_KEY", "user_name", "session key holding the display name"
    )


@dataclass(frozen=True)
class RedisSettings:
    """How the broker uses ``BROKER_REDIS_URL``; Redis is never allowed to slow a request much."""

    prefix: str = text(
        "BROKER_REDIS_PREFIX",
        "tokenbroker",
        "first part of every Redis key the broker writes",
        parse=_redis_prefix,
    )
    timeout: float = seconds(
        "BROKER_REDIS_TIMEOUT",
        0.25,
        (
            "seconds to connect to Redis or get an answer, for shared tokens and "
            "coalescing, before falling back to per-instance state (rate-limit counters use"
            " a fixed 1 s)"
        ),
        maximum=10,
    )
    # After a Redis failure, per-instance state is used for this long before Redis is retried.
    retry_after: float = 5.0


@dataclass(frozen=True)
class ResilienceSettings:
    """How long a token request may take, and how hard the broker tries a failing vendor."""

    deadline: float = seconds(
        "BROKER_DEADLINE",
        8.0,
        (
            "seconds a token request may take at most, all vendor attempts, waits and "
            "timeouts included (max 60)"
        ),
        maximum=60,
    )
    retry_attempts: int = integer(
        "BROKER_RETRY_ATTEMPTS",
        3,
        (
            "vendor attempts per token request, the first included (1-5); only failures "
            "worth retrying repeat"
        ),
        minimum=1,
        maximum=5,
    )
    retry_after_cap: float = seconds(
        "BROKER_RETRY_AFTER_CAP",
        2.0,
        (
            "a vendor `Retry-After` up to this many seconds is waited out within the "
            "deadline; longer ones are passed on as `503`"
        ),
        maximum=30,
    )
    breaker_failures: int = integer(
        "BROKER_BREAKER_FAILURES",
        5,
        "consecutive failed token requests that open the circuit",
        minimum=1,
        maximum=1000,
    )
    breaker_cooldown: float = seconds(
        "BROKER_BREAKER_COOLDOWN",
        30.0,
        "seconds the circuit stays open before one probe is let through",
        maximum=3600,
    )


@dataclass(frozen=True)
class ProtectionSettings:
    """Who may call the token routes, how often, and from where."""

    rate_limit: str = text(
        "BROKER_RATE_LIMIT",
        "60/minute",
        (
            "per signed-in user, over all token routes; rate syntax of `limits`, as in "
            "Flask-Limiter (`30/minute`, `5 per hour`, `10/second;100/day`)"
        ),
        parse=partial(parse_rate_limit, "BROKER_RATE_LIMIT"),
    )
    rate_limit_per_ip: str = text(
        "BROKER_RATE_LIMIT_PER_IP",
        "600/minute",
        (
            "per client address, every request to token routes and the demo login, "
            "anonymous ones included"
        ),
        parse=partial(parse_rate_limit, "BROKER_RATE_LIMIT_PER_IP"),
    )
    ipv6_prefix: int = integer(
        "BROKER_RATE_LIMIT_IPV6_PREFIX",
        64,
        (
            "IPv6 addresses in one network of this prefix length (32 to 128) share one "
            "per-address budget; an IPv4-mapped IPv6 address counts as its IPv4 address"
        ),
        minimum=32,
        maximum=128,
    )
    proxy_hops: int = integer(
        "BROKER_PROXY_HOPS",
        0,
        (
            "trusted proxies in front of the broker whose `X-Forwarded-For/-Proto/-Host` "
            "are believed; `0` trusts none"
        ),
        maximum=10,
    )
    cors_origins: tuple[str, ...] = text(
        "BROKER_CORS_ORIGINS",
        (),
        (
            "comma-separated exact origins (`https://app.example.com`) other than the "
            "broker's own that may call the token routes from a browser; never a wildcard"
        ),
        parse=parse_cors_origins,
    )
    allowed_hosts: tuple[str, ...] = text(
        "BROKER_ALLOWED_HOSTS",
        (),
        (
            "comma-separated host names the broker answers for (`broker.example.com`; "
            "`.example.com` also allows subdomains), Flask's `TRUSTED_HOSTS`; any other "
            "`Host` is `400 invalid_host`; unset, any Host is taken (production warns)"
        ),
        parse=parse_allowed_hosts,
    )


@dataclass(frozen=True)
class DemoSettings:
    """The demo page (``GET /demo/``): which agent SDK it loads and which agents it shows."""

    # None means the broker's stand-in SDK (development only).
    sdk_url: str | None = text(
        "MINDSET_SDK_URL",
        None,
        (
            "the Mindset SDK script the demo page loads (https); unset, development uses "
            "the broker's stand-in SDK"
        ),
    )
    agent_uids: tuple[str, ...] = text(
        "BROKER_DEMO_AGENT_UIDS",
        (),
        (
            "comma-separated agent uids the demo page shows; unset with the stand-in SDK: "
            "two demo agents"
        ),
        parse=parse_agent_uids,
    )


@dataclass(frozen=True)
class OpsSettings:
    """Operations endpoints."""

    # None: GET /metrics is loopback only, in development.
    metrics_token: str | None = text(
        "BROKER_METRICS_TOKEN",
        None,
        (
            "bearer token for `GET /metrics` (at least 16 characters); unset: off in "
            "production, loopback only in development"
        ),
        parse=_metrics_token,
        secret=True,
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


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Everything the broker needs, validated."""

    env: str = choice(
        "BROKER_ENV",
        DEVELOPMENT,
        (
            "`production` or `development` (anything else is refused). Production makes "
            "`SECRET_KEY` required, cookies `Secure`, https required for `TYPINGMIND_URL` "
            "and `MINDSET_SDK_URL`, `/metrics` off without `BROKER_METRICS_TOKEN`, and "
            "refuses the sandbox"
        ),
        choices=(PRODUCTION, DEVELOPMENT),
    )
    # Generated in development when unset (secret_key_generated).
    secret_key: str = text(
        "SECRET_KEY",
        REQUIRED,
        (
            "signs the session cookie; required in production, where a weak one (shorter "
            "than 32 bytes, a well-known value such as `dev`, `changeme`, `secret`, or a "
            "few characters repeated) stops start-up"
        ),
        secret=True,
    )
    secret_key_generated: bool
    sandbox: bool
    # On by default in the sandbox; demo_login_set: BROKER_DEMO_LOGIN was set, not defaulted.
    demo_login: bool = flag(
        "BROKER_DEMO_LOGIN",
        False,
        (
            "`1` enables the demo page `GET /demo/`, `POST /demo/login` and `/demo/logout`;"
            " off, all are 404; in production an error line at start-up and a failed "
            "`config check`"
        ),
    )
    demo_login_set: bool
    mindset: MindsetSettings | None
    session: SessionSettings = SessionSettings()
    session_cookie_name: str = text(
        "BROKER_SESSION_COOKIE_NAME",
        "session",
        "the session cookie's name, as the host app sets it",
    )
    session_cookie_domain: str | None = text(
        "BROKER_SESSION_COOKIE_DOMAIN", None, "the cookie's domain, e.g. `.example.com`"
    )
    # Shared state between instances (rate-limit counters, reusable tokens, coalescing);
    # without it everything is kept per process.
    redis_url: str | None = text(
        "BROKER_REDIS_URL",
        None,
        (
            "Redis shared by all instances, e.g. `redis://127.0.0.1:6379/0`; unset, state "
            "is per process"
        ),
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
SANDBOX = declared(
    flag(
        "BROKER_SANDBOX",
        False,
        (
            "`1` lets a production broker run on the sandbox on purpose (with the demo login "
            "on, unless `BROKER_DEMO_LOGIN=0`)"
        ),
    )
)
# Read by create_app before the rest, so the rest's problems are logged at the right level.
LOG_LEVEL = declared(
    text(
        "BROKER_LOG_LEVEL",
        "INFO",
        "the broker's log level, and gunicorn's own under `make serve`",
        parse=_log_level,
    )
)
# An environment variable only: it says where the others are read from.
ENV_FILE = declared(
    text(
        "BROKER_ENV_FILE",
        ".env",
        (
            "the dotenv file to read (an environment variable); the only one: Flask's CLI's own"
            " `.env` and `.flaskenv` are not used"
        ),
    )
)
