"""Who is signed in: the declarations of the user resolvers, and the rules across them."""

from __future__ import annotations

from dataclasses import dataclass

from .checks import (
    IPNetwork,
    _jwks_url,
    _jwt_secret,
    _names,
    _user_resolver_kind,
    parse_trusted_proxies,
)
from .constants import (
    HMAC_ALGORITHMS,
    PUBLIC_KEY_ALGORITHMS,
    PUBLIC_KEY_DEFAULT_ALGORITHMS,
    RESOLVER_CUSTOM,
    RESOLVER_HEADERS,
    RESOLVER_JWT,
    RESOLVER_SESSION,
)

# --- The declarations: one per setting, on the field that holds it -------------------------
# (name, default, one-line doc, then bounds); the README's table says more of each.
from .reader import Reader
from .table import integer, seconds, text


@dataclass(frozen=True)
class HeaderResolverSettings:
    """Identity headers set by an authenticating reverse proxy (oauth2-proxy's names)."""

    trusted_proxies: tuple[IPNetwork, ...] = text(
        "BROKER_TRUSTED_PROXIES",
        (),
        "`headers`: addresses or CIDR networks whose identity headers are believed",
        parse=parse_trusted_proxies,
    )
    id_header: str = text(
        "BROKER_HEADER_USER_ID", "X-Forwarded-User", "`headers`: the header with the user id"
    )
    email_header: str = text(
        "BROKER_HEADER_EMAIL", "X-Forwarded-Email", "`headers`: the header with the email"
    )
    name_header: str = text(
        "BROKER_HEADER_NAME",
        "X-Forwarded-Preferred-Username",
        "`headers`: the header with the display name",
    )


@dataclass(frozen=True)
class JwtResolverSettings:
    """Bearer tokens from the host's identity provider: one shared secret or a JWKS URL."""

    secret: str | None = text(
        "BROKER_JWT_SECRET",
        None,
        "`jwt`: HS256 secret (at least 32 bytes); never logged",
        parse=_jwt_secret,
        secret=True,
    )
    jwks_url: str | None = text(
        "BROKER_JWKS_URL",
        None,
        "`jwt`: the provider's JWKS (https) for RS256/ES256; exactly one of this and the secret",
        parse=_jwks_url,
    )
    # With a JWKS URL the default is PUBLIC_KEY_DEFAULT_ALGORITHMS.
    algorithms: tuple[str, ...] = text(
        "BROKER_JWT_ALGORITHMS",
        ("HS256",),
        "`jwt`: accepted algorithms, of the key source's family",
        parse=_names,
    )
    issuer: str | None = text("BROKER_JWT_ISSUER", None, "`jwt`: required `iss` when set")
    audience: str | None = text(
        "BROKER_JWT_AUDIENCE",
        None,
        "`jwt`: required `aud`; production refuses the `jwt` resolver without it",
    )
    leeway: float = seconds(
        "BROKER_JWT_LEEWAY", 30.0, "`jwt`: seconds of clock skew tolerated on `exp` (at most 300)"
    )
    id_claim: str = text("BROKER_JWT_ID_CLAIM", "sub", "`jwt`: claim with the user id")
    email_claim: str = text("BROKER_JWT_EMAIL_CLAIM", "email", "`jwt`: claim with the email")
    name_claim: str = text("BROKER_JWT_NAME_CLAIM", "name", "`jwt`: claim with the display name")
    jwks_cache_seconds: int = integer(
        "BROKER_JWKS_CACHE_SECONDS",
        300,
        "`jwt`: how long fetched keys are kept",
        minimum=1,
        maximum=86400,
    )
    jwks_timeout: float = seconds(
        "BROKER_JWKS_TIMEOUT", 5.0, ("`jwt`: seconds to wait for the JWKS endpoint"), maximum=60
    )
    # Least seconds between refetches forced by an unknown kid, so made-up kids in a stream of
    # bad tokens cannot turn the broker into a flood against the identity provider.
    jwks_refresh_cooldown: int = integer(
        "BROKER_JWKS_REFRESH_COOLDOWN",
        30,
        (
            "`jwt`: least seconds between refetches for an unknown `kid`, and after a "
            "failed fetch before the next (at least 1)"
        ),
        maximum=3600,
    )


@dataclass(frozen=True)
class UserResolverSettings:
    """Which way the broker learns who is signed in (``BROKER_USER_RESOLVER``)."""

    kind: str = text(
        "BROKER_USER_RESOLVER",
        RESOLVER_SESSION,
        "`session`, `headers`, `jwt` or `package.module:function`",
        parse=_user_resolver_kind,
    )
    # For kind "custom": the "package.module:function" to import at start-up.
    callable_path: str | None = None
    headers: HeaderResolverSettings = HeaderResolverSettings()
    jwt: JwtResolverSettings | None = None


# Refused in production, warned about elsewhere (startup_warnings).
JWT_WITHOUT_AUDIENCE = (
    "BROKER_USER_RESOLVER=jwt without BROKER_JWT_AUDIENCE: a token the identity provider issued "
    "for any other app (same keys, same issuer) signs its user in here; set BROKER_JWT_AUDIENCE "
    "to the audience the provider writes in tokens for this app"
)


def user_resolver_section(reader: Reader, *, production: bool = False) -> UserResolverSettings:
    value = reader.field(UserResolverSettings, "kind")
    builtin = value in (RESOLVER_SESSION, RESOLVER_HEADERS, RESOLVER_JWT)
    kind = value if builtin else RESOLVER_CUSTOM
    return UserResolverSettings(
        kind=kind,
        callable_path=None if builtin else value,
        headers=reader.section(HeaderResolverSettings),
        jwt=_jwt_resolver(reader, production) if kind == RESOLVER_JWT else None,
    )


def _jwt_resolver(reader: Reader, production: bool) -> JwtResolverSettings:
    hmac = reader.is_set("BROKER_JWT_SECRET")
    if hmac == reader.is_set("BROKER_JWKS_URL"):
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
    if production and values["audience"] is None:
        reader.refuse(f"{JWT_WITHOUT_AUDIENCE} (required in production)")
    return JwtResolverSettings(**values)
