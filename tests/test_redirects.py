"""How a refused redirect is named in a log line: its host only, or what it is instead."""

from __future__ import annotations

import pytest

from flask_token_broker.redirects import redirect_target


@pytest.mark.parametrize(
    ("location", "named"),
    [
        (None, "nowhere (no Location header)"),
        ("", "nowhere (no Location header)"),
        ("https://Elsewhere.Example:8443/steal?token=abc", "elsewhere.example"),
        ("http://10.0.0.7/x", "10.0.0.7"),
        ("/login?next=/", "a path on the same host"),
        ("http://[::1/unclosed", "a path on the same host"),
        ("https://ex\u00e4mple.com/", "an unprintable host"),
        ("https://a%0d%0aSet-Cookie:x/", "an unprintable host"),
    ],
)
def test_a_redirect_is_named_by_its_host_only(location: str | None, named: str) -> None:
    assert redirect_target(location) == named
