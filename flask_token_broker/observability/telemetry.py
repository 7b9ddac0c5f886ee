"""What happened during a request: its notes, the process's metrics, and its access line.

The token path reports facts here (a vendor attempt, how a token was obtained, a rate limit,
a circuit change) without knowing who listens. Per-request facts are kept on ``flask.g`` for
the request's access line, written once at its end (:func:`finish_request`); process-wide
listeners subscribe with :func:`subscribe`. Nothing here may raise into the token path.

The metrics (``GET /metrics``) are one such listener. They are process-wide by nature (one set
per worker process, whatever number of apps it builds), so one :class:`BrokerMetrics` is built
per process by :func:`process_metrics`. Under gunicorn each worker is its own process: with
``PROMETHEUS_MULTIPROC_DIR`` set (as ``gunicorn.conf.py`` does) every worker writes its values
to files there, and a scrape served by any worker sums all of them (:mod:`..routes.ops`).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
import re
import time
from collections.abc import Callable
from typing import Any

from flask import Response, current_app, g, has_request_context, request
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from ..version import VERSION

log = logging.getLogger("broker.telemetry")
metrics_log = logging.getLogger("broker.metrics")
access_log = logging.getLogger("broker.access")

MAX_LOGGED_PATH = 256
# Hex digits of the keyed user hash in log lines: plenty to tell users apart, and short.
USER_HASH_LENGTH = 16

# Events: "vendor_attempt" (vendor, outcome, status, seconds), "token" (vendor, outcome:
# minted | coalesced | reused), "rate_limited" (scope), "circuit" (vendor, state).
Listener = Callable[[str, dict[str, Any]], None]
# Process-wide on purpose, not on the app: the one listener is the process's metrics (below),
# and events come from places that hold no app (a vendor attempt observed by the client, a
# circuit change seen by whichever request tripped it).
_listeners: list[Listener] = []


def subscribe(listener: Listener) -> None:
    """Receive every event from now on (idempotent for the same listener)."""
    if listener not in _listeners:
        _listeners.append(listener)


def note(**fields: Any) -> None:
    """Attach fields to the current request's log line (no-op outside a request)."""
    if has_request_context():
        notes: dict[str, Any] = g.setdefault("telemetry", {})
        notes.update(fields)


def request_notes() -> dict[str, Any]:
    if not has_request_context():
        return {}
    notes: dict[str, Any] = g.get("telemetry", {})
    return notes


def emit(event: str, **fields: Any) -> None:
    for listener in _listeners:
        try:
            listener(event, fields)
        except Exception:
            # Observability must never break a token request.
            log.exception("telemetry listener failed on %s", event)


def vendor_attempt(vendor: str, outcome: str, status: int | None, seconds: float) -> None:
    """One HTTP attempt to a vendor; ``vendor_ms`` on the log line adds up all attempts."""
    if has_request_context():
        notes: dict[str, Any] = g.setdefault("telemetry", {})
        notes["vendor_ms"] = round(notes.get("vendor_ms", 0.0) + seconds * 1000, 1)
        notes["vendor_attempts"] = notes.get("vendor_attempts", 0) + 1
    emit("vendor_attempt", vendor=vendor, outcome=outcome, status=status, seconds=seconds)


def token_outcome(vendor: str, outcome: str) -> None:
    """How this request got its token: ``minted``, ``coalesced`` or ``reused``."""
    note(outcome=outcome)
    emit("token", vendor=vendor, outcome=outcome)


def user_hash(secret_key: str, user_id: str) -> str:
    """A stable, non-reversible tag for a user in logs and rate-limit keys.

    HMAC-SHA256 keyed with a key derived from ``SECRET_KEY`` (never the key itself), so the
    same user has the same tag on every instance, and nobody without the key can test a
    guessed id or email against it.
    """
    digest = hmac.new(
        _user_hash_key(secret_key), user_id.encode("utf-8", "surrogatepass"), hashlib.sha256
    )
    return digest.hexdigest()[:USER_HASH_LENGTH]


@functools.lru_cache(maxsize=8)
def _user_hash_key(secret_key: str) -> bytes:
    """Derived once per secret key (a process has one or two), not on every request."""
    return hmac.new(secret_key.encode(), b"broker log user tag v1", hashlib.sha256).digest()


def note_user(user_id: str) -> str:
    """Record the request's user (as its hash) for the access line; returns the hash."""
    tag = user_hash(current_app.config["SECRET_KEY"], user_id)
    note(user=tag)
    return tag


def finish_request(response: Response) -> Response:
    """The request counted in the app's metrics, if it has them, and its one access line
    (:mod:`..routes.pipeline` calls it once a request)."""
    started = g.get("_started")
    seconds = 0.0 if started is None else time.perf_counter() - started
    metrics: BrokerMetrics | None = current_app.extensions.get(EXTENSION)
    if metrics is not None and started is not None:
        rule = request.url_rule
        metrics.on_request(
            rule.rule if rule is not None else "unmatched",
            request.method,
            response.status_code,
            seconds,
        )
    if not access_log.isEnabledFor(logging.INFO):
        return response
    notes = request_notes()
    duration = seconds * 1000
    method, path, status = request.method, request.path[:MAX_LOGGED_PATH], response.status_code
    # Built and handed to the logger's handlers directly: Logger.info would also walk the
    # stack to find its caller, which no line of the broker shows, on every request.
    record = access_log.makeRecord(
        access_log.name,
        logging.INFO,
        __file__,
        0,
        "%s %s %s",
        (method, path, status),
        None,
        extra={
            "method": method,
            "path": path,
            "status": status,
            "duration_ms": round(duration, 1),
            "outcome": notes.get("outcome") or _outcome_of(response),
            "vendor_ms": notes.get("vendor_ms"),
            "user": notes.get("user"),
        },
    )
    access_log.handle(record)
    return response


def _outcome_of(response: Response) -> str:
    """``ok`` for success; for errors, the JSON error code (``vendor_timeout``...)."""
    if response.status_code < 400:
        return "ok"
    if response.is_json and not response.is_streamed:
        body = response.get_json(silent=True)
        if isinstance(body, dict) and isinstance(body.get("error"), str):
            return str(body["error"])
    return "error"


# Where an app keeps the metrics the request pipeline counts its requests in (the ops routes
# put them there: an app without them serves no /metrics).
EXTENSION = "broker_metrics"
# Seconds: the broker answers in milliseconds when all is well and in seconds when the
# vendor is slow, so the buckets span both.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
CIRCUIT_STATES = {"closed": 0, "half_open": 1, "open": 2}
_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


def outcome_label(vendor: str, outcome: str) -> str:
    """``MindsetTimeout`` -> ``timeout``: bounded, readable label values."""
    name = outcome
    prefix = vendor.capitalize()
    if name.startswith(prefix) and name != prefix:
        name = name[len(prefix) :]
    return _CAMEL.sub("_", name).lower().replace("-", "_") or "unknown"


class BrokerMetrics:
    """The broker's metrics, in a registry of their own (never the global default one)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "broker_http_requests",
            "HTTP requests answered, by route template, method and status.",
            ["route", "method", "status"],
            registry=r,
        )
        self.request_seconds = Histogram(
            "broker_http_request_duration_seconds",
            "Time to answer an HTTP request, by route template.",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.vendor_calls = Counter(
            "broker_vendor_calls",
            "HTTP attempts to a vendor, by outcome (ok, timeout, unavailable, rejected, ...).",
            ["vendor", "outcome", "status"],
            registry=r,
        )
        self.vendor_seconds = Histogram(
            "broker_vendor_call_duration_seconds",
            "Time of one HTTP attempt to a vendor.",
            ["vendor"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.tokens = Counter(
            "broker_tokens",
            "Tokens handed out, by how they were obtained: minted, coalesced or reused.",
            ["vendor", "outcome"],
            registry=r,
        )
        self.rate_limited = Counter(
            "broker_rate_limited",
            "Requests refused by a rate limit, by scope.",
            ["scope"],
            registry=r,
        )
        # Across workers the worst state wins: one open breaker is worth a look.
        self.circuit = Gauge(
            "broker_circuit_state",
            "Vendor circuit breaker state: 0 closed, 1 half-open, 2 open.",
            ["vendor"],
            multiprocess_mode="livemax",
            registry=r,
        )
        # The usual Prometheus build_info: always 1, the version in a label, so a dashboard
        # shows which version each instance runs (an Info metric has no multiprocess mode).
        self.build_info = Gauge(
            "broker_build_info",
            "The broker's version, as a label; always 1.",
            ["version"],
            multiprocess_mode="livemax",
            registry=r,
        )
        self.build_info.labels(VERSION).set(1)

    def on_request(self, route: str, method: str, status: int, seconds: float) -> None:
        self.requests.labels(route, method, str(status)).inc()
        self.request_seconds.labels(route).observe(seconds)

    def on_event(self, event: str, fields: dict[str, Any]) -> None:
        """The listener the metrics subscribe with (:func:`process_metrics`)."""
        vendor = str(fields.get("vendor", "unknown"))
        if event == "vendor_attempt":
            status = fields.get("status")
            outcome = outcome_label(vendor, str(fields.get("outcome")))
            self.vendor_calls.labels(vendor, outcome, str(status or "none")).inc()
            self.vendor_seconds.labels(vendor).observe(float(fields.get("seconds", 0.0)))
        elif event == "token":
            self.tokens.labels(vendor, str(fields.get("outcome"))).inc()
        elif event == "rate_limited":
            self.rate_limited.labels(str(fields.get("scope", "unknown"))).inc()
        elif event == "circuit":
            state = str(fields.get("state", "")).lower().replace("-", "_")
            if state in CIRCUIT_STATES:
                self.circuit.labels(vendor).set(CIRCUIT_STATES[state])
            else:
                metrics_log.warning(
                    "unknown circuit state %r for %s; metric not updated", state, vendor
                )


# Process-wide on purpose, not on the app: Prometheus counts per process (in multiprocess
# mode, in files named by the worker's pid), so every app a process builds feeds one set.
_metrics: BrokerMetrics | None = None


def process_metrics() -> BrokerMetrics:
    """This process's metrics, built and subscribed to the events on first use."""
    global _metrics
    if _metrics is None:
        _metrics = BrokerMetrics()
        subscribe(_metrics.on_event)
    return _metrics
