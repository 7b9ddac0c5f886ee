"""Soak: load on the production server while the vendor flips between healthy and failing.

    python bench/soak.py --seconds 60        (or: make soak)

Starts the stand-in vendor and ``gunicorn -c gunicorn.conf.py wsgi:app`` on free loopback
ports, then keeps ``--clients`` concurrent callers asking for tokens (as many distinct
signed-in users) while the vendor cycles every ``--phase`` seconds through healthy and one
fault mode after another (503, hang, reset, slow beyond the deadline, garbage, 429 with a
short Retry-After, 500). It prints, and writes to ``bench/out/soak.json``:

- answers by status: anything outside the documented 200/429/502/503/504 is a failure;
- latency (median, p99, max) against ``BROKER_DEADLINE``: max must stay within deadline + margin;
- the workers' resident memory after warm-up and at the end;
- whether any worker was restarted.

Exits 1 when a check fails. Not part of ``make test``: it runs for a minute on purpose.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import requests

REPO_ROOT = Path(__file__).resolve().parent.parent
# `python bench/soak.py` puts bench/ first on the path; the process helpers live at the root.
sys.path.insert(0, str(REPO_ROOT))

from harness.cookies import session_cookie  # noqa: E402
from harness.gunicorn_server import GunicornServer, isolated_environment  # noqa: E402
from harness.standin_process import StandinProcess  # noqa: E402

# Loopback-only fakes for the soak's own processes, never a deployment's.
API_KEY = "soak-api-key-0123456789abcdef"
APP_UID = "soak-app"
SECRET_KEY = "soak-secret-key-0123456789abcdef0123456789abcdef"  # nosec B105

DOCUMENTED = {200, 429, 502, 503, 504}
DEADLINE = 8.0
# Above the deadline: the answer still has to travel and the client has to be scheduled.
MARGIN = 1.0
PHASES: list[dict[str, Any] | None] = [
    None,
    {"mode": "status", "status": 503},
    None,
    {"mode": "hang"},
    None,
    {"mode": "reset"},
    None,
    {"mode": "slow", "delay_ms": 12_000},
    None,
    {"mode": "garbage"},
    None,
    {"mode": "status", "status": 429, "retry_after": "1"},
    None,
    {"mode": "status", "status": 500},
]


def worker_boots(server: GunicornServer) -> int:
    return server.logs().count("Booting worker with pid")


def worker_pids(master: int) -> list[int]:
    children = Path(f"/proc/{master}/task/{master}/children")
    return [int(pid) for pid in children.read_text().split()] if children.exists() else []


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class Load:
    def __init__(self, url: str, clients: int) -> None:
        self.url = url
        self.clients = clients
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.statuses: Counter[str] = Counter()
        self.latencies: list[float] = []
        self.undocumented: list[str] = []

    def caller(self, number: int) -> None:
        session = requests.Session()
        # Distinct users, so the per-user limit (60/minute) is not what the soak measures.
        users = [f"soak-{number}-{i}" for i in range(50)]
        cookies = [session_cookie({"user_id": user}, SECRET_KEY) for user in users]
        turn = 0
        while not self.stop.is_set():
            cookie = cookies[turn % len(cookies)]
            turn += 1
            started = time.monotonic()
            try:
                response = session.get(
                    f"{self.url}/api/getusertoken",
                    headers={"Cookie": f"session={cookie}"},
                    timeout=DEADLINE + 10,
                )
                key = str(response.status_code)
                if response.status_code not in DOCUMENTED or (
                    response.status_code != 200
                    and response.json().get("retryable") != ("Retry-After" in response.headers)
                ):
                    self.undocumented.append(f"{key} {response.text[:200]}")
            except requests.RequestException as error:
                key = f"client error {type(error).__name__}"
                self.undocumented.append(key)
            took = time.monotonic() - started
            with self.lock:
                self.statuses[key] += 1
                self.latencies.append(took)
        session.close()

    def start(self) -> list[threading.Thread]:
        threads = [
            threading.Thread(target=self.caller, args=(n,), daemon=True)
            for n in range(self.clients)
        ]
        for thread in threads:
            thread.start()
        return threads


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--phase", type=float, default=5.0, help="seconds per vendor state")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    out = REPO_ROOT / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)

    with StandinProcess(API_KEY, APP_UID, latency_ms=50) as vendor:
        env = {
            "SECRET_KEY": SECRET_KEY,
            "MINDSET_API_HOST": vendor.url,
            "MINDSET_API_KEY": API_KEY,
            "MINDSET_APP_UID": APP_UID,
            "BROKER_DEADLINE": str(DEADLINE),
            "BROKER_BREAKER_COOLDOWN": "5",
            "BROKER_RATE_LIMIT_PER_IP": "1000000/minute",
        }
        environment = isolated_environment(env, args.workers)
        with GunicornServer(environment, out / "broker.stderr") as server:
            master = server.pid
            load = Load(server.url, args.clients)
            threads = load.start()
            time.sleep(min(5.0, args.seconds / 4))  # warm-up: pools filled, modules loaded
            rss_start = {pid: rss_kib(pid) for pid in worker_pids(master)}
            boots = worker_boots(server)
            ends = time.monotonic() + args.seconds
            phases_run: list[str] = []
            turn = 0
            while time.monotonic() < ends:
                fault = PHASES[turn % len(PHASES)]
                turn += 1
                if fault is None:
                    vendor.clear_fault()
                    phases_run.append("healthy")
                else:
                    vendor.set_fault(**fault)
                    phases_run.append(fault["mode"] + str(fault.get("status", "")))
                time.sleep(min(args.phase, max(0.0, ends - time.monotonic())))
            vendor.clear_fault()
            time.sleep(2)  # let the callers see the vendor healthy again
            load.stop.set()
            for thread in threads:
                thread.join(timeout=DEADLINE + 15)
            rss_end = {pid: rss_kib(pid) for pid in worker_pids(master)}
            restarted = worker_boots(server) - boots

    latencies = sorted(load.latencies)
    report = {
        "seconds": args.seconds,
        "clients": args.clients,
        "workers": args.workers,
        "phases": phases_run,
        "requests": len(latencies),
        "statuses": dict(sorted(load.statuses.items())),
        "undocumented": load.undocumented[:20],
        "latency_s": {
            "median": round(statistics.median(latencies), 3),
            "p99": round(latencies[int(len(latencies) * 0.99) - 1], 3),
            "max": round(latencies[-1], 3),
            "deadline": DEADLINE,
        },
        "worker_rss_kib": {"after_warmup": rss_start, "end": rss_end},
        "worker_restarts": restarted,
    }
    (out / "soak.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))

    failures = []
    if load.undocumented:
        failures.append(f"{len(load.undocumented)} undocumented answers")
    if latencies[-1] > DEADLINE + MARGIN:
        failures.append(f"slowest answer {latencies[-1]:.2f} s > deadline {DEADLINE} + {MARGIN}")
    if restarted:
        failures.append(f"{restarted} worker restarts")
    if set(rss_start) == set(rss_end):
        for pid, before in rss_start.items():
            if rss_end[pid] > before * 1.5:
                failures.append(f"worker {pid} RSS grew from {before} to {rss_end[pid]} KiB")
    for failure in failures:
        print(f"SOAK FAILED: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
