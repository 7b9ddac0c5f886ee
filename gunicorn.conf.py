"""Production server settings: ``gunicorn -c gunicorn.conf.py wsgi:app``.

The broker's work is waiting on the vendor (50-300 ms a call) and little CPU, so each worker
keeps hundreds of requests in flight while they wait: one gevent worker per core, its
kept-alive vendor pool (MINDSET_POOL_SIZE, 256) sized to match. Measured on the 2-core
development machine (``bench/RESULTS.md``, ``latency`` scenario): sync answers nothing once
256 clients wait on a 100 ms vendor; gthread spent 5-7 ms of CPU per request (threads
contending for the GIL) against about 4 ms for gevent, which served twice the requests, and
gthread fell to two slow-client attacks gevent withstood. So the server runs gevent workers
only. A whole vendor attempt, headers included, is cut off at its deadline
(``BROKER_DEADLINE``; ``flask_token_broker/mindset/deadline.py``).

Every value can be overridden from the environment without editing this file.
"""

from __future__ import annotations

import glob
import os
import shutil
import tempfile
from collections.abc import Mapping
from typing import Any

from config import accept_server_configuration, read_environment
from flask_token_broker import ConfigError, parse_log_level
from serving import WORKER_CLASS, json_logs
from serving.settings import accept as accept_server_settings
from serving.settings import read_server_settings


def server_options(source: Mapping[str, Any]) -> dict[str, Any]:
    """gunicorn's options from ``source``, or ConfigError naming the variable.

    A function of its input, so a reload can check the new configuration before gunicorn
    reads this file again (a file that fails there would stop the whole server). The
    server's settings are declared in ``serving/settings.py``; ``"settings"`` holds them read.
    """
    try:
        settings = read_server_settings(source)
    except ValueError as error:
        raise ConfigError(str(error)) from None
    return {
        "settings": settings,
        "bind": settings.bind,
        "workers": settings.workers,
        # The broker's own gevent worker (serving/): it bounds the time to read a request's
        # headers, keeps accepting while slow clients hold connections, and refuses bad
        # requests in the broker's JSON shape.
        "worker_class": WORKER_CLASS,
        # Open client connections per worker, kept-alive idle ones included.
        "worker_connections": settings.worker_connections,
        # Behind a load balancer, keep its connections open between requests.
        "keepalive": settings.keepalive,
        # The broker's own setting: gunicorn's lines follow the app's level.
        "loglevel": parse_log_level(source.get("BROKER_LOG_LEVEL")).lower(),
        # Set in the workers' environment by gunicorn, and put back as it was before each
        # reload, so a reload sees the operator's values again, not the previous ones.
        "raw_env": [
            # This is the production server: the broker must behave as production
            # (SECRET_KEY required, Secure cookies, no accidental sandbox), whatever the shell says.
            "BROKER_ENV=production",
        ],
    }


json_logs.log_json_from_the_first_line()
# The server's own settings may come from the dotenv file too, like the broker's; the shell wins.
try:
    _options = server_options(read_environment())
except ConfigError as _error:
    json_logs.exit_with_error(f"broker configuration error: {_error}")

# Handed to the workers, which the master forks after reading this file (at start, at reload).
accept_server_settings(_options["settings"])
bind = _options["bind"]
workers = _options["workers"]
worker_class = _options["worker_class"]
worker_connections = _options["worker_connections"]
keepalive = _options["keepalive"]
raw_env = _options["raw_env"]
# A worker that is stuck longer than this is restarted; far above BROKER_DEADLINE.
timeout = 30
# On SIGTERM, or when a reload replaces them, workers stop accepting and get this long to
# finish the requests they hold (a token request ends by BROKER_DEADLINE, 8 s by default).
graceful_timeout = 20
# The broker logs one JSON line per request itself; gunicorn's access log would repeat it.
accesslog = None
errorlog = "-"
loglevel = _options["loglevel"]
# The server's own lines (listening, worker boot and exit, timeouts, tracebacks) are JSON too,
# so every line on stderr parses (serving/json_logs.py).
logconfig_dict = json_logs.logconfig(loglevel)
logger_class = json_logs.Logger
# gunicorn 27 opens a control socket for ``gunicornc`` at one path per user
# ($XDG_RUNTIME_DIR/gunicorn.ctl or ~/.gunicorn/gunicorn.ctl): a second instance on the
# machine would take over the first one's. The broker is controlled by signals (HUP, TERM),
# so there is none.
control_socket_disable = True
# gunicorn's Python request parser, even where its optional C parser (gunicorn_h1c) is
# installed: the refusals' answers are documented and tested for this one (the C parser answers
# an unknown transfer coding 400, not 501), and the C parser, which ships no wheels, saved no
# measurable CPU per request (bench/RESULTS.md, "Second set").
http_parser = "python"
# Bound what a client can make the server parse before the app sees the request.
limit_request_line = 8190
limit_request_fields = 100
limit_request_field_size = 8190
proc_name = "mindset-token-broker"
# gunicorn believes X-Forwarded-Proto (and its other forwarder headers) from the addresses
# listed here, by default loopback, whatever BROKER_PROXY_HOPS says. The broker decides which
# proxies to believe itself (BROKER_PROXY_HOPS, Werkzeug's ProxyFix), so gunicorn believes
# none: with 0 hops, no forwarded header is trusted from anyone.
forwarded_allow_ips = ""


# Which master prepared which metrics directory: "<pid>:<path>".
_METRICS_PREPARED = "BROKER_METRICS_DIR_PREPARED"


def _metrics_directory() -> str:
    """Where every worker writes its metrics, so a scrape of any worker sums them all.

    prometheus_client's multiprocess mode needs the directory set before a worker imports it
    and empty at each server start (old files would add a previous run's counts), but not at
    a reload. An
    operator's ``PROMETHEUS_MULTIPROC_DIR`` is emptied of metric files; without one, a fresh
    private directory is made and removed when the server stops.
    """
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if path and os.environ.get(_METRICS_PREPARED) == f"{os.getpid()}:{path}":
        # This master re-reads this file on every reload (kill -HUP): the live and the
        # retiring workers' counts stay, so counters never fall back to zero.
        return path
    if path:
        os.makedirs(path, exist_ok=True)
        for stale in glob.glob(os.path.join(path, "*.db")):
            os.remove(stale)
    else:
        path = tempfile.mkdtemp(prefix="broker-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
        os.environ["BROKER_METRICS_DIR_OWNED"] = path
    os.environ[_METRICS_PREPARED] = f"{os.getpid()}:{path}"
    return path


_metrics_directory()


def on_starting(server: Any) -> None:
    """Check the configuration once, in the master, before any worker forks.

    A bad setting stops the server with one line naming it, instead of workers failing to
    boot one after another. Every worker then loads exactly the configuration checked here
    (secret files included), until a reload accepts another (:func:`_check_reloads`).
    """
    try:
        accept_server_configuration(read_environment())
    except ConfigError as error:
        json_logs.exit_with_error(f"broker configuration error: {error}")
    _check_reloads(server)


def _accept_reload(server: Any) -> str | None:
    """Accept the configuration a reload would load now for the new workers, or say what is
    wrong with it (the previous one then stays the workers').

    The environment as gunicorn puts it back before reloading (its ``raw_env`` undone), over
    ``BROKER_ENV_FILE`` and the ``*_FILE`` secrets as they are now, read as the new workers
    will read them.
    """
    environ = dict(os.environ)
    for name in server.cfg.env:
        if name in server.cfg.env_orig:
            environ[name] = server.cfg.env_orig[name]
        else:
            environ.pop(name, None)
    try:
        source = read_environment(environ=environ)
        options = server_options(source)
        raw_env = dict(item.split("=", 1) for item in options["raw_env"])
        # Accepted, the new workers load exactly this; refused, they load the previous one.
        accept_server_configuration({**source, **raw_env})
    except ConfigError as error:
        return str(error)
    except Exception as error:  # nothing may stop the master: refuse, keep serving
        return f"the configuration could not be checked ({type(error).__name__})"
    return None


def _check_reloads(server: Any) -> None:
    """``kill -HUP`` re-reads the configuration, but only a valid one replaces the workers.

    gunicorn's own reload reads this file again and starts new workers at once, then stops the
    old ones: with an invalid configuration the file's ``sys.exit`` would stop the master, or
    the new workers would fail to boot while the old ones are being stopped. So the master
    checks the new configuration first; when it is invalid it logs why, naming the variable,
    and the old workers keep serving with the configuration they have.
    """
    reload = server.handle_hup

    def handle_hup() -> None:
        refusal = _accept_reload(server)
        if refusal is not None:
            server.log.error(
                "broker configuration reload refused: %s; the workers keep serving the "
                "previous configuration",
                refusal,
            )
            return
        server.log.info("broker configuration reloaded: replacing the workers gracefully")
        reload()

    # The arbiter looks its signal handlers up by name on itself, as handle_<signal>.
    server.handle_hup = handle_hup


def post_worker_init(worker: object) -> None:
    """The worker has loaded the app and the master holds the port: about to serve."""
    from flask_token_broker import log_ready

    log_ready(worker.wsgi)  # type: ignore[attr-defined]


def child_exit(server: object, worker: object) -> None:
    """A dead worker's live gauges (circuit state) must not count any more."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[attr-defined]


def on_exit(server: object) -> None:
    """In the master only (workers also run atexit handlers, so those would not do)."""
    owned = os.environ.get("BROKER_METRICS_DIR_OWNED")
    if owned:
        shutil.rmtree(owned, ignore_errors=True)
