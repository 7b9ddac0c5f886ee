"""Which proxies' forwarding headers the production server believes: BROKER_PROXY_HOPS, and
nothing gunicorn would believe on its own (its default trusts loopback's X-Forwarded-Proto).

The broker's cross-site check compares a request's Origin with the broker's own origin, whose
scheme is what the server believed: a page on https://<broker> is the broker's own only when
the request's scheme is https.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from .broker_server import BrokerServer
from .conftest import build_app, mindset_settings


@pytest.fixture(scope="module", params=["0", "1"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, BrokerServer]]:
    hops = str(request.param)
    settings = mindset_settings(BROKER_PROXY_HOPS=hops)
    with BrokerServer(settings, Path(tmp_path_factory.mktemp(f"hops{hops}")), workers=1) as broker:
        yield hops, broker


@pytest.mark.network
def test_a_forwarded_scheme_is_believed_only_from_a_trusted_proxy(
    server: tuple[str, BrokerServer],
) -> None:
    hops, broker = server
    host = broker.url.split("://", 1)[1]
    response = requests.get(
        f"{broker.url}/api/getusertoken",
        headers={"X-Forwarded-Proto": "https", "Origin": f"https://{host}"},
        timeout=10,
    )
    if hops == "0":
        # The request came over http: a page on https://<broker> is another origin.
        assert response.status_code == 403
        assert response.json()["error"] == "cross_site"
    else:
        # One trusted proxy said https: the page is the broker's own, and nobody is signed in.
        assert response.status_code == 401
        assert response.json()["error"] == "not_signed_in"


@pytest.mark.parametrize(("hops", "own"), [("0", False), ("1", True), ("2", True)])
def test_the_trusted_proxies_scheme_host_and_port_make_the_brokers_own_origin(
    hops: str, own: bool
) -> None:
    # What the proxies say the broker is called: a page there is the broker's own, not another
    # site (the cross-site check compares the two).
    client = build_app(mindset_settings(BROKER_PROXY_HOPS=hops)).test_client()
    forwarded = {
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "broker.example",
        "X-Forwarded-Port": "8443",
        "Origin": "https://broker.example:8443",
    }
    if hops == "2":
        # The second proxy appended what it saw of the first; the first proxy's view counts.
        second = {
            "X-Forwarded-Proto": "http",
            "X-Forwarded-Host": "lb.internal",
            "X-Forwarded-Port": "80",
        }
        forwarded = {
            key: f"{value}, {second[key]}" if key in second else value
            for key, value in forwarded.items()
        }
    response = client.get("/api/getusertoken", headers=forwarded)
    assert response.get_json()["error"] == ("not_signed_in" if own else "cross_site")


def test_two_trusted_proxies_make_the_first_forwarded_address_the_clients() -> None:
    client = build_app(
        mindset_settings(BROKER_PROXY_HOPS="2", BROKER_RATE_LIMIT_PER_IP="1/minute")
    ).test_client()
    # The same client behind two proxies, the second address changing: one budget.
    first = client.get("/api/getusertoken", headers={"X-Forwarded-For": "203.0.113.1, 10.0.0.1"})
    again = client.get("/api/getusertoken", headers={"X-Forwarded-For": "203.0.113.1, 10.0.0.2"})
    assert first.status_code == 401
    assert again.status_code == 429
