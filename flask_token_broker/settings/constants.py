"""The settings' fixed values: names of choices, bounds, and the sandbox's coordinates."""

from __future__ import annotations

import re

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
