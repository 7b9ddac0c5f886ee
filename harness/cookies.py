"""Session cookies exactly as a Flask host app sharing the broker's ``SECRET_KEY`` writes them.

Sent as a plain ``Cookie`` header: production marks the broker's own cookies Secure, and a
plain-HTTP loopback client would not send those back.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from flask import Flask
from flask.sessions import SecureCookieSessionInterface


def cookie_signer(secret_key: str) -> Callable[[Mapping[str, str]], str]:
    """Signs session values into a cookie; one signer for many cookies (a benchmark's users)."""
    host = Flask("host")
    host.secret_key = secret_key
    serializer = SecureCookieSessionInterface().get_signing_serializer(host)
    if serializer is None:
        raise RuntimeError("Flask gave no session serializer; is the secret key set?")
    return lambda values: str(serializer.dumps(dict(values)))


def session_cookie(values: Mapping[str, str], secret_key: str) -> str:
    return cookie_signer(secret_key)(values)
