"""BROKER_USER_RESOLVER=headers: a proxy's identity headers, believed only from trusted peers.

Careless changes these tests catch (``users/headers.py``): identity headers believed from any
peer, or from an untrusted peer that sends ``X-Forwarded-For``; a peer that is not an IP
address taken as trusted, even when every address is; a scoped link-local proxy compared as
text rather than by its network; a trusted proxy without the user header taken as a user.
"""

from __future__ import annotations

import json

import pytest
from flask.testing import FlaskClient
from werkzeug.middleware.proxy_fix import ProxyFix

from flask_token_broker.ready_line import log_ready
from flask_token_broker.settings import ConfigError, load_settings
from flask_token_broker.users.headers import direct_peer, is_trusted

from .conftest import LogLines, build_app
from .resolver_helpers import signed_in_as, typingmind_settings

PROXY_HEADERS = {
    "X-Forwarded-User": "ada",
    "X-Forwarded-Email": "ada@example.com",
    "X-Forwarded-Preferred-Username": "Ada L",
}
ADA = {"id": "ada", "email": "ada@example.com", "name": "Ada L"}


def client_for(trusted: str | None = None, **extra: str) -> FlaskClient:
    settings = typingmind_settings(BROKER_USER_RESOLVER="headers", **extra)
    if trusted is not None:
        settings["BROKER_TRUSTED_PROXIES"] = trusted
    return build_app(settings).test_client()


def from_peer(client: FlaskClient, peer: str, headers: dict[str, str]) -> dict[str, str] | None:
    return signed_in_as(client, headers=headers, environ_base={"REMOTE_ADDR": peer})


@pytest.mark.parametrize(
    ("trusted", "peer"),
    [
        ("10.0.0.5", "10.0.0.5"),
        ("10.0.0.0/24", "10.0.0.77"),
        ("192.0.2.1, 10.0.0.0/8", "10.200.1.1"),
        ("2001:db8::/32", "2001:db8::7"),
        ("10.0.0.5", "::ffff:10.0.0.5"),
    ],
)
def test_headers_from_a_trusted_proxy_name_the_user(trusted: str, peer: str) -> None:
    assert from_peer(client_for(trusted), peer, PROXY_HEADERS) == ADA


@pytest.mark.parametrize(
    ("trusted", "peer"),
    [
        (None, "127.0.0.1"),  # empty trusts nobody, loopback included
        (None, "10.0.0.5"),
        ("10.0.0.5", "10.0.0.6"),
        ("10.0.0.0/24", "10.0.1.1"),
        ("10.0.0.5", "203.0.113.9"),
    ],
)
def test_spoofed_headers_from_untrusted_peers_are_ignored(
    trusted: str | None, peer: str, broker_logs: LogLines
) -> None:
    assert from_peer(client_for(trusted), peer, PROXY_HEADERS) is None
    assert "BROKER_TRUSTED_PROXIES" in broker_logs.joined()


def test_trusted_proxy_without_the_user_header_means_nobody() -> None:
    assert from_peer(client_for("10.0.0.5"), "10.0.0.5", {"X-Forwarded-Email": "a@x.io"}) is None


def test_header_names_are_configurable() -> None:
    client = client_for(
        "10.0.0.5",
        BROKER_HEADER_USER_ID="X-Auth-Request-User",
        BROKER_HEADER_EMAIL="X-Auth-Request-Email",
        BROKER_HEADER_NAME="X-Auth-Request-Name",
    )
    headers = {"X-Auth-Request-User": "bob", "X-Auth-Request-Email": "b@x.io"}
    assert from_peer(client, "10.0.0.5", headers) == {"id": "bob", "email": "b@x.io"}
    assert from_peer(client, "10.0.0.5", PROXY_HEADERS) is None


def proxied_client(trusted: str) -> FlaskClient:
    app = build_app(
        typingmind_settings(BROKER_USER_RESOLVER="headers", BROKER_TRUSTED_PROXIES=trusted)
    )
    app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1)  # type: ignore[method-assign]
    return app.test_client()


def test_forwarded_for_cannot_make_an_untrusted_peer_look_trusted() -> None:
    # ProxyFix rewrites REMOTE_ADDR from X-Forwarded-For; trust is decided on the real peer.
    client = proxied_client("10.0.0.5")
    headers = {**PROXY_HEADERS, "X-Forwarded-For": "10.0.0.5"}
    assert from_peer(client, "203.0.113.9", headers) is None


def test_behind_proxy_fix_the_trusted_proxy_is_still_recognised() -> None:
    client = proxied_client("10.0.0.5")
    headers = {**PROXY_HEADERS, "X-Forwarded-For": "198.51.100.20"}
    assert from_peer(client, "10.0.0.5", headers) == ADA


def test_headers_without_trusted_proxies_warn_at_start_up(broker_logs: LogLines) -> None:
    client = client_for()
    assert "no BROKER_TRUSTED_PROXIES" in broker_logs.joined()
    log_ready(client.application)  # as the server does once it serves
    assert "user_resolver=headers" in broker_logs.joined()


@pytest.mark.parametrize("value", ["10.0.0", "10.0.0.0/33", "proxy.internal", "10.0.0.1;10.0.0.2"])
def test_malformed_trusted_proxies_stop_start_up(value: str) -> None:
    with pytest.raises(ConfigError, match="BROKER_TRUSTED_PROXIES"):
        load_settings(typingmind_settings(BROKER_TRUSTED_PROXIES=value))


# Every IP address trusted: only a peer that is not an IP address can still be refused.
EVERYONE = "0.0.0.0/0, ::/0"


@pytest.mark.parametrize("peer", ["", "/run/broker/gunicorn.sock", "unix:/tmp/broker.sock", "x"])
def test_a_peer_that_is_not_an_ip_address_is_never_a_trusted_proxy(
    peer: str, broker_logs: LogLines
) -> None:
    # Behind a unix socket the peer is empty or a path: it proves nothing about who connected.
    assert from_peer(client_for(EVERYONE), peer, PROXY_HEADERS) is None
    assert "BROKER_TRUSTED_PROXIES" in broker_logs.joined()


@pytest.mark.parametrize("peer", [None, "", "/run/broker/gunicorn.sock", "999.1.1.1", "::"])
def test_is_trusted_refuses_non_ip_peers_even_when_every_address_is_trusted(
    peer: str | None,
) -> None:
    settings = load_settings(
        typingmind_settings(BROKER_USER_RESOLVER="headers", BROKER_TRUSTED_PROXIES=EVERYONE)
    ).users.headers
    assert is_trusted("10.0.0.5", settings)  # the settings do trust every IP address
    assert is_trusted(peer, settings) is (peer == "::")


def test_a_scoped_link_local_proxy_is_trusted_by_its_network() -> None:
    assert from_peer(client_for("fe80::/10"), "fe80::1%eth0", PROXY_HEADERS) == ADA


@pytest.mark.parametrize("peer", [None, 3232235521, b"10.0.0.5"])
def test_a_peer_address_that_is_not_text_is_no_peer(peer: object) -> None:
    # Some servers put no string in REMOTE_ADDR for a unix socket; it proves nothing.
    app = client_for(EVERYONE).application
    with app.test_request_context(environ_base={"REMOTE_ADDR": peer}):
        assert direct_peer() is None


def test_ignored_identity_headers_are_logged_with_the_peer_and_the_setting_to_fix(
    broker_logs: LogLines,
) -> None:
    assert from_peer(client_for("10.0.0.5"), "192.0.2.9", PROXY_HEADERS) is None
    (line,) = [json.loads(line) for line in broker_logs if "untrusted peer" in line]
    assert line["msg"] == (
        "ignored X-Forwarded-User from an untrusted peer; add the proxy's address to "
        "BROKER_TRUSTED_PROXIES if it is yours"
    )
    assert line["peer"] == "192.0.2.9"
