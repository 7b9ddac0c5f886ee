"""The broker's OpenAPI 3 description, served at ``GET /openapi.json``.

One document for every public route of this app (:mod:`.api_paths` describes each), with the
ops routes and the demo where this app serves them.
"""

from __future__ import annotations

import copy
from typing import Any

from flask import Blueprint, Response, jsonify

from ..state import current_broker
from ..version import VERSION
from .api_paths import DEMO_PATHS, ERROR_SCHEMA, PATHS
from .blueprint import broker_blueprint

# Served under TokenBroker's prefix in a host app (the demo's paths too).
PREFIXED_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/openapi.json"})


def document(*, demo_login: bool, prefix: str = "") -> dict[str, Any]:
    """The whole description for an app with these flows, its ops and demo under ``prefix``."""
    paths = {
        (prefix + path if path in PREFIXED_PATHS else path): operations
        for path, operations in copy.deepcopy(PATHS).items()
    }
    if demo_login:
        paths.update({prefix + path: ops for path, ops in copy.deepcopy(DEMO_PATHS).items()})
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Mindset token broker",
            "version": VERSION,
            "description": "Mints per-user tokens for embedded AI agents. Every error answer "
            "has the Error shape; retryable ones carry Retry-After.",
        },
        "paths": paths,
        "components": {"schemas": {"Error": ERROR_SCHEMA}},
    }


def openapi_json() -> Response:
    broker = current_broker()
    return jsonify(
        document(demo_login=broker.mount.demo and broker.demo_login, prefix=broker.mount.prefix)
    )


def openapi_blueprint(*, pipeline: bool) -> Blueprint:
    openapi = broker_blueprint("broker_openapi", __name__, pipeline=pipeline)
    openapi.add_url_rule("/openapi.json", view_func=openapi_json, methods=["GET"])
    return openapi
