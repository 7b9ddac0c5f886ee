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

import ipaddress
import os
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import SplitResult, urlsplit

from dotenv import dotenv_values
from limits import parse_many

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

# The vendor's documented limits for accountUids.
MAX_ACCOUNT_UIDS = 10
ACCOUNT_UID_LENGTHS = range(20, 129)

# No token is kept for reuse longer than a day, whatever it claims about itself.
MAX_REUSE_SECONDS = 86_400

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
    # Token reuse (app/reuse.py): JWTs until their own ``exp`` minus the margin; opaque tokens
    # only for an opted-in fixed time (0 = never, the default: the vendor documents no lifetime).
    reuse_jwt: bool = True
    reuse_margin: float = 60.0
    reuse_seconds: int = 0
    # sdk3: sdkusers/auth; legacy: api-authenticate-embedded-user (users by email only).
    flavor: str = FLAVOR_SDK3
    # For the legacy flavor: users without an email are sent as <user id>@<this domain>.
    legacy_email_domain: str | None = None
    # Production accepts a plain-http MINDSET_API_HOST off loopback only with this opt-out.
    allow_plaintext_host: bool = False


@dataclass(frozen=True)
class SessionSettings:
    """Where the host app's session keeps the signed-in user."""

    user_id_key: str = "user_id"
    user_email_key: str = "user_email"
    user_name_key: str = "user_name"


@dataclass(frozen=True)
class RedisSettings:
    """How the broker uses ``BROKER_REDIS_URL``; Redis is never allowed to slow a request much."""

    # Every key starts with this, so operators can grant and inspect the broker's keys alone.
    prefix: str = "tokenbroker"
    # Socket timeouts: Redis is on the local network or it is in trouble.
    timeout: float = 0.25
    # After a Redis failure, per-instance state is used for this long before Redis is retried.
    retry_after: float = 5.0


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
    # Host names the broker answers for (Flask's TRUSTED_HOSTS); empty: any Host is taken.
    allowed_hosts: tuple[str, ...] = ()


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
class TypingMindSettings:
    """How to sign TypingMind ``externalAuthCode`` JWTs and where to send users with one."""

    jwt_secret: str = field(repr=False)
    url: str
    token_ttl: int = 3600
    payload: str = TYPINGMIND_PAYLOAD_USER


IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class HeaderResolverSettings:
    """Identity headers set by an authenticating reverse proxy (oauth2-proxy's names)."""

    trusted_proxies: tuple[IPNetwork, ...] = ()
    id_header: str = "X-Forwarded-User"
    email_header: str = "X-Forwarded-Email"
    name_header: str = "X-Forwarded-Preferred-Username"


@dataclass(frozen=True)
class JwtResolverSettings:
    """Bearer tokens from the host's identity provider: one shared secret or a JWKS URL."""

    secret: str | None = field(default=None, repr=False)
    jwks_url: str | None = None
    algorithms: tuple[str, ...] = ("HS256",)
    issuer: str | None = None
    audience: str | None = None
    leeway: float = 30.0
    id_claim: str = "sub"
    email_claim: str = "email"
    name_claim: str = "name"
    jwks_cache_seconds: int = 300
    jwks_timeout: float = 5.0
    # Least seconds between refetches forced by an unknown kid, so made-up kids in a stream of
    # bad tokens cannot turn the broker into a flood against the identity provider.
    jwks_refresh_cooldown: int = 30


@dataclass(frozen=True)
class UserResolverSettings:
    """Which way the broker learns who is signed in (``BROKER_USER_RESOLVER``)."""

    kind: str = RESOLVER_SESSION
    # For kind "custom": the "package.module:function" to import at start-up.
    callable_path: str | None = None
    headers: HeaderResolverSettings = HeaderResolverSettings()
    jwt: JwtResolverSettings | None = None


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
        redis=_redis(reader),
        resilience=_resilience(reader),
        protection=_protection(reader),
        demo=_demo(reader, production),
        ops=_ops(reader),
        typingmind=_typingmind(reader, production=production),
        users=_user_resolver(reader),
    )


def _redis(reader: _Reader) -> RedisSettings:
    prefix = reader.text("BROKER_REDIS_PREFIX") or "tokenbroker"
    if not re.fullmatch(r"[A-Za-z0-9_.:-]{1,64}", prefix):
        raise ConfigError(
            "BROKER_REDIS_PREFIX may hold only letters, digits and _ . : - (at most 64)"
        )
    return RedisSettings(
        prefix=prefix,
        timeout=reader.seconds("BROKER_REDIS_TIMEOUT", 0.25, maximum=10.0),
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
    for refusal in production_refusals(reader):
        reader.note(ConfigError(refusal))
    return reader.problems


DEMO_LOGIN_IN_PRODUCTION = (
    "BROKER_DEMO_LOGIN is on in production: anyone can sign in as anyone and get their "
    "token; set BROKER_DEMO_LOGIN=0"
)


def production_refusals(reader: _Reader) -> list[str]:
    """Settings that start (so a demo can be shown) but that ``config check`` refuses.

    Start-up logs them as errors; ``config check`` exits non-zero, so a deploy pipeline that
    runs it stops before real users meet them.
    """
    if not _production(reader):
        return []
    sandbox = not any(reader.raw(name) is not None for name in VENDOR_CREDENTIALS)
    if reader.flag("BROKER_DEMO_LOGIN", default=sandbox):
        return [DEMO_LOGIN_IN_PRODUCTION]
    return []


def _production(reader: _Reader) -> bool:
    # Exactly one of two words: a typo such as "prod" must not quietly mean development.
    return reader.choice("BROKER_ENV", (PRODUCTION, DEVELOPMENT), DEVELOPMENT) == PRODUCTION


def _vendor_section(reader: _Reader) -> object:
    sandbox = not any(reader.raw(name) is not None for name in VENDOR_CREDENTIALS)
    return _sandbox_mindset(reader) if sandbox else _mindset(reader)


def _api_host_section(reader: _Reader) -> object:
    host = reader.text("MINDSET_API_HOST")
    if host is None:
        return None
    return parse_api_host(
        host,
        production=_production(reader),
        allow_plaintext=reader.flag("MINDSET_ALLOW_PLAINTEXT_HOST", default=False),
    )


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
    lambda reader: _resilience(reader),
    # Each protection setting on its own, so a bad rate limit does not hide bad origins.
    lambda reader: parse_rate_limit("BROKER_RATE_LIMIT", reader.text("BROKER_RATE_LIMIT")),
    lambda reader: parse_rate_limit(
        "BROKER_RATE_LIMIT_PER_IP", reader.text("BROKER_RATE_LIMIT_PER_IP")
    ),
    lambda reader: parse_cors_origins(reader.text("BROKER_CORS_ORIGINS")),
    lambda reader: parse_allowed_hosts(reader.text("BROKER_ALLOWED_HOSTS")),
    lambda reader: _protection(reader),
    lambda reader: _demo(reader, _production(reader)),
    lambda reader: _ops(reader),
    lambda reader: _typingmind(reader, production=_production(reader)),
    lambda reader: _user_resolver(reader),
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
        # Typed reads first: a checking reader notes them even when a rate string is bad.
        proxy_hops=reader.integer("BROKER_PROXY_HOPS", 0, minimum=0, maximum=10),
        rate_limit=parse_rate_limit("BROKER_RATE_LIMIT", reader.text("BROKER_RATE_LIMIT"))
        or "60/minute",
        rate_limit_per_ip=parse_rate_limit(
            "BROKER_RATE_LIMIT_PER_IP", reader.text("BROKER_RATE_LIMIT_PER_IP")
        )
        or "600/minute",
        cors_origins=parse_cors_origins(reader.text("BROKER_CORS_ORIGINS")),
        allowed_hosts=parse_allowed_hosts(reader.text("BROKER_ALLOWED_HOSTS")),
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


# A DNS name or IPv4 address in ASCII (IDNA-encoded), optionally with a leading dot that also
# allows every subdomain; Werkzeug compares it to the Host header without the port.
_ALLOWED_HOST = re.compile(r"\.?[a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?")


def parse_allowed_hosts(value: str | None) -> tuple[str, ...]:
    """``BROKER_ALLOWED_HOSTS``: comma-separated host names, ``.example.com`` for subdomains."""
    if value is None:
        return ()
    hosts = []
    for part in (part.strip().lower() for part in value.split(",")):
        if not part:
            continue
        if not _ALLOWED_HOST.fullmatch(part):
            raise ConfigError(
                f"BROKER_ALLOWED_HOSTS entry {part[:80]!r} is not a host name: list names such "
                "as broker.example.com (no scheme, port or path; .example.com also allows its "
                "subdomains; IDNA names in their xn-- form)"
            )
        hosts.append(part)
    return tuple(hosts)


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
    knobs = _mindset_knobs(reader)
    return MindsetSettings(
        base_url=parse_api_host(
            host, production=_production(reader), allow_plaintext=knobs["allow_plaintext_host"]
        ),
        api_key=key,
        app_uid=app_uid,
        **knobs,
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
        "reuse_jwt": reader.flag("MINDSET_TOKEN_REUSE_JWT", default=True),
        "reuse_margin": reader.seconds("MINDSET_TOKEN_REUSE_MARGIN", 60.0, maximum=3600.0),
        "reuse_seconds": reader.integer(
            "MINDSET_TOKEN_REUSE_SECONDS", 0, minimum=0, maximum=MAX_REUSE_SECONDS
        ),
        "flavor": reader.choice("MINDSET_API_FLAVOR", (FLAVOR_SDK3, FLAVOR_LEGACY), FLAVOR_SDK3),
        "legacy_email_domain": parse_email_domain(reader.text("MINDSET_LEGACY_EMAIL_DOMAIN")),
        "allow_plaintext_host": reader.flag("MINDSET_ALLOW_PLAINTEXT_HOST", default=False),
    }


# A DNS name with at least one dot, as the domain of an email address must be.
_EMAIL_DOMAIN = re.compile(
    r"(?=.{4,80}$)(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
)


def parse_email_domain(value: str | None) -> str | None:
    """``MINDSET_LEGACY_EMAIL_DOMAIN``: a domain such as ``users.example.com``."""
    if value is None:
        return None
    if not _EMAIL_DOMAIN.fullmatch(value):
        raise ConfigError(
            "MINDSET_LEGACY_EMAIL_DOMAIN must be a domain name such as users.example.com "
            "(no @, no scheme, at most 80 characters)"
        )
    return value.lower()


def _typingmind(reader: _Reader, *, production: bool) -> TypingMindSettings | None:
    secret = reader.text("TYPINGMIND_JWT_SECRET")
    url = reader.text("TYPINGMIND_URL")
    if secret is None and url is None:
        return None
    if secret is None:
        raise ConfigError(
            "TYPINGMIND_JWT_SECRET is missing: set it to the JWT secret from TypingMind's "
            "admin panel (User Authentication > JWT) (TypingMind is partly configured)"
        )
    if url is None:
        raise ConfigError(
            "TYPINGMIND_URL is missing: set it to your TypingMind instance, e.g. "
            "https://chat.example.com (TypingMind is partly configured)"
        )
    if len(secret.encode()) < MIN_JWT_SECRET_BYTES:
        raise ConfigError(
            f"TYPINGMIND_JWT_SECRET is shorter than {MIN_JWT_SECRET_BYTES} bytes: use the "
            "secret TypingMind gave you, not a shortened or hand-made one"
        )
    return TypingMindSettings(
        jwt_secret=secret,
        url=parse_typingmind_url(url, production=production),
        token_ttl=reader.integer(
            "TYPINGMIND_TOKEN_TTL", 3600, minimum=60, maximum=MAX_TYPINGMIND_TTL
        ),
        payload=reader.choice(
            "TYPINGMIND_PAYLOAD",
            (TYPINGMIND_PAYLOAD_USER, TYPINGMIND_PAYLOAD_ID, TYPINGMIND_PAYLOAD_EMAIL),
            TYPINGMIND_PAYLOAD_USER,
        ),
    )


def parse_typingmind_url(value: str, *, production: bool) -> str:
    """``TYPINGMIND_URL``: https, or http for a loopback host or outside production.

    The login link carries a credential in its query, so it must not cross a network in clear.
    """
    parts = _http_url(value)
    if parts is None or not parts.hostname:
        raise ConfigError(
            "TYPINGMIND_URL is malformed: give your instance's address such as "
            "https://chat.example.com, without credentials"
        )
    if parts.scheme == "http" and production and not _is_loopback(parts.hostname):
        raise ConfigError(
            "TYPINGMIND_URL must use https in production: the login link carries a credential"
        )
    if "externalAuthCode" in parts.query:
        raise ConfigError("TYPINGMIND_URL must not already hold an externalAuthCode parameter")
    return value


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _user_resolver(reader: _Reader) -> UserResolverSettings:
    value = reader.text("BROKER_USER_RESOLVER") or RESOLVER_SESSION
    if value in (RESOLVER_SESSION, RESOLVER_HEADERS, RESOLVER_JWT):
        kind, path = value, None
    elif _CALLABLE_PATH.fullmatch(value):
        kind, path = RESOLVER_CUSTOM, value
    else:
        raise ConfigError(
            "BROKER_USER_RESOLVER must be session, headers, jwt or a callable's "
            "import path such as mypackage.auth:current_user"
        )
    return UserResolverSettings(
        kind=kind,
        callable_path=path,
        headers=HeaderResolverSettings(
            trusted_proxies=parse_trusted_proxies(reader.text("BROKER_TRUSTED_PROXIES")),
            id_header=reader.text("BROKER_HEADER_USER_ID") or "X-Forwarded-User",
            email_header=reader.text("BROKER_HEADER_EMAIL") or "X-Forwarded-Email",
            name_header=reader.text("BROKER_HEADER_NAME") or "X-Forwarded-Preferred-Username",
        ),
        jwt=_jwt_resolver(reader) if kind == RESOLVER_JWT else None,
    )


def parse_trusted_proxies(value: str | None) -> tuple[IPNetwork, ...]:
    """``BROKER_TRUSTED_PROXIES``: comma-separated addresses or CIDR networks."""
    if value is None:
        return ()
    networks = []
    for part in (p.strip() for p in value.split(",")):
        if not part:
            continue
        try:
            networks.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise ConfigError(
                f"BROKER_TRUSTED_PROXIES entry {part!r} is not an IP address or CIDR network "
                "(e.g. 10.0.0.5 or 10.0.0.0/24)"
            ) from None
    return tuple(networks)


def _jwt_resolver(reader: _Reader) -> JwtResolverSettings:
    secret = reader.text("BROKER_JWT_SECRET")
    jwks_url = reader.text("BROKER_JWKS_URL")
    if (secret is None) == (jwks_url is None):
        # Both at once would let a token choose between HMAC and public keys.
        raise ConfigError(
            "BROKER_USER_RESOLVER=jwt needs exactly one of BROKER_JWT_SECRET (HS256) and "
            "BROKER_JWKS_URL (RS256/ES256 keys of your identity provider)"
        )
    if secret is not None and len(secret.encode()) < MIN_JWT_SECRET_BYTES:
        raise ConfigError(
            f"BROKER_JWT_SECRET is shorter than {MIN_JWT_SECRET_BYTES} bytes: use a long "
            "random value shared with the identity provider"
        )
    family = tuple(HMAC_ALGORITHMS) if secret is not None else PUBLIC_KEY_ALGORITHMS
    default = ("HS256",) if secret is not None else ("RS256", "ES256")
    algorithms = _algorithms(reader.text("BROKER_JWT_ALGORITHMS"), family) or default
    if secret is not None:
        needed = max(HMAC_ALGORITHMS[name] for name in algorithms)
        if len(secret.encode()) < needed:
            raise ConfigError(
                f"BROKER_JWT_SECRET is shorter than {needed} bytes, the least for "
                f"{', '.join(algorithms)}; use a longer secret or BROKER_JWT_ALGORITHMS=HS256"
            )
    if jwks_url is not None:
        _check_jwks_url(jwks_url)
    return JwtResolverSettings(
        secret=secret,
        jwks_url=jwks_url,
        algorithms=algorithms,
        issuer=reader.text("BROKER_JWT_ISSUER"),
        audience=reader.text("BROKER_JWT_AUDIENCE"),
        leeway=reader.seconds("BROKER_JWT_LEEWAY", 30.0, maximum=300.0),
        id_claim=reader.text("BROKER_JWT_ID_CLAIM") or "sub",
        email_claim=reader.text("BROKER_JWT_EMAIL_CLAIM") or "email",
        name_claim=reader.text("BROKER_JWT_NAME_CLAIM") or "name",
        jwks_cache_seconds=reader.integer(
            "BROKER_JWKS_CACHE_SECONDS", 300, minimum=1, maximum=86400
        ),
        jwks_timeout=reader.seconds("BROKER_JWKS_TIMEOUT", 5.0, maximum=60.0),
        jwks_refresh_cooldown=reader.integer(
            "BROKER_JWKS_REFRESH_COOLDOWN", 30, minimum=0, maximum=3600
        ),
    )


def _algorithms(value: str | None, family: tuple[str, ...]) -> tuple[str, ...]:
    if value is None:
        return ()
    names = tuple(part.strip() for part in value.split(",") if part.strip())
    for name in names:
        if name not in family:
            raise ConfigError(
                f"BROKER_JWT_ALGORITHMS may list only {', '.join(family)} with this key source"
            )
    return names


def _check_jwks_url(value: str) -> None:
    parts = urlsplit(value)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and parts.hostname and _is_loopback(parts.hostname):
        return
    raise ConfigError(
        "BROKER_JWKS_URL must be an https:// URL (http:// only on loopback), e.g. "
        "https://login.example.com/.well-known/jwks.json"
    )


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
    parts = _http_url(value)
    if parts is None or parts.query or parts.fragment:
        raise ConfigError(
            "MINDSET_API_HOST is malformed: use http:// or https:// with a host, "
            "and no credentials, query or fragment"
        )
    if production and not allow_plaintext and is_plaintext_remote(value):
        raise ConfigError(
            "MINDSET_API_HOST uses plain http:// to a host that is not loopback: in production "
            "the API key and every token would cross the network readable and alterable; use "
            "https:// (or the bare host), or set MINDSET_ALLOW_PLAINTEXT_HOST=1 if the path to "
            "that host is private and protected"
        )
    return value.rstrip("/")


def plaintext_vendor_host(settings: Settings) -> bool:
    """Whether production talks to Mindset over plain http off loopback (by the opt-out)."""
    mindset = settings.mindset
    return (
        settings.is_production
        and not settings.sandbox
        and mindset is not None
        and is_plaintext_remote(mindset.base_url)
    )


def is_plaintext_remote(url: str) -> bool:
    """Whether ``url`` is plain http to a host other than loopback (127.0.0.0/8, ::1, localhost)."""
    parts = urlsplit(url)
    return parts.scheme == "http" and not _is_loopback(parts.hostname or "")


def _http_url(value: str) -> SplitResult | None:
    """``value`` split, when it is an http(s) URL with a host, no credentials and a valid port."""
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        return None
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.username
        or parts.password
        or (port is not None and not 0 < port < 65536)
    ):
        return None
    return parts


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def parse_log_level(value: Any) -> str:
    """``BROKER_LOG_LEVEL``: the broker's log level (and gunicorn's own), default INFO."""
    level = str(value or "").strip().upper() or "INFO"
    if level not in LOG_LEVELS:
        raise ConfigError(f"BROKER_LOG_LEVEL must be one of: {', '.join(LOG_LEVELS)}")
    return level


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
