"""The vendors' sections read as a whole: each flow is configured completely or not at all,
and with no vendor settings at all the sandbox stands in for Mindset."""

from __future__ import annotations

import secrets

from .checks import (
    parse_api_host,
    parse_typingmind_url,
)
from .constants import (
    SANDBOX_APP_UID,
    SANDBOX_BASE_URL,
    VENDOR_CREDENTIALS,
)

# --- The declarations: one per setting, on the field that holds it -------------------------
# (name, default, one-line doc, then bounds); the README's table says more of each.
from .reader import Reader
from .sections import SANDBOX
from .vendor_sections import MindsetSettings, TypingMindSettings


def no_vendor_credentials(reader: Reader) -> bool:
    return not any(reader.is_set(name) for name in VENDOR_CREDENTIALS)


def sandbox_section(reader: Reader, production: bool) -> bool:
    # Knobs such as MINDSET_IDENTITY may be tried on the sandbox; any credential turns it off.
    sandbox = no_vendor_credentials(reader)
    if sandbox and production and not reader.read(SANDBOX):
        reader.refuse(
            "MINDSET_API_HOST, MINDSET_API_KEY and MINDSET_APP_UID are not set, so the broker "
            "would run on its fake sandbox vendor; configure Mindset, or set BROKER_SANDBOX=1 "
            "to run the sandbox in production on purpose"
        )
    return sandbox


def mindset_section(reader: Reader, production: bool) -> MindsetSettings | None:
    if not any(reader.is_set(name) for name in VENDOR_CREDENTIALS[:3]):
        return None
    for name, what in (
        ("MINDSET_API_HOST", "the API host the Mindset team gave you"),
        ("MINDSET_API_KEY", "a key from the Mindset admin portal (API Management)"),
        ("MINDSET_APP_UID", "your Mindset app's uid"),
    ):
        if not reader.is_set(name):  # each missing one named, so one check tells the whole story
            reader.refuse(f"{name} is missing: set it to {what} (Mindset is partly configured)")
    host = reader.raw("MINDSET_API_HOST")
    values = reader.values(MindsetSettings, skip=("base_url",))
    base_url = host and reader.attempt(
        lambda: parse_api_host(
            str(host), production=production, allow_plaintext=values["allow_plaintext_host"]
        ),
        "",
    )
    return MindsetSettings(base_url=base_url, **values)


def sandbox_mindset(reader: Reader) -> MindsetSettings:
    # A fresh random key per process: the sandbox checks it exactly as the vendor would.
    return reader.section(
        MindsetSettings,
        base_url=SANDBOX_BASE_URL,
        api_key=secrets.token_urlsafe(24),
        app_uid=SANDBOX_APP_UID,
    )


def typingmind_section(reader: Reader, production: bool) -> TypingMindSettings | None:
    secret, url = reader.is_set("TYPINGMIND_JWT_SECRET"), reader.raw("TYPINGMIND_URL")
    if not secret and url is None:
        return None
    if not secret:
        reader.refuse(
            "TYPINGMIND_JWT_SECRET is missing: set it to the JWT secret from TypingMind's "
            "admin panel (User Authentication > JWT) (TypingMind is partly configured)"
        )
    if url is None:
        reader.refuse(
            "TYPINGMIND_URL is missing: set it to your TypingMind instance, e.g. "
            "https://chat.example.com (TypingMind is partly configured)"
        )
    values = reader.values(TypingMindSettings, skip=("url",))
    checked = url and reader.attempt(
        lambda: parse_typingmind_url(str(url), production=production), ""
    )
    return TypingMindSettings(url=checked, **values)
