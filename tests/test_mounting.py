"""The broker mounted inside a host Flask app: the Flask-Login example, config from the host's
``app.config``, the host's resolver, and the host's own error pages left alone."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
import responses
from flask import Flask, abort
from flask.testing import FlaskClient
from responses import matchers

from flask_token_broker import TokenBroker
from flask_token_broker.settings import ConfigError
from flask_token_broker.state import EXTENSION, current_broker
from flask_token_broker.version import VERSION

from . import fake_secrets
from .conftest import (
    AUTH_URL,
    KNOWN_SECRETS,
    LogLines,
    SecretCheckingClient,
    mindset_settings,
)
from .example_host import create_example_host
from .host_process import running_host

PASSWORD = "host-demo-password-0123456789"
KNOWN_SECRETS.add(PASSWORD)


def host_config(**extra: str) -> dict[str, str]:
    return {**mindset_settings(), "HOST_DEMO_PASSWORD": PASSWORD, **extra}


@pytest.fixture
def host() -> FlaskClient:
    app = create_example_host(host_config())
    app.test_client_class = SecretCheckingClient
    return app.test_client()


@pytest.fixture
def vendor() -> Any:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


def log_in(client: FlaskClient, username: str = "ada", password: str = PASSWORD) -> int:
    response = client.post("/login", data={"username": username, "password": password})
    return response.status_code


def expect_adas_token_call(vendor: Any, url: str = AUTH_URL) -> None:
    """Mindset is asked once for Ada Lovelace, by exactly this body, and answers tok-ada."""
    vendor.post(
        url,
        json={"authToken": "tok-ada"},
        match=[
            matchers.json_params_matcher(
                {"externalId": "ada", "name": "Ada Lovelace"}, strict_match=True
            )
        ],
    )


def test_example_host_gets_a_token_for_its_logged_in_user(host: FlaskClient, vendor: Any) -> None:
    expect_adas_token_call(vendor)
    assert log_in(host) == 302

    response = host.get("/api/getusertoken")

    assert response.status_code == 200
    assert response.get_json() == {"authToken": "tok-ada"}
    assert response.headers["Cache-Control"] == "no-store"


def test_example_host_without_login_is_the_brokers_401(host: FlaskClient, vendor: Any) -> None:
    assert log_in(host, password="wrong") == 401
    response = host.get("/api/getusertoken")
    assert response.status_code == 401
    assert response.get_json()["error"] == "not_signed_in"


def test_logging_out_of_the_host_ends_broker_tokens(host: FlaskClient, vendor: Any) -> None:
    vendor.post(AUTH_URL, json={"authToken": "tok-ada"})
    log_in(host)
    assert host.get("/api/getusertoken").status_code == 200
    host.post("/logout")
    assert host.get("/api/getusertoken").status_code == 401


def test_host_error_pages_stay_the_hosts(host: FlaskClient) -> None:
    response = host.get("/no-such-page")
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    assert "Host app: page not found" in response.get_data(as_text=True)
    # ... while the broker's own routes keep their JSON answers.
    broker_404 = host.get("/api/typingmind/authcode")
    assert broker_404.status_code == 404
    assert broker_404.get_json()["error"] == "not_configured"


def test_host_route_errors_are_not_turned_into_broker_json() -> None:
    app = Flask(__name__)
    app.config.update(mindset_settings())

    @app.get("/admin")
    def admin() -> str:
        abort(403)

    TokenBroker(app)
    response = app.test_client().get("/admin")
    assert response.status_code == 403
    assert response.mimetype == "text/html"


def test_token_broker_reads_prefixed_keys_from_the_host_config() -> None:
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=fake_secrets.SECRET_KEY,
        MINDSET_API_HOST="acme.api.mindset.ai",
        MINDSET_API_KEY=fake_secrets.API_KEY,
        MINDSET_APP_UID=fake_secrets.APP_UID,
        MINDSET_READ_TIMEOUT=2,  # typed values, as a host's config holds them
        TYPINGMIND_JWT_SECRET=fake_secrets.TYPINGMIND_SECRET,
        TYPINGMIND_URL="https://chat.example.com",
    )
    TokenBroker(app)
    with app.app_context():
        broker = current_broker()
    assert broker.settings.secret_key == fake_secrets.SECRET_KEY
    assert broker.mindset is not None
    assert broker.mindset.settings.base_url == "https://acme.api.mindset.ai"
    assert broker.mindset.settings.read_timeout == 2.0
    assert broker.flows() == ["mindset", "typingmind"]
    assert broker.resolver_name == "session"


def test_token_broker_in_a_host_raises_config_errors_for_the_host_to_handle() -> None:
    app = Flask(__name__)
    app.config.update(MINDSET_API_HOST="acme.api.mindset.ai")
    with pytest.raises(ConfigError, match="MINDSET_API_KEY"):
        TokenBroker(app)


def test_token_broker_in_a_host_names_every_problem_at_once() -> None:
    app = Flask(__name__)
    app.config.update(
        MINDSET_API_HOST="acme.api.mindset.ai",
        MINDSET_READ_TIMEOUT="soon",
        BROKER_USER_RESOLVER="no_such_module.auth:broker_user",
    )
    with pytest.raises(ConfigError) as raised:
        TokenBroker(app)
    named = [problem.split()[0] for problem in raised.value.problems]
    assert named == [
        "MINDSET_API_KEY",
        "MINDSET_APP_UID",
        "MINDSET_READ_TIMEOUT",
        "BROKER_USER_RESOLVER:",
    ]
    # A host's own resolver replaces BROKER_USER_RESOLVER: its import is no problem then.
    with pytest.raises(ConfigError) as raised:
        TokenBroker(app, resolver=lambda: None)
    assert [problem.split()[0] for problem in raised.value.problems] == named[:3]


# --- the extension's two forms, and one broker per app -----------------------------------------

OTHER_AUTH_URL = "https://other.api.mindset.ai/api/v1/appuid/other-app/sdkusers/auth"


def test_an_application_factory_gets_its_own_broker_per_app_with_its_own_settings() -> None:
    broker = TokenBroker(resolver=lambda: {"id": "ada"})
    first, second = (
        host_app(),
        host_app(MINDSET_API_HOST="other.api.mindset.ai", MINDSET_APP_UID="other-app"),
    )
    broker.init_app(first)
    broker.init_app(second)

    assert first.extensions[EXTENSION] is not second.extensions[EXTENSION]
    assert vars(broker).keys() == {"_options"}, "per-app state belongs in app.extensions"
    with responses.RequestsMock(assert_all_requests_are_fired=True) as vendor:
        vendor.post(AUTH_URL, json={"authToken": "tok-first"})
        vendor.post(OTHER_AUTH_URL, json={"authToken": "tok-second"})
        assert first.test_client().get("/api/getusertoken").get_json() == {"authToken": "tok-first"}
        assert second.test_client().get("/api/getusertoken").get_json() == {
            "authToken": "tok-second"
        }


def test_the_factory_form_reads_the_config_when_init_app_runs() -> None:
    broker = TokenBroker()
    app = Flask(__name__)
    app.config.update(mindset_settings(MINDSET_APP_UID="set-after-construction"))
    broker.init_app(app)
    with app.app_context():
        tokens = current_broker().mindset
    assert tokens is not None
    assert tokens.settings.app_uid == "set-after-construction"


def test_init_app_options_override_the_constructors() -> None:
    broker = TokenBroker(ops=False, prefix="/broker")
    app = host_app()
    broker.init_app(app, ops=True, prefix="/internal")
    assert {f"/internal{path}" for path in OPS_ROUTES} <= routes(app)
    assert not any(rule.startswith("/broker/healthz") for rule in routes(app))


def test_init_app_refuses_an_option_it_does_not_know() -> None:
    with pytest.raises(TypeError, match="unknown options: opps"):
        TokenBroker().init_app(host_app(), opps=True)


# --- which routes a host gets, and clashes ----------------------------------------------------

# The routes the README's mounting section lists for TokenBroker(app).
HOST_ROUTES = {
    "/api/getusertoken",
    "/api/typingmind/authcode",
    "/typingmind/login",
    "/broker/<path:filename>",
}
OPS_ROUTES = {"/healthz", "/readyz", "/metrics", "/openapi.json"}


def routes(app: Flask) -> set[str]:
    return {rule.rule for rule in app.url_map.iter_rules()}


def host_app(**config: Any) -> Flask:
    app = Flask(__name__)
    app.config.update({**mindset_settings(), **config})
    return app


def test_token_broker_adds_only_the_documented_routes_to_a_host() -> None:
    app = host_app()
    assert routes(app) == {"/static/<path:filename>"}
    TokenBroker(app)
    assert routes(app) - {"/static/<path:filename>"} == HOST_ROUTES


def test_a_host_in_sandbox_mode_gets_no_demo_unless_it_asks() -> None:
    # No vendor settings: the sandbox, where BROKER_DEMO_LOGIN defaults to on.
    app = Flask(__name__)
    app.config.update(SECRET_KEY=fake_secrets.SECRET_KEY)
    TokenBroker(app)
    client = app.test_client()
    assert client.post("/demo/login", data={"external_id": "ada"}).status_code == 404
    assert client.get("/broker/demo/").status_code == 404


def test_ops_and_demo_are_opt_in_under_the_prefix() -> None:
    app = Flask(__name__)
    app.config.update(SECRET_KEY=fake_secrets.SECRET_KEY)
    TokenBroker(app, ops=True, demo=True, prefix="/broker")
    assert {f"/broker{path}" for path in OPS_ROUTES} <= routes(app)
    assert not OPS_ROUTES & routes(app)
    client = app.test_client()
    assert client.get("/broker/healthz").get_json() == {"status": "ok", "version": VERSION}
    assert client.get("/healthz").status_code == 404
    signed_in = client.post("/broker/demo/login", data={"external_id": "ada"})
    assert signed_in.get_json()["signedIn"]["id"] == "ada"
    page = client.get("/broker/demo/")
    assert page.status_code == 200
    assert b'"loginUrl": "/broker/demo/login"' in page.data
    paths = client.get("/broker/openapi.json").get_json()["paths"]
    assert {"/broker/healthz", "/broker/demo/login", "/api/getusertoken"} <= paths.keys()
    assert "/healthz" not in paths


@pytest.mark.parametrize(
    ("host_path", "options"),
    [
        ("/api/getusertoken", {}),
        ("/typingmind/login", {}),
        ("/healthz", {"ops": True, "prefix": ""}),
        ("/broker/readyz", {"ops": True}),
    ],
)
def test_a_broker_route_clashing_with_a_host_route_stops_start_up(
    host_path: str, options: dict[str, Any]
) -> None:
    app = host_app()
    app.add_url_rule(host_path, "hosts_own", lambda: "the host's")
    with pytest.raises(ConfigError, match=f"GET {host_path} .*hosts_own"):
        TokenBroker(app, **options)


def test_a_host_route_on_another_method_of_the_same_path_is_no_clash() -> None:
    app = host_app()
    app.add_url_rule("/api/getusertoken", "hosts_own", lambda: "posted", methods=["POST"])
    TokenBroker(app)
    assert app.test_client().post("/api/getusertoken").get_data(as_text=True) == "posted"


@pytest.mark.parametrize("prefix", ["broker", "/broker/"])
def test_a_prefix_that_is_not_a_path_is_refused(prefix: str) -> None:
    with pytest.raises(ConfigError, match="prefix"):
        TokenBroker(host_app(), prefix=prefix)


def test_the_example_host_keeps_its_own_healthz_beside_the_brokers(host: FlaskClient) -> None:
    assert host.get("/healthz").get_data(as_text=True) == "host ok"
    assert host.get("/broker/healthz").get_json() == {"status": "ok", "version": VERSION}
    assert host.get("/broker/readyz").status_code == 200


def test_the_demo_login_is_off_with_a_resolver_that_does_not_read_the_session() -> None:
    app = Flask(__name__)
    app.config.update(SECRET_KEY=fake_secrets.SECRET_KEY, BROKER_DEMO_LOGIN="1")
    TokenBroker(app, resolver=lambda: None, demo=True)
    assert app.extensions[EXTENSION].demo_login is False
    assert not any("/demo/" in rule for rule in routes(app))


IDLE_DEMO_LOGIN = "BROKER_DEMO_LOGIN is on but the demo login is off"


@pytest.mark.parametrize(
    ("given", "warned"),
    [({}, False), ({"BROKER_DEMO_LOGIN": ""}, False), ({"BROKER_DEMO_LOGIN": "1"}, True)],
)
def test_a_host_is_warned_of_an_idle_demo_login_only_when_it_turned_it_on(
    given: dict[str, str], warned: bool, broker_logs: LogLines
) -> None:
    # No vendor settings: the sandbox, where the demo login is on unless BROKER_DEMO_LOGIN
    # says otherwise; the host's resolver does not read the session, so it stays off.
    app = Flask(__name__)
    app.config.update(SECRET_KEY=fake_secrets.SECRET_KEY, **given)
    TokenBroker(app, resolver=lambda: None)
    assert "SANDBOX MODE" in broker_logs.joined()
    assert (IDLE_DEMO_LOGIN in broker_logs.joined()) is warned


# --- the example as a real process --------------------------------------------------------------


@pytest.fixture
def host_process(tmp_path: Path) -> Iterator[str]:
    settings = {
        "SECRET_KEY": fake_secrets.SECRET_KEY,
        "HOST_DEMO_PASSWORD": PASSWORD,
        "TYPINGMIND_JWT_SECRET": fake_secrets.TYPINGMIND_SECRET,
        "TYPINGMIND_URL": "https://chat.example.com/?team=1",
    }
    with running_host(settings, tmp_path) as url:
        yield url


@pytest.mark.network
def test_example_host_runs_as_a_process_and_signs_its_user_into_typingmind(
    host_process: str,
) -> None:
    with requests.Session() as browser:
        assert browser.get(f"{host_process}/api/typingmind/authcode", timeout=10).status_code == 401
        response = browser.post(
            f"{host_process}/login",
            data={"username": "grace", "password": PASSWORD},
            allow_redirects=False,
            timeout=10,
        )
        assert response.status_code == 302

        login = browser.get(f"{host_process}/typingmind/login", allow_redirects=False, timeout=10)

    assert login.status_code == 302
    location = login.headers["Location"]
    assert location.startswith("https://chat.example.com/?team=1&externalAuthCode=")
    code = location.split("externalAuthCode=", 1)[1]
    claims = jwt.decode(code, fake_secrets.TYPINGMIND_SECRET, algorithms=["HS256"])
    assert claims["user"] == {"id": "grace", "email": "grace@example.com", "name": "Grace Hopper"}


def test_the_readmes_mounting_example_runs_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme.split("## Add it to your Flask app", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    (tmp_path / "readme_host.py").write_text(code)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("SECRET_KEY", fake_secrets.SECRET_KEY)
    monkeypatch.setenv("MINDSET_API_KEY", fake_secrets.API_KEY)
    monkeypatch.setenv("MINDSET_APP_UID", fake_secrets.APP_UID)
    module = __import__("readme_host")
    client = module.app.test_client()
    assert client.get("/healthz").get_data(as_text=True) == "ok"
    assert client.get("/broker/healthz").get_json() == {"status": "ok", "version": VERSION}
    assert client.get("/api/getusertoken").get_json()["error"] == "not_signed_in"
    with client.get("/broker/mindset-auth.js") as helper:
        assert helper.status_code == 200
    # Its user store and loader sign someone in: Flask-Login keeps the id under _user_id.
    with client.session_transaction() as session:
        session["_user_id"] = "ada"
    readme_vendor = (
        f"https://acme.api.mindset.ai/api/v1/appuid/{fake_secrets.APP_UID}/sdkusers/auth"
    )
    with responses.RequestsMock(assert_all_requests_are_fired=True) as vendor:
        expect_adas_token_call(vendor, readme_vendor)
        assert client.get("/api/getusertoken").get_json() == {"authToken": "tok-ada"}


def test_the_docs_factory_form_runs_as_written() -> None:
    page = Path(__file__).resolve().parent.parent / "docs" / "integrators" / "mounting.md"
    code = page.read_text().split("```python\n", 1)[1].split("```", 1)[0]
    assert "broker.init_app(app)" in code
    namespace: dict[str, Any] = {"__name__": "docs_factory", "broker_user": lambda: None}
    exec(compile(code, str(page), "exec"), namespace)  # noqa: S102 - the page's own block
    first, second = (namespace["create_app"](host_config()) for _ in range(2))
    assert first.extensions[EXTENSION] is not second.extensions[EXTENSION]
    assert first.test_client().get("/broker/healthz").get_json()["status"] == "ok"
    assert first.test_client().get("/api/getusertoken").status_code == 401
