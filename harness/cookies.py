"""Session cookies exactly as a Flask host app sharing the broker's ``SECRET_KEY`` writes them.

Sent as a plain ``Cookie`` header: production marks the broker's own cookies Secure, and a
plain-HTTP loopback client would not send those back.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from flask.sessions import SecureCookieSessionInterface
from itsdangerous import URLSafeTimedSerializer


def cookie_signer(secret_key: str) -> Callable[[Mapping[str, str]], str]:
    """Signs session values into a cookie; one signer for many cookies (a benchmark's users).

    The serializer Flask's cookie sessions use, from the interface's own settings (salt,
    serializer, key derivation, digest), without building a Flask app: an app built in a
    load generator's thread while others compile met CPython 3.11's "AST constructor recursion
    depth mismatch".
    """
    interface = SecureCookieSessionInterface()
    serializer = URLSafeTimedSerializer(
        secret_key,
        salt=interface.salt,
        serializer=interface.serializer,
        signer_kwargs={
            "key_derivation": interface.key_derivation,
            "digest_method": interface.digest_method,
        },
    )
    return lambda values: str(serializer.dumps(dict(values)))


def session_cookie(values: Mapping[str, str], secret_key: str) -> str:
    return cookie_signer(secret_key)(values)
