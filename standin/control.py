"""The ``/_standin/`` test API: inspect what the stand-in received and steer its behaviour.

It needs no API key (the stand-in only listens on loopback for tests) and faults never apply to
it, so a test can always clear a fault it set.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask_token_broker.sandbox_vendor.messages import (
    StandinRequest,
    StandinResponse,
    error,
    parse_json,
)
from flask_token_broker.sandbox_vendor.messages import json_response as _json
from flask_token_broker.sandbox_vendor.mindset import MindsetStandin
from standin.faults import FaultSwitch, parse_fault

PREFIX = "/_standin/"
CONFIG_KEYS = ("latency_ms", "token_format", "jwt_ttl", "api_keys")


class ControlApi:
    def __init__(
        self,
        standin: MindsetStandin,
        faults: FaultSwitch,
        server_stats: Callable[[], dict[str, Any]] | None = None,
    ) -> None:
        self._standin = standin
        self._faults = faults
        # Set after construction by whoever owns the server (it is built after this API).
        self.server_stats = server_stats

    def handle(self, req: StandinRequest) -> StandinResponse:
        name = req.path.split("?", 1)[0][len(PREFIX) :]
        route = (req.method, name)
        if route == ("GET", "health"):
            return _json(200, {"status": "ok"})
        if route == ("GET", "requests"):
            return _json(200, self._standin.requests())
        if route == ("DELETE", "requests"):
            self._standin.clear()
            return _json(200, {"cleared": True})
        if route == ("GET", "stats"):
            return _json(200, self.stats())
        if route == ("POST", "fault"):
            return self._set_fault(req)
        if route == ("DELETE", "fault"):
            self._faults.clear()
            return _json(200, {"fault": None})
        if route == ("GET", "fault"):
            return _json(200, {"fault": self._faults.describe()})
        if route == ("POST", "config"):
            return self._configure(req)
        return error(404, f"No control endpoint {req.method} {PREFIX}{name}")

    def stats(self) -> dict[str, Any]:
        stats = self._standin.stats()
        stats["latency_ms"] = self._faults.latency_ms
        stats["fault"] = self._faults.describe()
        if self.server_stats is not None:
            stats.update(self.server_stats())
        return stats

    def _set_fault(self, req: StandinRequest) -> StandinResponse:
        try:
            fault = parse_fault(parse_json(req.body))
        except ValueError as exc:
            return error(400, str(exc))
        self._faults.set(fault)
        return _json(200, {"fault": self._faults.describe()})

    def _configure(self, req: StandinRequest) -> StandinResponse:
        spec = parse_json(req.body)
        if not isinstance(spec, dict) or not set(spec) <= set(CONFIG_KEYS):
            return error(400, f"Body must be an object with keys among {', '.join(CONFIG_KEYS)}")
        latency = spec.get("latency_ms")
        if latency is not None and (not isinstance(latency, int | float) or latency < 0):
            return error(400, "latency_ms must be a non-negative number")
        ttl = spec.get("jwt_ttl")
        if ttl is not None and not isinstance(ttl, int):
            return error(400, "jwt_ttl must be an integer number of seconds")
        try:
            self._standin.configure(
                token_format=spec.get("token_format"), jwt_ttl=ttl, api_keys=spec.get("api_keys")
            )
        except ValueError as exc:
            return error(400, str(exc))
        if latency is not None:
            self._faults.latency_ms = latency
        # The keys themselves are never echoed.
        return _json(200, {k: v for k, v in self.stats().items() if k in CONFIG_KEYS})
