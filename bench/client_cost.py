"""``make bench-client``: the CPU one vendor call costs, layer by layer, down to urllib3.

Starts the stand-in vendor (instant answers) on loopback and, in a fresh child process per
worker model (plain threads, then gevent with ``monkey.patch_all()`` as the production
workers run), times the same token POST made through each layer the broker could use:

* ``session.post(json=...)``: requests as most code calls it;
* ``session.send(prepared.copy())``: one request prepared up front;
* ``HTTPAdapter.send``: the transport under the session;
* ``urllib3 urlopen``: a kept-alive ``HTTPConnectionPool`` alone, the floor for ``requests``;
* ``MindsetClient``: the broker's own client as a token request uses it (its watched
  adapter, whole-attempt deadline, bounded body read, token checks), once with its log line
  dropped and once written as production writes it (JSON, to a null stream here).

Each figure is ``time.process_time()`` (this process's CPU, the stand-in's not included) over
``--calls`` calls, repeated ``--repeats`` times after a warm-up: the median and the spread
(min-max) in microseconds per call. Run ``.venv/bin/python bench/client_cost.py`` (the
subprocess import: the bench starts its children itself, from argv lists it builds).
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import statistics
import subprocess  # nosec B404
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# `python bench/client_cost.py` puts bench/ first on the path; the product is at the root.
sys.path.insert(0, str(ROOT))

API_KEY = "bench-api-key-0123456789abcdef"
APP_UID = "bench-app"
BODY = {"externalId": "user-0001", "name": "Ada Lovelace"}
TIMEOUT = (3.05, 10.0)
MODELS = ("threads", "gevent")
LOGGED = "MindsetClient (JSON log line)"
FLOOR = "urllib3 urlopen"


def token_of(body: bytes) -> str:
    token: str = json.loads(body)["authToken"]
    return token


def variants(base_url: str) -> dict[str, Callable[[], str]]:
    """One callable per layer, each making one token POST and returning the token."""
    import requests
    import urllib3
    from requests.adapters import HTTPAdapter

    from flask_token_broker.mindset.client import MindsetClient
    from flask_token_broker.mindset.vendor_api import AuthRequest
    from flask_token_broker.settings import MindsetSettings

    url = f"{base_url}/api/v1/appuid/{APP_UID}/sdkusers/auth"
    headers = {"x-api-key": API_KEY, "Content-Type": "application/json"}
    payload = json.dumps(BODY, separators=(",", ":")).encode()

    session = requests.Session()
    session.headers.update(headers)

    def session_post() -> str:
        return str(session.post(url, json=BODY, timeout=TIMEOUT).json()["authToken"])

    prepared = session.prepare_request(requests.Request("POST", url, data=payload))

    def session_send() -> str:
        return token_of(session.send(prepared.copy(), timeout=TIMEOUT).content)

    adapter = HTTPAdapter()

    def adapter_send() -> str:
        return token_of(adapter.send(prepared.copy(), timeout=TIMEOUT).content)

    host, port = base_url.removeprefix("http://").split(":")
    pool = urllib3.HTTPConnectionPool(host, int(port), maxsize=1, retries=False)
    path = url.removeprefix(base_url)
    # The very headers requests sends (as many as the broker's client sends), for a fair floor.
    wire_headers = dict(prepared.headers)

    def urllib3_urlopen() -> str:
        timeout = urllib3.Timeout(connect=TIMEOUT[0], read=TIMEOUT[1])
        answer = pool.urlopen("POST", path, body=payload, headers=wire_headers, timeout=timeout)
        return token_of(answer.data)

    def mindset_client() -> Callable[[], str]:
        client = MindsetClient(
            base_url,
            API_KEY,
            APP_UID,
            flavor=MindsetSettings.flavor,
            connect_timeout=MindsetSettings.connect_timeout,
            read_timeout=MindsetSettings.read_timeout,
            pool_size=MindsetSettings.pool_size,
        )
        request = AuthRequest(external_id=BODY["externalId"], name=BODY["name"])
        return lambda: client.authenticate(request)

    return {
        "session.post(json=...)": session_post,
        "session.send(prepared.copy())": session_send,
        "HTTPAdapter.send": adapter_send,
        FLOOR: urllib3_urlopen,
        "MindsetClient (log line dropped)": mindset_client(),
        LOGGED: mindset_client(),
    }


def measure(
    calls: dict[str, Callable[[], str]], count: int, repeats: int
) -> dict[str, list[float]]:
    """Microseconds of this process's CPU per call, one figure per repeat and variant.

    The variants take turns within each repeat, so that a busy moment on a shared machine
    weighs on all of them alike rather than on whichever ran then.
    """
    for call in calls.values():
        for _ in range(min(count, 200)):  # warm-up: connections open, caches filled
            call()
    figures: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(repeats):
        for name, call in calls.items():
            started = time.process_time()
            for _ in range(count):
                call()
            figures[name].append((time.process_time() - started) / count * 1e6)
    return figures


def child(model: str, base_url: str, calls: int, repeats: int) -> None:
    """Measure every layer in this process under ``model``; print one JSON line."""
    if model == "gevent":
        from gevent import monkey

        monkey.patch_all()
    from flask_token_broker.observability.logs import JsonFormatter

    # The client's per-attempt log line: dropped (logger below INFO) for every variant but
    # the last, which turns it on around its own calls, formatted as production does.
    broker_log = logging.getLogger("broker")
    broker_log.propagate = False
    handler = logging.StreamHandler(io.StringIO())
    handler.setFormatter(JsonFormatter())
    broker_log.addHandler(handler)
    broker_log.setLevel(logging.WARNING)
    layers = variants(base_url)
    logged = layers.pop(LOGGED)

    def with_log_line() -> str:
        broker_log.setLevel(logging.INFO)
        try:
            return logged()
        finally:
            broker_log.setLevel(logging.WARNING)
            handler.stream.seek(0)
            handler.stream.truncate()

    layers[LOGGED] = with_log_line
    print(json.dumps(measure(layers, calls, repeats)))


def summary(figures: list[float], floor: list[float]) -> str:
    """Median (min-max), and the median as a multiple of urllib3's alone."""
    median = statistics.median(figures)
    ratio = median / statistics.median(floor)
    return f"{median:.0f} ({min(figures):.0f}-{max(figures):.0f}) {ratio:.2f}x"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=2000, help="calls per repeat")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--models", default=",".join(MODELS), help="threads,gevent")
    parser.add_argument("--child", choices=MODELS, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.url, args.calls, args.repeats)
        return 0

    from harness.standin_process import StandinProcess

    models = [m for m in args.models.split(",") if m]
    table: dict[str, dict[str, list[float]]] = {}
    with StandinProcess(API_KEY, APP_UID, latency_ms=0) as vendor:
        for model in models:
            argv = [sys.executable, __file__, "--child", model, "--url", vendor.url]
            argv += ["--calls", str(args.calls), "--repeats", str(args.repeats)]
            done = subprocess.run(argv, capture_output=True, text=True, check=False)  # nosec B603
            if done.returncode != 0:
                print(done.stderr, file=sys.stderr)
                return 1
            table[model] = json.loads(done.stdout.strip().splitlines()[-1])
    print(
        f"CPU us per call, median (min-max) of {args.repeats} x {args.calls} calls, "
        f"and as a multiple of {FLOOR}"
    )
    print(f"{'variant':36}" + "".join(f"{m:>24}" for m in models))
    names: list[Any] = list(next(iter(table.values())))
    for name in names:
        cells = (summary(table[m][name], table[m][FLOOR]) for m in models)
        print(f"{name:36}" + "".join(f"{cell:>24}" for cell in cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
