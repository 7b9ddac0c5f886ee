"""Production server settings: ``gunicorn -c gunicorn.conf.py wsgi:app``.

The broker's work is waiting on the vendor (50-300 ms a call) and little CPU, so each worker
keeps hundreds of requests in flight while they wait: one gevent worker per core, its
kept-alive vendor pool (MINDSET_POOL_SIZE, 256) sized to match. Measured on the 2-core
development machine (``bench/RESULTS.md``, ``latency`` scenario): sync answers nothing once
256 clients wait on a 100 ms vendor; gthread spends 5-7 ms of CPU per request (threads
contending for the GIL) against about 4 ms for gevent, which serves twice the requests.
``BROKER_WORKER_CLASS=gthread`` remains supported: in both, a whole vendor attempt, headers
included, is cut off at its deadline (``BROKER_DEADLINE``; ``app/mindset/deadline.py``).

Every value can be overridden from the environment without editing this file.
"""

from __future__ import annotations

import glob
import multiprocessing
import os
import shutil
import tempfile

from config import read_environment
from serving import WORKER_CLASSES, json_logs
from serving.deadlines import DEFAULT_HEADER_TIMEOUT, parse_header_timeout

# The server's own settings may come from the dotenv file too, like the broker's; the shell wins.
_settings = read_environment()


def _setting(name: str, default: str) -> str:
    return str(_settings.get(name) or "").strip() or default


# This is the production server: the broker must behave as production (SECRET_KEY required,
# Secure cookies, no accidental sandbox), whatever the shell says.
os.environ["BROKER_ENV"] = "production"

bind = _setting("BROKER_BIND", f"0.0.0.0:{_setting('PORT', '8000')}")
workers = int(_setting("BROKER_WORKERS", str(multiprocessing.cpu_count())))
# gevent and gthread run as the broker's own subclasses (serving/): they bound the time to read a
# request's headers, keep accepting while slow clients hold connections, and refuse bad
# requests in the broker's JSON shape. Any other gunicorn worker class is used as it is.
_worker_model = _setting("BROKER_WORKER_CLASS", "gevent")
worker_class = WORKER_CLASSES.get(_worker_model, _worker_model)
# Threads per worker when BROKER_WORKER_CLASS=gthread (gevent workers ignore it).
threads = int(_setting("BROKER_THREADS", "64"))
# Open client connections per worker, kept-alive idle ones included (gthread and gevent).
worker_connections = int(_setting("BROKER_WORKER_CONNECTIONS", "1000"))
# A worker that is stuck longer than this is restarted; far above BROKER_DEADLINE.
timeout = 30
graceful_timeout = 20
# Behind a load balancer, keep its connections open between requests.
keepalive = int(_setting("BROKER_KEEPALIVE", "75"))
# A request's line and headers must be complete this many seconds after the connection opens
# (first request) or after the request's first byte (kept-alive connection); the workers read
# it from the environment, which they inherit.
try:
    os.environ["BROKER_HEADER_TIMEOUT"] = str(
        parse_header_timeout(_setting("BROKER_HEADER_TIMEOUT", str(DEFAULT_HEADER_TIMEOUT)))
    )
except ValueError as error:
    json_logs.exit_with_error(f"broker configuration error: {error}")
# The broker logs one JSON line per request itself; gunicorn's access log would repeat it.
accesslog = None
errorlog = "-"
loglevel = _setting("BROKER_LOG_LEVEL", "info").lower()
# The server's own lines (listening, worker boot and exit, timeouts, tracebacks) are JSON too,
# so every line on stderr parses (serving/json_logs.py).
logconfig_dict = json_logs.logconfig(loglevel)
# gunicorn 27 opens a control socket for ``gunicornc`` at one path per user
# ($XDG_RUNTIME_DIR/gunicorn.ctl or ~/.gunicorn/gunicorn.ctl): a second instance on the
# machine would take over the first one's. The broker is controlled by signals (HUP, TERM),
# so there is none.
control_socket_disable = True
# Bound what a client can make the server parse before the app sees the request.
limit_request_line = 8190
limit_request_fields = 100
limit_request_field_size = 8190
proc_name = "mindset-token-broker"


def _metrics_directory() -> str:
    """Where every worker writes its metrics, so a scrape of any worker sums them all.

    prometheus_client's multiprocess mode needs the directory set before a worker imports it
    and empty at each server start (old files would add a previous run's counts). An
    operator's ``PROMETHEUS_MULTIPROC_DIR`` is emptied of metric files; without one, a fresh
    private directory is made and removed when the server stops.
    """
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if path:
        os.makedirs(path, exist_ok=True)
        for stale in glob.glob(os.path.join(path, "*.db")):
            os.remove(stale)
        return path
    path = tempfile.mkdtemp(prefix="broker-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
    os.environ["BROKER_METRICS_DIR_OWNED"] = path
    return path


_metrics_directory()


def on_starting(server: object) -> None:
    """Check the configuration once, in the master, before any worker forks.

    A bad setting stops the server with one line naming it, instead of workers failing to
    boot one after another.
    """
    from config import ConfigError, load_settings, read_environment

    try:
        load_settings(read_environment())
    except ConfigError as error:
        json_logs.exit_with_error(f"broker configuration error: {error}")


def child_exit(server: object, worker: object) -> None:
    """A dead worker's live gauges (circuit state) must not count any more."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[attr-defined]


def on_exit(server: object) -> None:
    """In the master only (workers also run atexit handlers, so those would not do)."""
    owned = os.environ.get("BROKER_METRICS_DIR_OWNED")
    if owned:
        shutil.rmtree(owned, ignore_errors=True)
