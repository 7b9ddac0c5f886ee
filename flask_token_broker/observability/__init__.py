"""Beside every request, never in its way: request ids, JSON logs with secret redaction,
per-request telemetry and the Prometheus metrics it feeds."""
