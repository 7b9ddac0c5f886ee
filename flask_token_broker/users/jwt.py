"""``Authorization: Bearer <token>`` from the host's identity provider, verified with PyJWT.

The accepted algorithms come from configuration, never from the token: HS256 with
``BROKER_JWT_SECRET``, or public-key algorithms (RS256, ES256) with keys from
``BROKER_JWKS_URL``. Only one key source may be configured, so a token cannot pick HMAC with
a public key as its secret. ``exp`` is required; issuer and audience are checked when set.
"""

from __future__ import annotations

import logging
from typing import Any

import jwt
from flask import request

from ..errors import IdentityProviderUnavailable, clipped
from ..settings import JwtResolverSettings
from . import CurrentUser, UserResolver, user_from_mapping
from .jwks import BoundedJWKClient

log = logging.getLogger("broker.users")

# Tokens are short; anything much longer is not one and is not worth parsing.
MAX_TOKEN_LENGTH = 16_384


def bearer_token() -> str | None:
    # Header names ignore case, and any default without a space means "no bearer token".
    header = request.headers.get("Authorization", "")  # pragma: no mutate
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    return token


def _unverified_kid(token: str) -> object:
    """The ``kid`` the token's header names, for the log line only (it is not trusted)."""
    try:
        return jwt.get_unverified_header(token).get("kid")
    except jwt.PyJWTError:
        return None


def jwt_resolver(settings: JwtResolverSettings) -> UserResolver:
    """Keys from a JWKS URL are cached for ``jwks_cache_seconds`` and refetched early when a
    token names an unknown ``kid`` (the provider rotated its keys); the fetch follows no
    redirect and reads a bounded body (:mod:`.jwks`)."""
    jwks = (
        BoundedJWKClient(
            settings.jwks_url,
            cache_jwk_set=True,
            lifespan=settings.jwks_cache_seconds,
            timeout=settings.jwks_timeout,
            cooldown_duration=settings.jwks_refresh_cooldown,
        )
        if settings.jwks_url is not None
        else None
    )

    def key_for(token: str) -> Any:
        if jwks is None:
            return settings.secret
        try:
            return jwks.get_signing_key_from_jwt(token)
        except jwt.PyJWKClientConnectionError as error:
            raise IdentityProviderUnavailable(
                log_hint=f"could not fetch BROKER_JWKS_URL ({type(error).__name__}); "
                "check the URL and the network"
            ) from error

    def resolve() -> CurrentUser | None:
        token = bearer_token()
        if token is None:
            return None
        try:
            claims = jwt.decode(
                token,
                key_for(token),
                algorithms=list(settings.algorithms),
                issuer=settings.issuer,
                audience=settings.audience,
                leeway=settings.leeway,
                options={"require": ["exp"], "verify_aud": settings.audience is not None},
            )
        except jwt.PyJWKClientError as error:
            # PyJWT's message quotes the whole kid, which the caller chose: name it cut short.
            log.warning(
                "bearer token refused: no key in BROKER_JWKS_URL for its kid %s (%s)",
                clipped(_unverified_kid(token)),
                type(error).__name__,
            )
            return None
        except jwt.PyJWTError as error:
            # The reason only (expired, bad signature...), never the token.
            log.info("bearer token refused: %s", type(error).__name__)
            return None
        return user_from_mapping(
            claims, settings.id_claim, settings.email_claim, settings.name_claim
        )

    return resolve
