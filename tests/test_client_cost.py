"""What a vendor call no longer repeats: worked out once, kept, and worked out again on change.

bench/client_cost.py measures what each saves; these tests pin that the work is not done per
call, and that what is kept never outlives what it was worked out for.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import responses
import urllib3
from requests.adapters import HTTPAdapter

from flask_token_broker.mindset import answers
from flask_token_broker.mindset.answers import MAX_BODY_BYTES
from flask_token_broker.mindset.client import MindsetClient
from flask_token_broker.mindset.transport import WatchedAdapter
from flask_token_broker.mindset.vendor_api import AuthRequest
from harness.standin_process import StandinProcess

from . import fake_secrets
from .vendor_defaults import CLIENT_OPTIONS

ADA = AuthRequest(external_id="ada")


@pytest.fixture(scope="module")
def standin() -> Iterator[StandinProcess]:
    with StandinProcess(fake_secrets.API_KEY, fake_secrets.APP_UID) as process:
        yield process


def client_for(base_url: str) -> MindsetClient:
    return MindsetClient(base_url, fake_secrets.API_KEY, fake_secrets.APP_UID, **CLIENT_OPTIONS)


def count_calls(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str) -> list[int]:
    """Count calls of ``owner.name`` (still made) in the one-element list returned."""
    calls = [0]
    original = getattr(owner, name)

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, counted)
    return calls


def test_pool_tls_checks_and_path_are_worked_out_once_for_repeated_calls(
    standin: StandinProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    pool_keys = count_calls(monkeypatch, HTTPAdapter, "build_connection_pool_key_attributes")
    tls_checks = count_calls(monkeypatch, HTTPAdapter, "cert_verify")
    paths = count_calls(monkeypatch, HTTPAdapter, "request_url")
    preparations = count_calls(monkeypatch, requests.Session, "prepare_request")
    client = client_for(standin.url)
    for _ in range(3):
        assert client.authenticate(ADA)
    assert (pool_keys[0], tls_checks[0], paths[0], preparations[0]) == (1, 1, 1, 1)


def test_a_closed_pool_is_not_handed_out_again(standin: StandinProcess) -> None:
    client = client_for(standin.url)
    assert client.authenticate(ADA)
    client.session.close()  # closes every pool, as a worker's shutdown or a reload would
    assert client.authenticate(ADA)


def test_the_request_on_the_wire_is_the_session_s_own(standin: StandinProcess) -> None:
    standin.clear()
    client = client_for(standin.url)
    client.session.headers["X-Trace"] = "set-before-the-first-call"
    for user in ("ada", "grace-hopper"):
        client.authenticate(AuthRequest(external_id=user))
    first, second = standin.requests()[-2:]
    assert second["json"] == {"externalId": "grace-hopper"}
    assert second["headers"]["content-length"] == str(len(b'{"externalId":"grace-hopper"}'))
    assert first["headers"]["content-length"] == str(len(b'{"externalId":"ada"}'))
    assert second["headers"]["x-trace"] == "set-before-the-first-call"
    assert second["headers"]["x-api-key"] == fake_secrets.API_KEY


def prepared(url: str) -> requests.PreparedRequest:
    return requests.Request("POST", url).prepare()


def test_new_proxies_choose_another_pool_and_path() -> None:
    adapter = WatchedAdapter(4)
    request = prepared("http://mindset.test/api/auth")
    direct = adapter.get_connection_with_tls_context(request, True)
    assert adapter.request_url(request, None) == "/api/auth"
    proxies = {"http": "http://proxy.internal:3128"}
    proxied = adapter.get_connection_with_tls_context(request, True, proxies=proxies)
    assert proxied is not direct
    assert proxied.proxy is not None  # type: ignore[attr-defined]
    assert adapter.request_url(request, proxies) == "http://mindset.test/api/auth"
    # Back to no proxy: the direct pool and path again, not the proxy's kept ones.
    assert adapter.get_connection_with_tls_context(request, True) is direct
    assert adapter.request_url(request, None) == "/api/auth"


def test_a_new_ca_bundle_is_checked_again() -> None:
    adapter = WatchedAdapter(4)
    request = prepared("https://mindset.test/api/auth")
    pool = adapter.get_connection_with_tls_context(request, True)
    adapter.cert_verify(pool, "https://mindset.test/api/auth", True, None)
    with pytest.raises(OSError, match="invalid path"):
        adapter.cert_verify(pool, "https://mindset.test/api/auth", "/nonexistent/ca.pem", None)


def test_the_vendor_s_cookies_are_not_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    parsed = count_calls(monkeypatch, requests.adapters, "extract_cookies_to_jar")
    url = f"http://mindset.test/api/v1/appuid/{fake_secrets.APP_UID}/sdkusers/auth"
    with responses.RequestsMock() as vendor:
        vendor.post(url, json={"authToken": "t"}, headers={"Set-Cookie": "track=1; Path=/"})
        assert client_for("http://mindset.test").authenticate(ADA) == "t"
    assert parsed[0] == 0


class CountedRaw:
    """A streamed body with a known length, counting it down as urllib3 does."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.length_remaining = len(body)
        self.asked: list[int] = []

    def read1(self, size: int) -> bytes:
        self.asked.append(size)
        chunk, self.body = self.body[:size], self.body[size:]
        self.length_remaining -= len(chunk)
        return chunk


def test_a_body_is_read_to_the_read_that_finds_its_end() -> None:
    # Stopping at urllib3's countdown instead saved 2-6 us of about 300 us per call, inside
    # the noise (bench/RESULTS.md, "The vendor call"), so the end is found by reading.
    raw = CountedRaw(b'{"authToken":"t"}')
    response = requests.Response()
    response.raw = raw
    body = answers.bounded_body(response, deadline=float("inf"))
    assert body == b'{"authToken":"t"}'
    assert raw.asked == [MAX_BODY_BYTES + 1, MAX_BODY_BYTES + 1 - 17]


def test_a_body_arriving_in_several_reads_is_returned_whole() -> None:
    class Trickled(CountedRaw):
        def read1(self, size: int) -> bytes:
            return super().read1(min(size, 5))

    raw = Trickled(b'{"authToken":"t"}')
    response = requests.Response()
    response.raw = raw
    assert answers.bounded_body(response, deadline=float("inf")) == b'{"authToken":"t"}'
    assert len(raw.asked) == 5  # 5 + 5 + 5 + 2 bytes, then the read that finds the end


def test_the_kept_pool_honours_the_tls_settings_it_was_asked_for(tmp_path: Path) -> None:
    adapter = WatchedAdapter(4)
    request = prepared("https://mindset.test/api/auth")
    unchecked = adapter.get_connection_with_tls_context(request, False)
    assert unchecked.cert_reqs == "CERT_NONE"  # type: ignore[attr-defined]
    bundle = tmp_path / "ca.pem"
    with_bundle = adapter.get_connection_with_tls_context(request, str(bundle))
    assert with_bundle is not unchecked
    assert with_bundle.ca_certs == str(bundle)  # type: ignore[attr-defined]
    assert with_bundle.cert_reqs == "CERT_REQUIRED"  # type: ignore[attr-defined]
    client_cert = adapter.get_connection_with_tls_context(
        request, str(bundle), cert=str(tmp_path / "client.pem")
    )
    assert client_cert is not with_bundle
    assert client_cert.cert_file == str(tmp_path / "client.pem")  # type: ignore[attr-defined]
    # Asked again for the first settings: a pool that checks nothing is never handed out for
    # a call that asks for checks.
    checked = adapter.get_connection_with_tls_context(request, True)
    assert checked.cert_reqs == "CERT_REQUIRED"  # type: ignore[attr-defined]
    assert checked.ca_certs is None  # type: ignore[attr-defined]


def test_a_missing_client_certificate_is_reported_not_skipped() -> None:
    adapter = WatchedAdapter(4)
    request = prepared("https://mindset.test/api/auth")
    pool = adapter.get_connection_with_tls_context(request, True)
    with pytest.raises(OSError, match="certificate file"):
        adapter.cert_verify(pool, "https://mindset.test/api/auth", True, "/nonexistent/client.pem")


def test_the_response_is_the_one_requests_builds_but_for_the_cookie_jar() -> None:
    request = prepared("http://mindset.test/api/auth")
    raw = urllib3.HTTPResponse(
        body=b"{}",
        headers={"Content-Type": "application/json; charset=latin-1", "Set-Cookie": "a=1"},
        status=201,
        reason="Created",
        preload_content=False,
    )
    adapter = WatchedAdapter(4)
    ours = adapter.build_response(request, raw)
    theirs = HTTPAdapter.build_response(adapter, request, raw)
    for field in ("status_code", "encoding", "reason", "url", "raw", "request", "connection"):
        assert getattr(ours, field) == getattr(theirs, field), field
    assert dict(ours.headers) == dict(theirs.headers)
    assert (ours.encoding, ours.reason, ours.url) == ("latin-1", "Created", request.url)
    assert ours.connection is adapter
    assert not ours.cookies
