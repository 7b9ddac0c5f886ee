"""The demo page as served: which SDK it loads, its CSP, and what it says when it cannot work.

The page's behaviour in a browser is tested in ``test_browser.py``; here, what the server
sends.
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import jwt
import pytest
from flask.testing import FlaskClient

from . import fake_secrets
from .conftest import build_app, mindset_settings

SDK_URL = "https://sdk.mindset.example/sdk/v3.js"


class Scripts(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[dict[str, str | None]] = []
        self.agents: list[str | None] = []
        self.inline: list[str] = []
        self._open: dict[str, str | None] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script":
            self._open = dict(attrs)
            self.tags.append(self._open)
        if tag == "mindset-agent":
            self.agents.append(dict(attrs).get("agentuid"))

    def handle_data(self, data: str) -> None:
        if self._open is not None and data.strip():
            self.inline.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._open = None


def page(client: FlaskClient) -> tuple[Scripts, dict[str, object], str]:
    response = client.get("/demo/")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    scripts = Scripts()
    scripts.feed(html)
    config_tags = [t for t in scripts.tags if t.get("id") == "demo-config"]
    assert len(config_tags) == 1
    config = json.loads(scripts.inline[0])
    return scripts, config, response.headers["Content-Security-Policy"]


def directive(csp: str, name: str) -> list[str]:
    for part in csp.split(";"):
        words = part.split()
        if words and words[0] == name:
            return words[1:]
    raise AssertionError(f"{name} missing from {csp}")


def test_development_page_uses_the_stand_in_sdk_and_two_agents() -> None:
    client = build_app(mindset_settings(BROKER_DEMO_LOGIN="1")).test_client()
    scripts, config, csp = page(client)
    sources = [t.get("src") for t in scripts.tags if t.get("src")]
    assert sources == ["/demo/sandbox-sdk.js", "/broker/demo.js"]
    assert config["sdkUrl"] == "/demo/sandbox-sdk.js"
    assert config["appUid"] == "app-uid-0123"
    assert config["tokenUrl"] == "/api/getusertoken"
    assert scripts.agents == ["demo-agent-1", "demo-agent-2"]
    assert directive(csp, "script-src") == ["'self'"]
    assert directive(csp, "default-src") == ["'none'"]


def test_configured_sdk_and_agents_are_used_and_pinned_in_the_csp() -> None:
    settings = mindset_settings(
        BROKER_DEMO_LOGIN="1", MINDSET_SDK_URL=SDK_URL, BROKER_DEMO_AGENT_UIDS="sales, support"
    )
    scripts, config, csp = page(build_app(settings).test_client())
    assert [t.get("src") for t in scripts.tags if t.get("src")] == [SDK_URL, "/broker/demo.js"]
    assert scripts.agents == ["sales", "support"]
    assert config["sdkUrl"] == SDK_URL
    assert directive(csp, "script-src") == ["'self'", "https://sdk.mindset.example"]


@pytest.mark.parametrize(
    "settings",
    [
        mindset_settings(BROKER_DEMO_LOGIN="1"),
        mindset_settings(BROKER_DEMO_LOGIN="1", MINDSET_SDK_URL=SDK_URL),
    ],
)
def test_page_has_no_inline_script_and_csp_forbids_it(settings: dict[str, str]) -> None:
    scripts, _, csp = page(build_app(settings).test_client())
    for tag in scripts.tags:
        assert tag.get("src") or tag.get("type") == "application/json"
    assert len(scripts.inline) == 1  # the JSON config, never run
    script_src = directive(csp, "script-src")
    assert "'unsafe-inline'" not in script_src
    assert "'unsafe-eval'" not in script_src
    assert directive(csp, "frame-ancestors") == ["'none'"]


@pytest.mark.parametrize(
    ("settings", "setting_named"),
    [
        (
            mindset_settings(BROKER_DEMO_LOGIN="1", BROKER_ENV="production"),
            "MINDSET_SDK_URL",
        ),
        (
            mindset_settings(BROKER_DEMO_LOGIN="1", MINDSET_SDK_URL=SDK_URL),
            None,
        ),
    ],
)
def test_production_page_without_sdk_url_explains_instead_of_loading(
    settings: dict[str, str], setting_named: str | None
) -> None:
    html = build_app(settings).test_client().get("/demo/").get_data(as_text=True)
    if setting_named is None:
        # With an SDK URL but no agents configured, the page names that setting instead.
        assert "BROKER_DEMO_AGENT_UIDS is not set" in html
    else:
        assert f"{setting_named} is not set" in html
        assert "sandbox-sdk.js" not in html
    assert "<mindset-agent" not in html


def test_page_config_escapes_markup() -> None:
    client = build_app(mindset_settings(BROKER_DEMO_LOGIN="1")).test_client()
    client.post("/demo/login", data={"external_id": "x", "name": "</script><b>x"})
    html = client.get("/demo/").get_data(as_text=True)
    assert "</script><b>" not in html
    assert "&lt;/script&gt;&lt;b&gt;x" in html


def test_page_shows_who_is_signed_in() -> None:
    client = build_app(mindset_settings(BROKER_DEMO_LOGIN="1")).test_client()
    assert "Nobody is signed in" in client.get("/demo/").get_data(as_text=True)
    client.post("/demo/login", data={"external_id": "grace", "name": "Grace"})
    html = client.get("/demo/").get_data(as_text=True)
    assert re.search(r"Signed in as <strong>grace</strong> \(Grace\)", html)


def test_page_and_stand_in_sdk_do_not_exist_when_demo_is_off() -> None:
    client = build_app(mindset_settings()).test_client()
    assert client.get("/demo/").status_code == 404
    assert client.get("/demo/sandbox-sdk.js").status_code == 404


@pytest.mark.parametrize("demo", ["0", "1"])
def test_front_end_helper_is_always_served(demo: str) -> None:
    client = build_app(mindset_settings(BROKER_DEMO_LOGIN=demo)).test_client()
    response = client.get("/broker/mindset-auth.js")
    assert response.status_code == 200
    assert "javascript" in response.content_type
    assert "export function createFetchAuthentication" in response.get_data(as_text=True)
    response.close()


def test_stand_in_sdk_is_javascript() -> None:
    client = build_app(mindset_settings(BROKER_DEMO_LOGIN="1")).test_client()
    response = client.get("/demo/sandbox-sdk.js")
    assert response.status_code == 200
    assert "javascript" in response.content_type
    assert "SDK_ERR_1004" in response.get_data(as_text=True)
    response.close()


TM_URL = "https://chat.example.com"


def typingmind_demo(**extra: str) -> FlaskClient:
    settings = mindset_settings(
        BROKER_DEMO_LOGIN="1",
        TYPINGMIND_JWT_SECRET=fake_secrets.TYPINGMIND_SECRET,
        TYPINGMIND_URL=TM_URL,
        **extra,
    )
    return build_app(settings).test_client()


def test_typingmind_widget_gets_a_fresh_code_for_the_signed_in_user() -> None:
    client = typingmind_demo()
    client.post("/demo/login", data={"external_id": "ada", "email": "ada@example.com"})
    codes = []
    for _ in range(2):
        response = client.get("/demo/")
        scripts, _, csp = page(client)
        widget = [t for t in scripts.tags if t.get("data-external-auth-code")]
        assert len(widget) == 1
        assert widget[0]["src"] == f"{TM_URL}/widget.js"
        assert "defer" in widget[0]
        code = str(widget[0]["data-external-auth-code"])
        claims = jwt.decode(code, fake_secrets.TYPINGMIND_SECRET, algorithms=["HS256"])
        assert claims["user"]["id"] == "ada"
        codes.append(claims["jti"])
        assert TM_URL in directive(csp, "script-src")
        assert "'unsafe-inline'" not in directive(csp, "script-src")
        assert response.headers["Cache-Control"] == "no-store"
    assert codes[0] != codes[1]


@pytest.mark.parametrize(
    ("extra", "login", "note"),
    [
        ({}, None, "Sign in to get a TypingMind code"),
        ({"TYPINGMIND_PAYLOAD": "email"}, {"external_id": "bob"}, "has no email address"),
    ],
)
def test_typingmind_widget_is_left_out_when_no_code_can_be_signed(
    extra: dict[str, str], login: dict[str, str] | None, note: str
) -> None:
    client = typingmind_demo(**extra)
    if login:
        client.post("/demo/login", data=login)
    html = client.get("/demo/").get_data(as_text=True)
    assert "data-external-auth-code" not in html
    assert note in html


def test_no_typingmind_section_without_typingmind() -> None:
    client = build_app(mindset_settings(BROKER_DEMO_LOGIN="1")).test_client()
    assert "TypingMind" not in client.get("/demo/").get_data(as_text=True)


def typingmind_only_demo() -> FlaskClient:
    settings = {
        "SECRET_KEY": fake_secrets.SECRET_KEY,
        "BROKER_DEMO_LOGIN": "1",
        "TYPINGMIND_JWT_SECRET": fake_secrets.TYPINGMIND_SECRET,
        "TYPINGMIND_URL": TM_URL,
    }
    return build_app(settings).test_client()


def test_a_typingmind_only_page_links_to_the_typingmind_sign_in_and_shows_no_mindset_steps() -> (
    None
):
    client = typingmind_only_demo()
    signed_out = client.get("/demo/").get_data(as_text=True)
    assert "Sign in to get a TypingMind code" in signed_out
    assert 'id="typingmind-login"' not in signed_out
    client.post("/demo/login", data={"external_id": "ada", "email": "ada@example.com"})
    scripts, config, _csp = page(client)
    html = client.get("/demo/").get_data(as_text=True)
    assert 'id="typingmind-login" href="/typingmind/login"' in html
    assert "Mindset" not in html
    assert "mindset.init" not in html
    assert "The token" not in html
    assert "The agents" not in html
    assert "<h2>2. TypingMind</h2>" in html
    assert scripts.agents == []
    assert config["sdkUrl"] is None
    followed = client.get("/typingmind/login")
    assert followed.status_code == 302
    assert followed.headers["Location"].startswith(f"{TM_URL}/?externalAuthCode=")


class Buttons(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.classes: dict[str, str] = {}
        self._open: dict[str, str | None] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._open = dict(attrs) if tag == "button" and "hidden" not in dict(attrs) else None

    def handle_data(self, data: str) -> None:
        if self._open is not None and data.strip():
            self.classes[data.strip()] = self._open.get("class") or "primary"
            self._open = None


def test_sign_out_is_the_primary_action_once_signed_in() -> None:
    client = build_app(mindset_settings(BROKER_DEMO_LOGIN="1")).test_client()
    signed_out = Buttons()
    signed_out.feed(client.get("/demo/").get_data(as_text=True))
    assert signed_out.classes == {"Sign in": "primary"}
    client.post("/demo/login", data={"external_id": "ada"})
    signed_in = Buttons()
    signed_in.feed(client.get("/demo/").get_data(as_text=True))
    assert signed_in.classes == {"Sign out": "primary", "Sign in as someone else": "secondary"}
