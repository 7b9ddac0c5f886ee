"""The host's settings: its own, and the token broker's, both read from the environment.

The broker reads its settings from ``app.config`` under the names it documents (``MINDSET_*``,
``TYPINGMIND_*``, ``BROKER_*``) and signs sessions with the host's own ``SECRET_KEY``, so
the host copies those names from its environment like any other setting.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

BROKER_PREFIXES = ("MINDSET_", "TYPINGMIND_", "BROKER_")
HOST_NAMES = ("SECRET_KEY", "HOST_DEMO_PASSWORD")


def from_environment(environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    return {
        name: value
        for name, value in environ.items()
        if name.startswith(BROKER_PREFIXES) or name in HOST_NAMES
    }
