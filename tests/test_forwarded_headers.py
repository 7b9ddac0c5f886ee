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
from .conftest import mindset_settings

pytestmark = pytest.mark.network


@pytest.fixture(scope="module", params=["0", "1"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, BrokerServer]]:
    hops = str(request.param)
    settings = mindset_settings(BROKER_PROXY_HOPS=hops)
    with BrokerServer(settings, Path(tmp_path_factory.mktemp(f"hops{hops}")), workers=1) as broker:
        yield hops, broker


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
