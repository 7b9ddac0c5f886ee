"""The declarations: one per setting, on the field of the section dataclass that holds it."""

from __future__ import annotations

from dataclasses import dataclass

from .checks import (
    _log_level,
    _metrics_token,
    parse_agent_uids,
    parse_redis_url,
)
from .constants import (
    DEVELOPMENT,
    PRODUCTION,
)
from .protection_sections import ProtectionSettings, RedisSettings, ResilienceSettings
from .resolvers import UserResolverSettings
from .table import REQUIRED, choice, declared, flag, text
from .vendor_sections import MindsetSettings, TypingMindSettings

# --- The declarations: one per setting, on the field that holds it -------------------------
# (name, default, doc as the docs' settings table shows it, then bounds).


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
