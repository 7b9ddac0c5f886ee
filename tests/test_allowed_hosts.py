"""BROKER_ALLOWED_HOSTS: any other Host is a JSON 400, and no answer reflects it.

Careless changes these tests catch (``protection/hosts.py``): the refused Host echoed in the
body, a header or the log line at full length; a listed host refused for its case or its
port; a dotted entry's subdomains refused, or a host that merely ends with the name allowed
(``broker.example.com.evil.example``); the host app's own ``TRUSTED_HOSTS`` overwritten; the
production server answering another Host; a slash redirect naming the Host it was sent.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient

from flask_token_broker import TokenBroker
from flask_token_broker.protection.hosts import LowerCaseHost
from flask_token_broker.settings import ConfigError, load_settings

from .broker_server import BrokerServer
from .conftest import LogLines, build_app, mindset_settings

ALLOWED = "broker.example.com, .example.org"
FOREIGN = ["evil.example", "evil.example:443", "broker.example.com.evil.example", "example.org."]


@pytest.fixture
def client() -> FlaskClient:
    settings = mindset_settings(BROKER_ALLOWED_HOSTS=ALLOWED, BROKER_DEMO_LOGIN="1")
    return build_app(settings).test_client()


def assert_refused_without_reflection(status: int, headers: dict[str, str], body: str) -> None:
    assert status == 400
    assert json.loads(body)["error"] == "invalid_host"
    assert "Location" not in headers
    assert "evil" not in body
    assert "evil" not in str(headers)


@pytest.mark.parametrize("host", FOREIGN)
@pytest.mark.parametrize("path", ["/api/getusertoken", "/demo", "/healthz", "/nope"])
def test_another_host_is_a_json_400_that_reflects_nothing(
    client: FlaskClient, host: str, path: str, broker_logs: LogLines
) -> None:
    # Refused before routing: nothing of the request is looked at.
    response = client.get(path, headers={"Host": host})
    assert_refused_without_reflection(
        response.status_code, dict(response.headers), response.get_data(as_text=True)
    )
    assert response.get_json()["retryable"] is False
    assert "BROKER_ALLOWED_HOSTS" in broker_logs.joined()


@pytest.mark.parametrize("host", ["broker.example.com", "broker.example.com:8443", "a.example.org"])
def test_listed_hosts_and_subdomains_of_a_dotted_entry_are_served(
    client: FlaskClient, host: str
) -> None:
    assert client.get("/api/getusertoken", headers={"Host": host}).status_code == 401
    # The demo page answers its path without the slash too, rather than redirecting to it.
    page = client.get("/demo", headers={"Host": host})
    assert page.status_code == 200


def test_a_10_kb_host_is_cut_short_in_the_log_line(
    client: FlaskClient, broker_logs: LogLines
) -> None:
    client.get("/api/getusertoken", headers={"Host": "h" * 10_000 + ".evil.example"})
    (line,) = [line for line in broker_logs if "invalid_host:" in line]
    assert len(line) < 1000
    assert "more characters" in line


def test_unset_any_host_is_taken() -> None:
    client = build_app(mindset_settings()).test_client()
    assert client.get("/api/getusertoken", headers={"Host": "evil.example"}).status_code == 401


@pytest.mark.parametrize(
    "value", ["https://broker.example.com", "broker.example.com:443", "*.example.com", "a/b"]
)
def test_entries_that_are_not_host_names_stop_start_up(value: str) -> None:
    with pytest.raises(ConfigError, match="BROKER_ALLOWED_HOSTS entry"):
        load_settings(mindset_settings(BROKER_ALLOWED_HOSTS=value))


def test_production_without_allowed_hosts_warns_at_start_up(broker_logs: LogLines) -> None:
    build_app(mindset_settings(BROKER_ENV="production"))
    warnings = [json.loads(line) for line in broker_logs if "BROKER_ALLOWED_HOSTS" in line]
    assert [entry["level"] for entry in warnings] == ["warning"]


def test_production_with_allowed_hosts_does_not_warn(broker_logs: LogLines) -> None:
    build_app(mindset_settings(BROKER_ENV="production", BROKER_ALLOWED_HOSTS=ALLOWED))
    assert "BROKER_ALLOWED_HOSTS" not in broker_logs.joined()


def test_config_check_warns_in_production_without_allowed_hosts() -> None:
    for extra, warned in (({}, True), ({"BROKER_ALLOWED_HOSTS": ALLOWED}, False)):
        app = build_app(mindset_settings(BROKER_ENV="production", **extra))
        report = json.loads(app.test_cli_runner().invoke(args=["config", "check"]).stdout)
        assert any("BROKER_ALLOWED_HOSTS" in w for w in report["warnings"]) is warned


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerServer]:
    # 127.0.0.1 too: the start-up probe asks by address. Nothing here reaches the vendor.
    settings = mindset_settings(BROKER_ALLOWED_HOSTS=f"127.0.0.1, {ALLOWED}", BROKER_DEMO_LOGIN="1")
    with BrokerServer(settings, Path(tmp_path_factory.mktemp("hosts")), workers=1) as process:
        yield process


@pytest.mark.network
@pytest.mark.parametrize("host", FOREIGN)
@pytest.mark.parametrize("path", ["/api/getusertoken", "/demo"])
def test_the_production_server_refuses_another_host(
    server: BrokerServer, host: str, path: str
) -> None:
    response = requests.get(
        f"{server.url}{path}", headers={"Host": host}, allow_redirects=False, timeout=10
    )
    assert_refused_without_reflection(response.status_code, dict(response.headers), response.text)


@pytest.mark.network
def test_the_production_server_serves_a_listed_host(server: BrokerServer) -> None:
    listed = {"Host": "broker.example.com"}
    response = requests.get(f"{server.url}/demo", headers=listed, allow_redirects=False, timeout=10)
    # The page itself: no broker route redirects, so none names a Host.
    assert response.status_code == 200
    assert "Location" not in response.headers
    assert "BROKER_ALLOWED_HOSTS is not set" not in server.logs()


@pytest.mark.parametrize("host", ["BROKER.EXAMPLE.COM", "Broker.Example.Com:8443", "A.EXAMPLE.ORG"])
def test_host_names_compare_without_regard_to_case(client: FlaskClient, host: str) -> None:
    assert client.get("/api/getusertoken", headers={"Host": host}).status_code == 401


def test_an_upper_case_setting_allows_the_lower_case_host() -> None:
    app = build_app(mindset_settings(BROKER_ALLOWED_HOSTS="Broker.Test"))
    response = app.test_client().get("/api/getusertoken", headers={"Host": "broker.test"})
    assert response.status_code == 401


@pytest.mark.network
def test_the_production_server_takes_a_listed_host_in_any_case(server: BrokerServer) -> None:
    response = requests.get(
        f"{server.url}/api/getusertoken", headers={"Host": "BROKER.Example.COM"}, timeout=10
    )
    assert response.status_code == 401
    assert response.json()["error"] == "not_signed_in"


def test_a_host_apps_own_trusted_hosts_are_kept() -> None:
    app = Flask(__name__)
    app.config.update(mindset_settings(BROKER_ALLOWED_HOSTS="broker.test"))
    app.config["TRUSTED_HOSTS"] = ["host.example"]
    TokenBroker(app, resolver=lambda: None)
    assert app.config["TRUSTED_HOSTS"] == ["host.example"]
    client = app.test_client()
    assert client.get("/api/getusertoken", headers={"Host": "host.example"}).status_code == 401
    # The host's own list decides, not BROKER_ALLOWED_HOSTS; and it compares as the host set it.
    assert client.get("/api/getusertoken", headers={"Host": "broker.test"}).status_code == 400
    assert client.get("/api/getusertoken", headers={"Host": "HOST.example"}).status_code == 400


def test_without_allowed_hosts_nothing_is_set_or_lowered() -> None:
    app = build_app(mindset_settings())
    assert not app.config.get("TRUSTED_HOSTS")
    assert not isinstance(app.wsgi_app, LowerCaseHost)
