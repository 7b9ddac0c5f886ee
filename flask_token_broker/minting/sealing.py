"""Sealed values for shared storage: tokens are credentials, so Redis only ever holds ciphertext.

AES-256-GCM with a key derived from ``SECRET_KEY`` (which every instance already shares for
sessions). The storage key is the associated data, so a value copied to another user's key
fails to open instead of handing that user someone else's token.
"""

from __future__ import annotations

import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

NONCE_BYTES = 12


def derive_key(secret_key: str, purpose: str) -> bytes:
    """A 32-byte key for one purpose, so no derived key ever equals another's or the secret."""
    return hmac.new(
        secret_key.encode(), f"token-broker/{purpose}".encode(), hashlib.sha256
    ).digest()


class Sealer:
    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    def seal(self, plaintext: bytes, context: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, plaintext, context)

    def open(self, sealed: bytes, context: bytes) -> bytes | None:
        """The plaintext, or ``None`` for anything tampered with, truncated or sealed elsewhere."""
        # Exactly a nonce ("<" instead) would fail GCM's tag check below anyway.
        if len(sealed) <= NONCE_BYTES:  # pragma: no mutate
            return None
        try:
            return self._aead.decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], context)
        except InvalidTag:
            return None
