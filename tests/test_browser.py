"""The whole browser flow in Debian's Chromium: demo page, helper, stand-in SDK, real servers.

The broker runs as a server process (``flask run``, development, so the demo page loads the
broker's stand-in SDK) against the stand-in vendor process. Chromium is required: when it is
missing the test fails, so CI can never pass without having run it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright

from harness.processes import ROOT as REPO_ROOT
from harness.standin_process import StandinProcess

from . import fake_secrets
from .broker_process import BrokerProcess

pytestmark = pytest.mark.network

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOT = REPO_ROOT / "artifacts" / "demo-signed-in.png"
# Browser-side waits: generous, because two cores are shared by several test runs.
WAIT_MS = 20_000


@pytest.fixture(scope="module")
def vendor() -> Iterator[StandinProcess]:
    with StandinProcess(fake_secrets.API_KEY, fake_secrets.APP_UID) as process:
        yield process


@pytest.fixture(scope="module")
def broker(vendor: StandinProcess) -> Iterator[BrokerProcess]:
    settings = {
        "MINDSET_API_HOST": vendor.url,
        "MINDSET_API_KEY": fake_secrets.API_KEY,
        "MINDSET_APP_UID": fake_secrets.APP_UID,
        "SECRET_KEY": fake_secrets.SECRET_KEY,
        "BROKER_DEMO_LOGIN": "1",
    }
    with BrokerProcess(settings) as process:
        yield process


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"Chromium is missing at {CHROMIUM}: apt-get install chromium (.ci/run does)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, timeout=60_000
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Browser, vendor: StandinProcess) -> Iterator[Page]:
    vendor.reset()
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    # Chromium reports CSP violations on the console ("Refused to ... Content Security Policy").
    page.on(
        "console",
        lambda message: (
            errors.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    try:
        yield page
    finally:
        context.close()
    # A CSP violation or a script error would show here: the page must run clean.
    assert errors == []


def sign_in(page: Page, user_id: str, name: str, email: str) -> None:
    page.fill("input[name=external_id]", user_id)
    page.fill("input[name=name]", name)
    page.fill("input[name=email]", email)
    page.click("#sign-in button[type=submit]")
    expect(page.locator("#signed-in-as")).to_contain_text(f"Signed in as {user_id}")


def expect_signed_in(agent: Locator, user_id: str) -> None:
    expect(agent).to_have_attribute("data-state", "signed-in")
    expect(agent).to_have_attribute("data-user", user_id)
    expect(agent).to_contain_text(f"Signed in as {user_id}")


def vendor_users(vendor: StandinProcess) -> list[object]:
    return [
        (call["json"] or {}).get("externalId")
        for call in vendor.requests()
        if call["path"].endswith("/sdkusers/auth")
    ]


def test_signed_in_user_reaches_every_agent_with_one_vendor_call(
    page: Page, broker: BrokerProcess, vendor: StandinProcess
) -> None:
    page.goto(f"{broker.url}/demo/")
    sign_in(page, "grace", "Grace Hopper", "grace@example.com")

    agents = page.locator("mindset-agent")
    expect(agents).to_have_count(2)
    for index in range(2):
        expect_signed_in(agents.nth(index), "grace")
    expect(page.locator("#token-status")).to_have_attribute("data-state", "ok")
    # Two agents asked at once; the helper sent one request, so the vendor saw one call.
    calls = vendor.requests()
    assert [call["json"] for call in calls] == [{"externalId": "grace", "name": "Grace Hopper"}]
    assert calls[0]["status"] == 200

    SCREENSHOT.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    assert SCREENSHOT.stat().st_size > 10_000


def test_signed_out_page_shows_the_401_and_the_sdk_error(
    page: Page, broker: BrokerProcess, vendor: StandinProcess
) -> None:
    page.goto(f"{broker.url}/demo/")
    sign_in(page, "ada", "Ada", "ada@example.com")
    expect_signed_in(page.locator("mindset-agent").first, "ada")

    page.click("#sign-out")
    expect(page.locator("#signed-in-as")).to_contain_text("Nobody is signed in")
    status = page.locator("#token-status")
    expect(status).to_have_attribute("data-state", "error")
    expect(status).to_contain_text("401 not_signed_in")
    expect(status).to_contain_text("not retryable")
    expect(status).to_contain_text("request id")
    agent = page.locator("mindset-agent").first
    expect(agent).to_have_attribute("data-error", "SDK_ERR_1001")
    expect(agent).to_contain_text("not_signed_in")
    # Only the signed-in visit reached the vendor.
    assert vendor_users(vendor) == ["ada"]


def test_failing_vendor_shows_the_retryable_error_then_recovers(
    page: Page, broker: BrokerProcess, vendor: StandinProcess
) -> None:
    page.goto(f"{broker.url}/demo/")
    sign_in(page, "lin", "Lin", "lin@example.com")
    expect_signed_in(page.locator("mindset-agent").first, "lin")

    vendor.set_fault("status", status=503, retry_after="1")
    page.reload()
    status = page.locator("#token-status")
    log = page.locator("#token-log")
    # The helper retries what the broker marks retryable, waiting its Retry-After...
    expect(log).to_contain_text("retry 1 in 1 s after 503 vendor_unavailable")
    expect(log).to_contain_text("retry 2 in 1 s")
    # ...then gives up after maxRetries and says why, with the request id to report.
    expect(status).to_have_attribute("data-state", "error")
    expect(status).to_contain_text("503 vendor_unavailable")
    expect(status).to_contain_text("· retryable ·")
    agent = page.locator("mindset-agent").first
    expect(agent).to_have_attribute("data-error", "SDK_ERR_1001")
    assert page.locator("#token-log li", has_text="SDK asked for a token").count() == 1

    vendor.clear_fault()
    agent.locator(".agent-retry").click()
    expect_signed_in(agent, "lin")
    expect(status).to_have_attribute("data-state", "ok")
    assert vendor_users(vendor)[-1] == "lin"


HELPER_SCRIPT = """
async ({ maxRetries, cap }) => {
  const { createFetchAuthentication, BrokerAuthError } = await import('/broker/mindset-auth.js');
  const retries = [];
  const fetchAuthentication = createFetchAuthentication({
    maxRetries,
    maxRetryAfterSeconds: cap,
    onRetry: ({ attempt, waitSeconds }) => retries.push([attempt, waitSeconds]),
  });
  const [a, b] = await Promise.allSettled([fetchAuthentication(), fetchAuthentication()]);
  const same = a.status === b.status;
  if (a.status === 'fulfilled') return { token: a.value.token, retries, same };
  const e = a.reason;
  return {
    isBrokerAuthError: e instanceof BrokerAuthError,
    code: e.code, status: e.status, requestId: e.requestId, retryable: e.retryable,
    retries, same,
  };
}
"""


@pytest.mark.parametrize(
    ("answers", "max_retries", "expected", "retries"),
    [
        ([(200, {"authToken": "t-1"}, {})], 2, {"token": "t-1"}, []),
        (
            [(503, {"error": "vendor_unavailable", "retryable": True}, {"Retry-After": "120"})] * 2
            + [(200, {"authToken": "t-2"}, {})],
            2,
            {"token": "t-2"},
            [[1, 0.05], [2, 0.05]],
        ),
        (
            [(503, {"error": "vendor_unavailable", "retryable": True}, {"Retry-After": "1"})] * 3,
            1,
            {"code": "vendor_unavailable", "status": 503, "retryable": True},
            [[1, 0.05]],
        ),
        (
            [(401, {"error": "not_signed_in", "retryable": False}, {})],
            2,
            {"code": "not_signed_in", "status": 401, "retryable": False},
            [],
        ),
        ([(502, "<html>bad gateway</html>", {})], 2, {"code": "http_502", "retryable": False}, []),
        ([(200, {"unexpected": True}, {})], 2, {"code": "bad_response"}, []),
    ],
)
def test_front_end_helper_contract(
    browser: Browser,
    broker: BrokerProcess,
    answers: list[tuple[int, object, dict[str, str]]],
    max_retries: int,
    expected: dict[str, object],
    retries: list[list[float]],
) -> None:
    """Retries only retryable answers, capped Retry-After, one shared request, clear errors."""
    context = browser.new_context()
    served: list[str] = []
    queue = list(answers)

    def answer(route: Any) -> None:
        status, body, headers = queue.pop(0)
        served.append(route.request.url)
        if isinstance(body, dict) and "error" in body:
            body = {**body, "message": "m", "request_id": "rid-1"}
        text = body if isinstance(body, str) else json.dumps(body)
        route.fulfill(
            status=status, body=text, headers={"Content-Type": "application/json", **headers}
        )

    try:
        page = context.new_page()
        page.set_default_timeout(WAIT_MS)
        page.goto(f"{broker.url}/broker/mindset-auth.js")
        page.route("**/api/getusertoken", answer)
        result = page.evaluate(HELPER_SCRIPT, {"maxRetries": max_retries, "cap": 0.05})
    finally:
        context.close()
    assert result["same"] is True
    assert result["retries"] == retries
    for key, value in expected.items():
        assert result[key] == value
    if "code" in expected:
        assert result["isBrokerAuthError"] is True
    # Two callers, one request per attempt: the shared promise.
    assert len(served) == len(retries) + 1
