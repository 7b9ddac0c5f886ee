"""A vendor's redirect is refused: the API key and the user go to the configured host only.

Real sockets on loopback: the "vendor" answers a redirect to a second server that records
every byte it receives, and would hand out a token if asked.
"""

from __future__ import annotations

import pytest

from . import fake_secrets
from .conftest import LogLines, build_app, sign_in
from .drip_server import DripServer
from .recording_server import RecordingServer

pytestmark = pytest.mark.network


@pytest.mark.parametrize("flavor", ["sdk3", "legacy"])
@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_vendor_redirect_is_502_and_nothing_reaches_the_other_host(
    flavor: str, status: int, broker_logs: LogLines
) -> None:
    with RecordingServer() as elsewhere:
        location = f"http://localhost:{elsewhere.port}/steal/here?code=abc123"
        with DripServer(interval=0, status=status, location=location) as vendor:
            app = build_app(
                {
                    "MINDSET_API_HOST": vendor.url,
                    "MINDSET_API_KEY": fake_secrets.API_KEY,
                    "MINDSET_APP_UID": fake_secrets.APP_UID,
                    "MINDSET_API_FLAVOR": flavor,
                    "SECRET_KEY": fake_secrets.SECRET_KEY,
                }
            )
            client = app.test_client()
            sign_in(client, "ada", email="ada@example.com")
            response = client.get("/api/getusertoken")

    assert response.status_code == 502
    assert response.get_json()["error"] == "vendor_bad_response"
    assert len(vendor.requests) == 1
    assert fake_secrets.API_KEY.encode() in vendor.requests[0]
    assert elsewhere.received == []
    logs = broker_logs.joined()
    assert f"HTTP {status}, a redirect to localhost" in logs
    assert "/steal" not in logs
    assert "abc123" not in logs
