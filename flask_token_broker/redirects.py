"""How a refused redirect is named in a log line: by its host, never its whole URL.

No outbound call of the broker follows a redirect (the vendor's API key or the identity
provider's keys would be fetched from wherever a 3xx points). The operator needs to know
where the redirect pointed, to fix the configured URL; the path and query may hold anything,
tokens included, and the whole value is chosen by whoever answered, so only a host name of
plain characters is shown.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

# Lower-case (urlsplit lowers it), DNS names and IP addresses only, at most a DNS name long.
_PLAIN_HOST = re.compile(r"[a-z0-9.:_-]{1,253}")


def redirect_target(location: str | None) -> str:
    """The redirect's host, or a description when it has none worth showing."""
    if not location:
        return "nowhere (no Location header)"
    try:
        host = urlsplit(location).hostname
    except ValueError:
        host = None
    if host is None:
        return "a path on the same host"
    if not _PLAIN_HOST.fullmatch(host):
        return "an unprintable host"
    return host
