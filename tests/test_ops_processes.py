"""Operations and the CLI as real processes, against the stand-in vendor process.

- ``/metrics`` under ``gunicorn -c gunicorn.conf.py`` with two workers sums every worker's
  counts, whichever worker answers the scrape.
- ``flask --app wsgi token mint`` / ``config check`` as subprocesses: stdout is one JSON
  document, logs go to stderr, exit codes as documented.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from flask_token_broker.commands import EXIT_FAILED, EXIT_RETRYABLE
from harness.processes import run_to_end
from harness.standin_process import StandinProcess

from . import fake_secrets
from .broker_server import BrokerServer
from .conftest import KNOWN_SECRETS

pytestmark = pytest.mark.network

METRICS_TOKEN = "metrics-token-for-process-tests-0123"
KNOWN_SECRETS.add(METRICS_TOKEN)
TIMEOUT = (2.0, 10.0)
# Enough requests, on fresh connections, that both workers serve some (checked below).
MAX_REQUESTS = 200


@pytest.fixture(scope="module")
def vendor() -> Iterator[StandinProcess]:
    with StandinProcess(fake_secrets.API_KEY, fake_secrets.APP_UID) as process:
        yield process


def vendor_settings(vendor: StandinProcess) -> dict[str, str]:
    return {
        "MINDSET_API_HOST": vendor.url,
        "MINDSET_API_KEY": fake_secrets.API_KEY,
        "MINDSET_APP_UID": fake_secrets.APP_UID,
        "SECRET_KEY": fake_secrets.SECRET_KEY,
    }


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = requests.get(
        f"{url}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}, timeout=TIMEOUT
    )
    assert response.status_code == 200
    values = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            values[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return values


def token_requests(values: dict[tuple[str, tuple[tuple[str, str], ...]], float]) -> float:
    key = (
        "broker_http_requests_total",
        (("method", "GET"), ("route", "/api/getusertoken"), ("status", "200")),
    )
    return values.get(key, 0.0)


def pids_with_counts(directory: Path) -> set[str]:
    return {path.stem.rsplit("_", 1)[-1] for path in directory.glob("counter_*.db")}


def test_metrics_sum_token_requests_across_gunicorn_workers(
    vendor: StandinProcess, tmp_path: Path
) -> None:
    vendor.clear()
    metrics_dir = tmp_path / "metrics"
    settings = {
        **vendor_settings(vendor),
        "BROKER_DEMO_LOGIN": "1",
        "BROKER_METRICS_TOKEN": METRICS_TOKEN,
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        # Counting, not limiting, is under test: one worker may serve every request until the
        # kernel hands a connection to the other, more than the default per-user budget.
        "BROKER_RATE_LIMIT": "100000/minute",
    }
    with BrokerServer(settings, tmp_path, workers=2) as broker:
        login = requests.post(
            f"{broker.url}/demo/login", data={"external_id": "ada"}, timeout=TIMEOUT
        )
        # The production cookie is Secure, so a client would not send it over plain http;
        # the test hands it over itself.
        cookie = {"Cookie": login.headers["Set-Cookie"].split(";", 1)[0]}

        def one_token(_: int) -> int:
            # A fresh connection each time, so the kernel may hand it to either worker.
            with requests.Session() as session:
                return session.get(
                    f"{broker.url}/api/getusertoken", headers=cookie, timeout=TIMEOUT
                ).status_code

        sent = 0
        with ThreadPoolExecutor(max_workers=8) as pool:
            while sent < MAX_REQUESTS:
                statuses = list(pool.map(one_token, range(20)))
                assert statuses == [200] * 20
                sent += 20
                if len(pids_with_counts(metrics_dir)) >= 2:
                    break
        assert len(pids_with_counts(metrics_dir)) >= 2, "one worker served every request"

        # Whichever worker answers, the scrape sums both workers' counts.
        for _ in range(4):
            values = scrape(broker.url)
            assert token_requests(values) == sent
            # Concurrent requests for one user share a vendor call: every request is counted
            # once, as minted or coalesced, and every minted one is one vendor call.
            minted = values[("broker_tokens_total", (("outcome", "minted"), ("vendor", "mindset")))]
            coalesced = values.get(
                ("broker_tokens_total", (("outcome", "coalesced"), ("vendor", "mindset"))), 0.0
            )
            assert minted + coalesced == sent
            vendor_ok = (
                "broker_vendor_calls_total",
                (("outcome", "ok"), ("status", "200"), ("vendor", "mindset")),
            )
            assert values[vendor_ok] == minted
            assert (
                values[("broker_vendor_call_duration_seconds_count", (("vendor", "mindset"),))]
                == minted
            )
        assert vendor.stats()["auth_calls"] == minted


def test_gunicorn_start_clears_metrics_of_a_previous_run(
    vendor: StandinProcess, tmp_path: Path
) -> None:
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    stale = metrics_dir / "counter_99999.db"
    stale.write_bytes(b"stale")
    settings = {
        **vendor_settings(vendor),
        "BROKER_METRICS_TOKEN": METRICS_TOKEN,
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
    }
    with BrokerServer(settings, tmp_path, workers=1) as broker:
        assert not stale.exists()
        assert token_requests(scrape(broker.url)) == 0


def flask_cli(settings: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "BROKER_ENV_FILE": os.devnull,
        **settings,
    }
    return run_to_end([sys.executable, "-m", "flask", "--app", "wsgi", *args], env)


def test_token_mint_subprocess_prints_the_vendor_answer(vendor: StandinProcess) -> None:
    vendor.clear()
    done = flask_cli(vendor_settings(vendor), "token", "mint", "--external-id", "ada")
    assert done.returncode == 0, done.stderr
    token = json.loads(done.stdout)["authToken"]
    assert token.startswith("standin-tok.")
    assert [call["json"] for call in vendor.requests()] == [{"externalId": "ada"}]
    assert '"mindset call ok"' in done.stderr  # the log line, on stderr
    for secret in KNOWN_SECRETS:
        assert secret not in done.stdout + done.stderr


@pytest.mark.parametrize(
    ("fault", "exit_code", "error"),
    [
        (
            {"mode": "status", "status": 503, "retry_after": "2"},
            EXIT_RETRYABLE,
            "vendor_unavailable",
        ),
        ({"mode": "status", "status": 403}, EXIT_FAILED, "vendor_rejected"),
    ],
)
def test_token_mint_subprocess_failure_is_the_routes_json_error(
    vendor: StandinProcess, fault: dict[str, object], exit_code: int, error: str
) -> None:
    options = dict(fault)
    vendor.set_fault(str(options.pop("mode")), **options)
    try:
        done = flask_cli(vendor_settings(vendor), "token", "mint", "--external-id", "ada")
    finally:
        vendor.clear_fault()
    assert done.returncode == exit_code
    body = json.loads(done.stdout)
    assert body["error"] == error
    # The route's JSON, plus the log line's hint and, when retryable, the wait in seconds.
    retry = {"retry_after"} if exit_code == EXIT_RETRYABLE else set()
    assert set(body) == {"error", "message", "request_id", "retryable", "hint", *retry}
    assert "Retry-After" not in body["message"]
    assert body["hint"] in done.stderr
    assert body["request_id"] in done.stderr


def test_config_check_subprocess_lists_every_problem_of_a_broken_config() -> None:
    settings = {
        "MINDSET_API_HOST": "acme.api.mindset.ai",
        "MINDSET_READ_TIMEOUT": "soon",
        "BROKER_REDIS_URL": "localhost:6379",
    }
    done = flask_cli(settings, "config", "check")
    assert done.returncode == EXIT_FAILED
    report = json.loads(done.stdout)
    named = {problem.split()[0] for problem in report["problems"]}
    assert {"MINDSET_API_KEY", "MINDSET_READ_TIMEOUT", "BROKER_REDIS_URL"} <= named
    assert report["settings"] is None


def test_config_check_subprocess_probe_reports_latency(vendor: StandinProcess) -> None:
    done = flask_cli(vendor_settings(vendor), "config", "check", "--probe")
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["probe"]["outcome"] == "ok"
    assert report["probe"]["latency_ms"] > 0
    assert fake_secrets.API_KEY not in done.stdout
