"""``make bench``: the broker under load beside two reference brokers, one row per scenario.

Everything runs on loopback on free ports, with generated configuration in a temporary
directory, and is stopped at the end, also on failure or Ctrl-C. For each scenario, one after
the other against the same stand-in and the same wrk load:

* the stand-in vendor (``python -m standin``) with the scenario's latency and token format;
* the broker exactly as ``make serve`` runs it (``gunicorn -c gunicorn.conf.py wsgi:app``),
  once, or twice behind nginx round-robin with one redis-server for ``two-instances``;
* the references (``reference_servers.py``): the Mindset docs' Express sample and a minimal
  aiohttp broker, each alone on the machine while it is measured;
* ``wrk`` with a Lua script rotating pre-signed session cookies of N users.

Environment knobs: ``BENCH_DURATION`` (seconds per scenario and target, default 10),
``BENCH_WARMUP`` (default 3), ``BENCH_SCENARIOS`` (comma-separated names, default the four
of the comparison, ``all`` for every one), ``BENCH_REFERENCES`` (default ``express,aiohttp``,
``none`` for the broker alone), ``BENCH_REPEAT`` (whole runs, default 1; the spread of each
ratio is printed), ``BENCH_THREADS`` (wrk threads, default 2), ``BENCH_SERVER`` (``gunicorn``,
production's and the default, ``granian`` or ``uwsgi``: the same ``wsgi:app`` under another
server, see ``servers.py``; ``BENCH_SERVER_ARGS`` adds options to its command line), and any
``BROKER_*``/``MINDSET_*`` server setting to try a variant (``BROKER_WORKERS=1``).
Results are also written to ``bench/out/``.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import re
import shutil
import subprocess  # nosec B404
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# `python bench/run.py` puts bench/ first on the path; the process helpers live at the root.
sys.path.insert(0, str(ROOT))

import cpu_split  # noqa: E402
from comparison import (  # noqa: E402
    REFERENCES,
    Measurement,
    Row,
    check_targets,
    references_table,
    spread,
    spread_table,
    table,
    targets_over_runs,
    targets_report,
)
from reference_servers import (  # noqa: E402
    EXPRESS_COOKIE,
    AiohttpReference,
    ExpressReference,
    express_cookie,
    vendor_env,
)
from servers import SERVERS, AlternativeServer, broker_server  # noqa: E402

from harness.cookies import cookie_signer  # noqa: E402
from harness.gunicorn_server import GunicornServer  # noqa: E402
from harness.processes import ManagedProcess, answers, free_port  # noqa: E402
from harness.redis_process import RedisProcess  # noqa: E402
from harness.standin_process import StandinProcess  # noqa: E402

BENCH = ROOT / "bench"
API_KEY = "bench-api-key-0123456789abcdef"
APP_UID = "bench-app"
# A loopback-only fake for the bench's own processes, never a deployment's (the subprocess
# import above is for the same reason: the bench starts wrk, a local process, itself).
SECRET_KEY = "bench-secret-key-0123456789abcdef0123456789abcdef"  # nosec B105
JWT = "jwt"  # the stand-in's token format with a stated expiry
# The rows whose CPU is split between the vendor call and the rest (bench/cpu_split.py), and
# how long that pass runs at most.
CPU_SPLIT_ROWS = ("latency",)
CPU_SPLIT_SECONDS = 10.0
OPAQUE = "opaque"


@dataclass(frozen=True)
class Scenario:
    name: str
    connections: int
    users: int
    latency_ms: int
    token_format: str = OPAQUE
    instances: int = 1
    redis: bool = False
    what: str = ""

    @property
    def ceiling(self) -> float | None:
        """The physical limit when every request waits one vendor call: connections / latency."""
        if self.latency_ms == 0:
            return None
        return self.connections / (self.latency_ms / 1000)


SCENARIOS = [
    Scenario("instant", 32, 1, 0, what="the broker's own cost per request"),
    Scenario("hot-user", 256, 1, 100, what="one user: coalescing"),
    Scenario("latency", 256, 2000, 100, what="2000 users, a 100 ms vendor"),
    Scenario("jwt-reuse", 256, 2000, 100, JWT, what="JWTs with exp in an hour: reuse"),
    Scenario(
        "latency-32",
        32,
        2000,
        100,
        what="latency below the broker's CPU capacity: what the broker adds to a vendor call",
    ),
    Scenario(
        "jwt-reuse-redis",
        256,
        2000,
        100,
        JWT,
        redis=True,
        what="jwt-reuse with BROKER_REDIS_URL: one token per user for all workers",
    ),
    Scenario("two-instances", 256, 2000, 100, instances=2, what="latency via nginx, 2 brokers"),
    Scenario("two-instances-hot", 256, 1, 100, instances=2, what="hot-user via nginx, 2 brokers"),
]
# The comparison of issue 10: what `make bench` runs unless BENCH_SCENARIOS says otherwise.
DEFAULT_SCENARIOS = ("instant", "hot-user", "latency", "jwt-reuse")


class Stack(contextlib.ExitStack):
    """Processes started for one scenario, stopped in reverse order whatever happens."""

    def __init__(self, workdir: Path) -> None:
        super().__init__()
        self.workdir = workdir

    def log(self, name: str) -> Path:
        return self.workdir / f"{name}.log"


def start_standin(stack: Stack, scenario: Scenario, name: str = "standin") -> StandinProcess:
    options: dict[str, Any] = {
        "latency_ms": scenario.latency_ms,
        "token_format": scenario.token_format,
    }
    if scenario.token_format == JWT:
        options["jwt_ttl"] = 3600
    standin = StandinProcess(API_KEY, APP_UID, log_path=stack.log(name), **options)
    return stack.enter_context(standin)


def vendor_calls(standin: StandinProcess) -> int:
    return stats_total(standin.stats())


def stats_total(stats: Any) -> int:
    """Vendor token calls the stand-in answered (``auth_calls`` in its stats)."""
    value = stats.get("auth_calls") if isinstance(stats, dict) else None
    if not isinstance(value, int):
        raise RuntimeError(f"the stand-in's stats have no auth_calls count: {stats!r}")
    return value


def broker_env(standin_url: str, redis_url: str | None) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("MINDSET_", "TYPINGMIND_", "BROKER_")) or key in PASSED_THROUGH
    }
    env.update(
        BROKER_ENV_FILE=os.devnull,
        BROKER_BIND="127.0.0.1:0",
        SECRET_KEY=SECRET_KEY,
        MINDSET_API_HOST=standin_url,
        MINDSET_API_KEY=API_KEY,
        MINDSET_APP_UID=APP_UID,
    )
    # A few users send the whole load: limits sized for real users would answer 429. The
    # limiter still runs (its cost is part of every request), it just never refuses.
    env.setdefault("BROKER_RATE_LIMIT", "100000000/minute")
    env.setdefault("BROKER_RATE_LIMIT_PER_IP", "100000000/minute")
    if redis_url:
        env["BROKER_REDIS_URL"] = redis_url
    return env


def instance_env(scenario: Scenario, standin: str, redis_url: str | None) -> dict[str, str]:
    env = broker_env(standin, redis_url)
    if scenario.instances > 1 and "BROKER_WORKERS" not in PASSED_THROUGH:
        # Instances share this machine's cores, as they would share a host's: workers add up
        # to one per core, not one per core each.
        env["BROKER_WORKERS"] = str(max(1, (os.cpu_count() or 1) // scenario.instances))
    return env


# Server settings a caller may set to try a variant (worker model, pool, log level...).
PASSED_THROUGH = {
    name
    for name in os.environ
    if name.startswith(("BROKER_", "MINDSET_"))
    and name not in ("BROKER_ENV_FILE", "BROKER_BIND", "BROKER_REDIS_URL")
    and not name.startswith(("MINDSET_API_", "MINDSET_APP_"))
}


# The server the broker runs under: gunicorn is exactly what `make serve` runs.
SERVER = (os.environ.get("BENCH_SERVER") or "gunicorn").strip()


def start_broker(
    stack: Stack, name: str, env: dict[str, str]
) -> GunicornServer | AlternativeServer:
    server = broker_server(SERVER, env, stack.log(name))
    stack.enter_context(server)
    return server


def start_redis(stack: Stack) -> str:
    return stack.enter_context(RedisProcess(stack.workdir, log_path=stack.log("redis"))).url


NGINX_CONF = """
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/nginx-error.log warn;
daemon off;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {dir}/nginx-body;
    proxy_temp_path {dir}/nginx-proxy;
    fastcgi_temp_path {dir}/nginx-fastcgi;
    uwsgi_temp_path {dir}/nginx-uwsgi;
    scgi_temp_path {dir}/nginx-scgi;
    upstream brokers {{
        {servers}
        keepalive 512;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://brokers;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
        }}
    }}
}}
"""


def start_nginx(stack: Stack, backends: list[str]) -> str:
    port = free_port()
    servers = "\n        ".join(f"server {url.removeprefix('http://')};" for url in backends)
    conf = stack.workdir / "nginx.conf"
    conf.write_text(NGINX_CONF.format(dir=stack.workdir, servers=servers, port=port))
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    argv = [nginx, "-p", str(stack.workdir), "-c", str(conf)]
    process = stack.enter_context(
        ManagedProcess(argv, what="nginx", log_path=stack.log("nginx"), group=True)
    )
    url = f"http://127.0.0.1:{port}"
    process.wait_until(lambda: answers(f"{url}/api/getusertoken", 401), "passing requests on")
    return url


def write_cookies(path: Path, users: int) -> None:
    """Session cookies exactly as the host app (sharing SECRET_KEY) would set them: read by
    the broker and by the aiohttp reference."""
    sign = cookie_signer(SECRET_KEY)
    lines = [sign({"user_id": user_id(n), "user_name": f"User {n}"}) for n in range(users)]
    path.write_text("\n".join(lines) + "\n")


def write_express_cookies(path: Path, users: int) -> None:
    """The same users' cookie-parser signed cookies, for the Express sample's login."""
    lines = [express_cookie(user_id(n), SECRET_KEY) for n in range(users)]
    path.write_text("\n".join(lines) + "\n")


def user_id(n: int) -> str:
    return f"bench-user-{n}"


def cookie_env(workdir: Path, users: int, target: str) -> dict[str, str]:
    """wrk's environment for ``getusertoken.lua``: the cookie file (written once) and name."""
    if target == "express":
        path = workdir / f"cookies-express-{users}.txt"
        if not path.exists():
            write_express_cookies(path, users)
        return {"BENCH_COOKIES": str(path), "BENCH_COOKIE_NAME": EXPRESS_COOKIE}
    path = workdir / f"cookies-{users}.txt"
    if not path.exists():
        write_cookies(path, users)
    return {"BENCH_COOKIES": str(path)}


def run_wrk(url: str, connections: int, seconds: float, script: Path, env: dict[str, str]) -> Any:
    threads = min(int(os.environ.get("BENCH_THREADS") or 2), connections)
    argv = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds:g}s"]
    argv += ["--timeout", "5s", "-s", str(script), url]
    # A fixed argv built here, no shell.
    done = subprocess.run(  # nosec B603
        argv,
        env={**os.environ, **env, "BENCH_WRK_THREADS": str(threads), "BENCH_LUA_DIR": str(BENCH)},
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=False,
    )
    match = re.search(r"BENCH_RESULT (\{.*\})", done.stdout)
    if done.returncode != 0 or match is None:
        raise RuntimeError(f"wrk failed: {done.stdout[-2000:]} {done.stderr[-2000:]}")
    return json.loads(match.group(1))


class RssSampler(threading.Thread):
    """Peak summed resident memory of the given process trees, sampled from /proc."""

    def __init__(self, roots: list[int]) -> None:
        super().__init__(daemon=True)
        self.roots = roots
        self.peak_kb = 0
        self.running = True

    def run(self) -> None:
        while self.running:
            self.peak_kb = max(self.peak_kb, sum(rss_kb(pid) for pid in tree(self.roots)))
            time.sleep(0.1)

    def finish(self) -> float:
        self.running = False
        self.join(5)
        return self.peak_kb / 1024


def tree(roots: list[int]) -> set[int]:
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                stat = (entry / "stat").read_text()
                parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found = set(roots)
    grew = True
    while grew:
        grew = False
        for pid, parent in parents.items():
            if parent in found and pid not in found:
                found.add(pid)
                grew = True
    return found


def cpu_seconds(roots: list[int]) -> float:
    ticks = 0
    for pid in tree(roots):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def rss_kb(pid: int) -> int:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def measure_standin(workdir: Path, seconds: float) -> float:
    scenario = Scenario("standin-alone", 32, 1, 0)
    with Stack(workdir) as stack:
        url = start_standin(stack, scenario, "standin-alone").url
        env = {
            "BENCH_VENDOR_PATH": f"/api/v1/appuid/{APP_UID}/sdkusers/auth",
            "BENCH_API_KEY": API_KEY,
        }
        run_wrk(url, 32, 1, BENCH / "vendor.lua", env)
        result = run_wrk(url, 32, seconds, BENCH / "vendor.lua", env)
    errors = sum(result[k] for k in ("connect", "read", "write", "status", "timeout"))
    if errors:
        raise RuntimeError(f"the stand-in alone answered {errors} errors")
    return float(result["requests"] / (result["duration_us"] / 1e6))


def wrk_threads(scenario: Scenario) -> int:
    return min(int(os.environ.get("BENCH_THREADS") or 2), scenario.connections)


def settle(standin: StandinProcess, url: str, scenario: Scenario, env: dict[str, str]) -> bool:
    """Warm the broker up until reuse is steady: every user's token minted (once per worker
    process without Redis), so the measured window shows reuse, not the first mint of each
    user. False if it never got there within a minute."""
    deadline = time.monotonic() + 60
    previous = vendor_calls(standin)
    start = 0
    while time.monotonic() < deadline:
        # Each run carries on where the last stopped, so the warm-up reaches every user.
        chunk = {**env, "BENCH_START": str(start)}
        done = run_wrk(url, scenario.connections, 2, BENCH / "getusertoken.lua", chunk)
        start += done["requests"] // wrk_threads(scenario)
        current = vendor_calls(standin)
        if current - previous <= scenario.users // 100:
            return True
        previous = current
    return False


def reach_every_user(url: str, scenario: Scenario, env: dict[str, str]) -> None:
    """The references' counterpart of :func:`settle`: warm up until every user was served
    once, so they are measured after the same warm-up as the broker (they keep no token, so
    every request still calls the vendor)."""
    deadline = time.monotonic() + 60
    start = 0
    while start < scenario.users / wrk_threads(scenario) and time.monotonic() < deadline:
        chunk = {**env, "BENCH_START": str(start)}
        done = run_wrk(url, scenario.connections, 2, BENCH / "getusertoken.lua", chunk)
        start += done["requests"] // wrk_threads(scenario)


def measure(
    name: str,
    url: str,
    roots: list[int],
    standin: StandinProcess,
    scenario: Scenario,
    env: dict[str, str],
    timing: tuple[float, float],
) -> Measurement:
    """Warm-up, then ``seconds`` of wrk against ``url``; CPU and memory of the process trees
    under ``roots`` (the target's processes, nothing else) read from /proc."""
    seconds, warmup = timing
    script = BENCH / "getusertoken.lua"
    before_warmup = vendor_calls(standin)
    if warmup > 0:
        run_wrk(url, scenario.connections, warmup, script, env)
    if scenario.token_format == JWT:
        if name == "broker":
            if not settle(standin, url, scenario, env):
                print(f"# WARNING: {scenario.name}: reuse was not steady after a minute")
        else:
            reach_every_user(url, scenario, env)
    before = vendor_calls(standin)
    cpu_before = cpu_seconds(roots)
    sampler = RssSampler(roots)
    sampler.start()
    try:
        result = run_wrk(url, scenario.connections, seconds, script, env)
    finally:
        peak = sampler.finish()
    cpu = cpu_seconds(roots) - cpu_before
    after = vendor_calls(standin)
    share = None
    if name == "broker" and scenario.name in CPU_SPLIT_ROWS:
        share = cpu_split_pass(url, roots[0], scenario, env, seconds)
    return Measurement(
        rps=round(result["requests"] / (result["duration_us"] / 1e6), 1),
        p50_ms=round(result["p50"] / 1000, 1),
        p99_ms=round(result["p99"] / 1000, 1),
        errors=sum(result[k] for k in ("connect", "read", "write", "status", "timeout")),
        requests=result["requests"],
        vendor_calls=after - before,
        vendor_calls_total=after - before_warmup,
        peak_rss_mb=round(peak, 1),
        cpu_ms_per_request=round(1000 * cpu / max(result["requests"], 1), 3),
        vendor_call_cpu_share=share,
    )


def cpu_split_pass(
    url: str, root: int, scenario: Scenario, env: dict[str, str], seconds: float
) -> float | None:
    """The vendor call's share of the broker's CPU under this row's load, from py-spy in a pass
    of its own after the measured window (bench/cpu_split.py)."""
    seconds = min(seconds, CPU_SPLIT_SECONDS)
    out = Path(tempfile.mkdtemp(prefix="broker-cpu-split-")) / "stacks.txt"
    recording = cpu_split.start_recording(root, seconds, out)
    run_wrk(url, scenario.connections, seconds, BENCH / "getusertoken.lua", env)
    split = cpu_split.read(recording, out, timeout=seconds + 60)
    if isinstance(split, str):
        print(f"# {scenario.name}: no CPU split ({split})", flush=True)
        return None
    return round(split.vendor_call_share, 3)


def measure_broker(
    workdir: Path, scenario: Scenario, standin: StandinProcess, timing: tuple[float, float]
) -> Measurement:
    with Stack(workdir) as stack:
        redis_url = start_redis(stack) if scenario.instances > 1 or scenario.redis else None
        brokers = [
            start_broker(stack, f"broker-{n}", instance_env(scenario, standin.url, redis_url))
            for n in range(scenario.instances)
        ]
        urls = [broker.url for broker in brokers]
        url = start_nginx(stack, urls) if scenario.instances > 1 else urls[0]
        env = cookie_env(workdir, scenario.users, "broker")
        roots = [broker.pid for broker in brokers]
        return measure("broker", url, roots, standin, scenario, env, timing)


def measure_reference(
    name: str,
    workdir: Path,
    scenario: Scenario,
    standin: StandinProcess,
    timing: tuple[float, float],
) -> Measurement:
    env = vendor_env(SECRET_KEY, standin.url, API_KEY, APP_UID)
    log = workdir / f"{name}.log"
    # One worker process per core, as the broker's default (gunicorn.conf.py).
    server = (
        ExpressReference(env, log)
        if name == "express"
        else AiohttpReference(env, log, os.cpu_count() or 1)
    )
    with server:
        wrk_env = cookie_env(workdir, scenario.users, name)
        return measure(name, server.url, [server.pid], standin, scenario, wrk_env, timing)


def run_scenario(
    scenario: Scenario, workdir: Path, timing: tuple[float, float], order: list[str]
) -> Row:
    """The broker and each reference, alone on the machine in turn (in ``order``), against
    one stand-in."""
    measured: dict[str, Measurement] = {}
    with Stack(workdir) as stack:
        standin = start_standin(stack, scenario)
        for name in order:
            if name == "broker":
                measured[name] = measure_broker(workdir, scenario, standin, timing)
            else:
                measured[name] = measure_reference(name, workdir, scenario, standin, timing)
    figures = ", ".join(f"{name} {m.rps:.0f} req/s" for name, m in measured.items())
    print(f"#   {figures}", flush=True)
    broker = measured.pop("broker")
    references = {name: measured[name] for name in REFERENCES if name in measured}
    return Row(scenario.name, broker, scenario.ceiling, references)


def machine() -> str:
    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    load = os.getloadavg()
    return (
        f"{platform.node()}: {os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, "
        f"load average before the run {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )


def chosen(variable: str, default: tuple[str, ...], known: list[str]) -> list[str]:
    """The comma-separated names of ``variable`` (``all``: every known one, ``none``: none),
    in the order of ``known``; an unknown name stops the run before anything starts."""
    raw = os.environ.get(variable) or ",".join(default)
    names = {name.strip() for name in raw.split(",") if name.strip()}
    if names == {"all"}:
        return known
    if names == {"none"}:
        return []
    unknown = sorted(names - set(known))
    if unknown:
        raise SystemExit(f"{variable}: unknown {', '.join(unknown)}; known: {', '.join(known)}")
    return [name for name in known if name in names]


def run_once(
    scenarios: list[Scenario], workdir: Path, timing: tuple[float, float], order: list[str]
) -> list[Row]:
    rows = []
    for scenario in scenarios:
        print(f"# running {scenario.name}: {scenario.what}", flush=True)
        try:
            rows.append(run_scenario(scenario, workdir, timing, order))
        except RuntimeError as error:
            print(f"# {scenario.name} failed: {error}", flush=True)
            for log in sorted(workdir.glob("*.log")):
                tail = log.read_text(errors="replace")[-1500:]
                print(f"# --- {log.name}\n{tail}", flush=True)
            raise
    return rows


def notes(rows: list[Row], standin_rps: float) -> None:
    for row in rows:
        targets = {"broker": row.broker.rps} | {n: m.rps for n, m in row.references.items()}
        for name, rps in targets.items():
            if standin_rps < 10 * rps:
                print(
                    f"WARNING: {row.scenario}: the stand-in alone ({standin_rps:.0f} req/s) is "
                    f"not 10x {name}'s {rps:.0f} req/s: it may be the bottleneck"
                )
        share = row.broker.vendor_call_cpu_share
        if share is not None:
            cpu = row.broker.cpu_ms_per_request
            print(
                f"{row.scenario}: CPU split (py-spy, a pass of its own): the vendor call "
                f"{share:.0%} of the workers' CPU, about {share * cpu:.2f} of {cpu:.3f} ms/req; "
                f"the rest {1 - share:.0%}, about {(1 - share) * cpu:.2f} ms"
            )
        if row.scenario.startswith("jwt-reuse"):
            print(
                f"{row.scenario}: {row.broker.vendor_calls_total} broker vendor calls for "
                f"{SCENARIO_USERS[row.scenario]} users including warm-up (one per user per "
                "worker process without Redis)"
            )


SCENARIO_USERS = {s.name: s.users for s in SCENARIOS}


def main() -> int:
    seconds = float(os.environ.get("BENCH_DURATION") or 10)
    warmup = float(os.environ.get("BENCH_WARMUP") or 3)
    repeat = max(1, int(os.environ.get("BENCH_REPEAT") or 1))
    names = chosen("BENCH_SCENARIOS", DEFAULT_SCENARIOS, [s.name for s in SCENARIOS])
    scenarios = [s for s in SCENARIOS if s.name in names]
    references = chosen("BENCH_REFERENCES", REFERENCES, list(REFERENCES))
    if SERVER not in SERVERS:
        raise SystemExit(f"BENCH_SERVER: unknown {SERVER!r}; known: {', '.join(SERVERS)}")
    server = {k: os.environ[k] for k in sorted(PASSED_THROUGH)}
    print(f"# {machine()}", flush=True)
    print(f"# broker server: {SERVER} {os.environ.get('BENCH_SERVER_ARGS') or ''}".rstrip())
    print(f"# {seconds:g} s per scenario and target after {warmup:g} s warm-up, {repeat} run(s)")
    print(f"# references: {', '.join(references) or 'none'}; server overrides: {server}")
    runs: list[list[Row]] = []
    all_checks = []
    with tempfile.TemporaryDirectory(prefix="broker-bench-") as tmp:
        workdir = Path(tmp)
        standin_rps = measure_standin(workdir, min(seconds, 5))
        print(f"# stand-in alone (instant, 32 connections): {standin_rps:.0f} req/s", flush=True)
        for number in range(1, repeat + 1):
            if repeat > 1:
                print(f"# run {number} of {repeat}", flush=True)
            # Each run starts with the next target, so that whatever drifts during a run (the
            # load of others on the machine) does not always favour the same one.
            targets = ["broker", *references]
            shift = (number - 1) % len(targets)
            order = targets[shift:] + targets[:shift]
            rows = run_once(scenarios, workdir, (seconds, warmup), order)
            runs.append(rows)
            checks = check_targets(rows)
            all_checks.append(checks)
            print()
            print(table(rows))
            if references:
                print()
                print(references_table(rows))
            print()
            print(targets_report(checks))
            print()
            notes(rows, standin_rps)
            print(flush=True)
    spreads = spread(runs)
    if repeat > 1:
        print(f"spread over {repeat} runs (min-max):")
        print(spread_table(spreads))
        print()
        print(targets_over_runs(all_checks))
    out = BENCH / "out"
    out.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    report = {
        "machine": machine(),
        "server": server,
        "broker_server": SERVER,
        "server_args": os.environ.get("BENCH_SERVER_ARGS") or "",
        "seconds": seconds,
        "warmup": warmup,
        "references": references,
        "standin_rps": standin_rps,
        "runs": [
            {"rows": [row.as_json() for row in rows], "targets": checks}
            for rows, checks in zip(runs, all_checks, strict=True)
        ],
        "spread": spreads,
    }
    (out / f"bench-{stamp}.json").write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
    sys.exit(130)
