"""Operations: ``GET /healthz``, ``GET /readyz`` and ``GET /metrics``.

- ``/healthz`` says the process answers: no dependency is consulted, so a slow vendor never
  gets an instance restarted.
- ``/readyz`` says whether this instance should get traffic. It answers 503 only for the
  broker's own faults (no flow configured, a check reporting ``failed``); a vendor outage or a
  lost Redis is ``"status": "degraded"`` with 200, because every instance shares them and a
  load balancer that took every instance out would turn a degraded service into none.
- ``/metrics`` is the Prometheus text format, for a scraper holding ``BROKER_METRICS_TOKEN``
  (or, in development without a token, for loopback clients only).
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
from typing import Any

from flask import Blueprint, Response, jsonify, request
from flask.blueprints import BlueprintSetupState
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess

from ..errors import error_response
from ..observability.telemetry import EXTENSION as METRICS
from ..observability.telemetry import BrokerMetrics, process_metrics
from ..state import current_broker
from ..version import VERSION
from .blueprint import broker_blueprint

log = logging.getLogger("broker.ops")

# Set by gunicorn.conf.py: every worker writes its metrics to files there, summed per scrape.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
STATUS_ORDER = {"ok": 0, "degraded": 1, "failed": 2}


def _count_requests(state: BlueprintSetupState) -> None:
    # Subscribed to telemetry now, not on the first request: that request's events count too.
    # The request pipeline counts every request it runs for on an app that has the metrics.
    state.app.extensions[METRICS] = process_metrics()


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


def healthz() -> Response:
    return _no_store(jsonify(status="ok", version=VERSION))


def readyz() -> Response:
    broker = current_broker()
    flows = broker.flows()
    checks: dict[str, dict[str, Any]] = {
        "config": {"status": "ok"},
        "flows": (
            {"status": "ok", "flows": flows}
            if flows
            else {"status": "failed", "hint": "no flow is configured: set MINDSET_* settings"}
        ),
    }
    for name, check in broker.readiness_checks.items():
        checks[name] = _run_check(name, check)
    status = max((c["status"] for c in checks.values()), key=STATUS_ORDER.__getitem__)
    if status != "ok":
        log.warning("readiness %s: %s", status, _summary(checks), extra={"readiness": status})
    response = jsonify(status=status, flows=flows, sandbox=broker.settings.sandbox, checks=checks)
    response.status_code = 503 if status == "failed" else 200
    return _no_store(response)


def _run_check(name: str, check: Any) -> dict[str, Any]:
    try:
        status, details = check()
    except Exception:
        # A broken check is a broker bug, but it must not take every instance out at once.
        log.exception("readiness check %s raised", name)
        return {"status": "degraded", "hint": "the check itself failed; see the log"}
    if status not in STATUS_ORDER:
        log.error("readiness check %s answered unknown status %r", name, status)
        status = "degraded"
    return {"status": status, **details}


def _summary(checks: dict[str, dict[str, Any]]) -> str:
    return ", ".join(f"{name}={c['status']}" for name, c in checks.items() if c["status"] != "ok")


def metrics() -> Response:
    settings = current_broker().settings
    token = settings.ops.metrics_token
    if token is not None:
        sent = request.headers.get("Authorization", "")
        expected = f"Bearer {token}"
        if not hmac.compare_digest(sent.encode(), expected.encode()):
            log.info("metrics scrape refused: missing or wrong bearer token")
            response = error_response(
                401, "unauthorized", "Send the metrics token as 'Authorization: Bearer ...'."
            )
            response.headers["WWW-Authenticate"] = 'Bearer realm="metrics"'
            return response
    elif settings.is_production:
        log.warning("metrics scrape refused: set BROKER_METRICS_TOKEN to enable /metrics")
        return error_response(404, "not_configured", "Metrics are not enabled on this broker.")
    elif not _from_loopback():
        log.info("metrics scrape refused: without BROKER_METRICS_TOKEN only loopback may scrape")
        return error_response(
            403, "forbidden", "Without a metrics token only local clients may read metrics."
        )
    return _no_store(Response(exposition(process_metrics()), content_type=CONTENT_TYPE_LATEST))


def exposition(metrics: BrokerMetrics) -> bytes:
    """The text format, summed over every worker in multiprocess mode."""
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest(metrics.registry)


def _from_loopback() -> bool:
    # A proxy on the same host makes every client look local; its forwarding headers give it
    # away, and such a request is not trusted.
    if "X-Forwarded-For" in request.headers or "Forwarded" in request.headers:
        return False
    try:
        return ipaddress.ip_address(request.remote_addr or "").is_loopback
    except ValueError:
        return False


def ops_blueprint(*, pipeline: bool) -> Blueprint:
    ops = broker_blueprint("broker_ops", __name__, pipeline=pipeline)
    ops.record_once(_count_requests)
    ops.add_url_rule("/healthz", view_func=healthz, methods=["GET"])
    ops.add_url_rule("/readyz", view_func=readyz, methods=["GET"])
    ops.add_url_rule("/metrics", view_func=metrics, methods=["GET"])
    return ops
