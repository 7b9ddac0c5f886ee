"""The HTTP servers ``make bench`` can run the broker under (``BENCH_SERVER``), to compare them.

* ``gunicorn`` (the default): exactly what ``make serve`` runs, ``gunicorn -c gunicorn.conf.py
  wsgi:app``, gevent workers subclassed in ``serving/`` (:class:`GunicornServer`);
* ``granian``: the same ``wsgi:app`` under granian's WSGI interface (Rust HTTP, the app in a
  pool of blocking threads per worker; the vendor deadline is then the watchdog thread of
  ``flask_token_broker/mindset/deadline.py``);
* ``uwsgi``: the same ``wsgi:app`` under uWSGI's gevent loop (C HTTP parsing, one greenlet
  per request, gevent's monkey-patching as gunicorn's gevent worker does).

Each gets the environment the bench gives gunicorn plus what ``gunicorn.conf.py`` would have
added (``BROKER_ENV=production``, a fresh ``PROMETHEUS_MULTIPROC_DIR``), the same number of
worker processes (``BROKER_WORKERS``, default one per core), loopback only, and is started and
stopped by :class:`ManagedProcess` (bounded start, SIGTERM then SIGKILL of its whole session).
Only gunicorn runs ``serving/``: the alternatives are measured as their own servers are.
``BENCH_SERVER_ARGS`` appends options to the alternative's command line, to try settings.
"""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness.gunicorn_server import GunicornServer  # noqa: E402
from harness.processes import ManagedProcess, answers, free_port  # noqa: E402
from serving.settings import read_server_settings  # noqa: E402

BIN = Path(sys.executable).parent
SERVERS = ("gunicorn", "granian", "uwsgi")
# Blocking threads per granian worker: one per connection the bench opens (256), so no
# request waits for a thread while others wait on the vendor (fewer measured slower).
GRANIAN_THREADS = 256
# uWSGI is compiled at install (gcc and the Python headers), so it is not in requirements-dev.txt.
INSTALL = {
    "granian": "pip install -r requirements-dev.txt",
    "uwsgi": "pip install uwsgi==2.0.31 (it compiles: needs gcc and python3-dev)",
}
# Greenlets per uWSGI worker: as gunicorn's worker_connections (gunicorn.conf.py).
UWSGI_GREENLETS = 1000


def workers(env: Mapping[str, str]) -> int:
    return int(env.get("BROKER_WORKERS") or os.cpu_count() or 1)


def header_timeout(env: Mapping[str, str]) -> float:
    """``BROKER_HEADER_TIMEOUT`` in seconds: each server's own header-read bound is set to it."""
    return read_server_settings(env).header_timeout


def production_env(env: Mapping[str, str], metrics_dir: Path) -> dict[str, str]:
    """What ``gunicorn.conf.py`` adds to the workers' environment, for the other servers."""
    metrics_dir.mkdir(parents=True, exist_ok=True)
    for stale in metrics_dir.glob("*.db"):
        stale.unlink()
    return {**env, "BROKER_ENV": "production", "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}


def extra_args() -> list[str]:
    return shlex.split(os.environ.get("BENCH_SERVER_ARGS") or "")


def granian_command(env: Mapping[str, str], port: int) -> list[str]:
    return [
        str(BIN / "granian"),
        "--interface",
        "wsgi",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers(env)),
        "--blocking-threads",
        str(GRANIAN_THREADS),
        # The broker logs its own JSON access line; granian's would repeat it.
        "--no-access-log",
        # Its own bound on reading a request's headers (at most 60 s), in milliseconds.
        "--http1-header-read-timeout",
        str(min(60_000, round(header_timeout(env) * 1000))),
        "--log-level",
        "warning",
        *extra_args(),
        "wsgi:app",
    ]


def uwsgi_command(env: Mapping[str, str], port: int, socket: Path) -> list[str]:
    return [
        str(BIN / "uwsgi"),
        # uWSGI's HTTP router (C, one process) keeps client connections alive and passes each
        # request to a worker over the uwsgi protocol. The workers' own HTTP sockets cannot:
        # --http-socket closes every connection after one answer, and --http11-socket under
        # the gevent loop never reads a kept-alive connection's second request (measured).
        "--http",
        f"127.0.0.1:{port}",
        "--http-keepalive",
        # The router's own bound on reading a request's headers, in whole seconds.
        "--http-headers-timeout",
        str(max(1, round(header_timeout(env)))),
        # Router to workers over a unix socket (cheaper than the loopback TCP it picks alone).
        "--socket",
        str(socket),
        "--module",
        "wsgi:app",
        "--master",
        "--processes",
        str(workers(env)),
        "--gevent",
        str(UWSGI_GREENLETS),
        # Patched before the app is imported, as gunicorn's gevent worker does.
        "--gevent-early-monkey-patch",
        # Each worker imports the app itself (gunicorn without preload): no state shared by fork.
        "--lazy-apps",
        "--need-app",
        # SIGTERM stops it (uWSGI 2.0 would otherwise reload) and, through the hook, lets the
        # workers finish the requests they hold first (without it they are killed at once).
        "--die-on-term",
        "--hook-master-start",
        "unix_signal:15 gracefully_kill_them_all",
        "--listen",
        "1024",
        "--buffer-size",
        "16384",
        # The broker logs its own JSON access line; uWSGI's would repeat it.
        "--disable-logging",
        "--single-interpreter",
        *extra_args(),
    ]


class AlternativeServer(ManagedProcess):
    """``wsgi:app`` under another server, on a free loopback port; ready once it answers."""

    def __init__(self, server: str, env: Mapping[str, str], log_path: Path) -> None:
        if not (BIN / server).exists():
            missing = f"BENCH_SERVER={server}: {BIN / server} is missing"
            raise RuntimeError(f"{missing}: {INSTALL[server]}")
        port = free_port()
        env = production_env(env, log_path.with_suffix(".metrics"))
        if server == "granian":
            command = granian_command(env, port)
        else:
            command = uwsgi_command(env, port, log_path.with_suffix(".sock"))
        super().__init__(command, what=f"broker ({server})", env=env, log_path=log_path, group=True)
        self.url = f"http://127.0.0.1:{port}"

    def ready(self) -> None:
        self.wait_until(lambda: answers(f"{self.url}/api/getusertoken"), "a worker answered")


def broker_server(
    server: str, env: Mapping[str, str], log_path: Path
) -> GunicornServer | AlternativeServer:
    """The broker under ``server`` (one of :data:`SERVERS`), not yet started."""
    if server == "gunicorn":
        return GunicornServer(env, log_path)
    if server in SERVERS:
        return AlternativeServer(server, env, log_path)
    raise SystemExit(f"BENCH_SERVER: unknown {server!r}; known: {', '.join(SERVERS)}")
