"""Prometheus metrics for ``GET /metrics``, fed by request hooks and telemetry events.

The token path never touches a metric: it reports facts to :mod:`.telemetry`, and
:meth:`BrokerMetrics.on_event` turns them into counters. Metrics are process-wide by nature
(one set per worker process, whatever number of apps it builds), so one
:class:`BrokerMetrics` is built per process by :func:`process_metrics`.

Under gunicorn each worker is its own process: with ``PROMETHEUS_MULTIPROC_DIR`` set (as
``gunicorn.conf.py`` does) every worker writes its values to files there, and a scrape served
by any worker sums all of them.
"""

from __future__ import annotations

import logging
import os
import re
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

from ..version import VERSION
from . import telemetry

log = logging.getLogger("broker.metrics")

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_LATEST
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
        """A :mod:`flask_token_broker.observability.telemetry` listener."""
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
                log.warning("unknown circuit state %r for %s; metric not updated", state, vendor)

    def exposition(self) -> bytes:
        """The text format, summed over every worker in multiprocess mode."""
        if os.environ.get(MULTIPROC_ENV):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return generate_latest(registry)
        return generate_latest(self.registry)


# Process-wide on purpose, not on the app: Prometheus counts per process (in multiprocess
# mode, in files named by the worker's pid), so every app a process builds feeds one set.
_metrics: BrokerMetrics | None = None


def process_metrics() -> BrokerMetrics:
    """This process's metrics, built and subscribed to telemetry on first use."""
    global _metrics
    if _metrics is None:
        _metrics = BrokerMetrics()
        telemetry.subscribe(_metrics.on_event)
    return _metrics
