"""What every public route answers, as OpenAPI 3: the paths, the shared ``Error`` shape.

A route is described next to the others here with :func:`operation` and the shared error
answers, so the description cannot drift into pieces; the fuzz tests (Schemathesis) check
the live app against it. To describe a new route, add an entry to :data:`PATHS` (or, for
the demo's routes, :data:`DEMO_PATHS`).
"""

from __future__ import annotations

from typing import Any

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error", "message", "request_id", "retryable"],
    "additionalProperties": False,
    "properties": {
        "error": {"type": "string", "pattern": "^[a-z0-9_]+$"},
        "message": {"type": "string", "minLength": 1},
        "request_id": {"type": "string", "pattern": "^[A-Za-z0-9._:-]{1,128}$"},
        "retryable": {"type": "boolean"},
    },
}

_REQUEST_ID = {
    "description": "The request's id, also in the body and the log lines.",
    "schema": {"type": "string"},
}
_RETRY_AFTER = {
    "description": "Seconds to wait before retrying.",
    "schema": {"type": "string", "pattern": "^[0-9]+$"},
}

# Every answer the broker may give in the error shape, by status.
ERRORS: dict[str, str] = {
    "400": "Malformed request (bad_request, invalid_field, missing_field), or a Host not in "
    "BROKER_ALLOWED_HOSTS (invalid_host).",
    "401": "Nobody is signed in (not_signed_in).",
    "403": "A cross-site caller, or an unknown Sec-Fetch-Site (cross_site).",
    "404": "Unknown path or flow not configured (not_found, not_configured).",
    "405": "Method not allowed (method_not_allowed).",
    "413": "Request too large (request_entity_too_large).",
    "422": "The signed-in user cannot be described to the vendor (invalid_identity).",
    "429": "Rate limit reached (rate_limited); see Retry-After.",
    "500": "The host app's own user resolver failed (user_resolver_failed).",
    "502": "The vendor refused or answered garbage (vendor_rejected, vendor_bad_response).",
    "503": "The vendor is unavailable or the circuit is open (vendor_unavailable), or the "
    "identity provider's keys could not be fetched (identity_provider_unavailable).",
    "504": "The vendor did not answer in time (vendor_timeout).",
}
RETRYABLE = {"429", "503", "504"}


def error_answer(status: str) -> dict[str, Any]:
    headers: dict[str, Any] = {"X-Request-ID": _REQUEST_ID}
    if status in RETRYABLE:
        headers["Retry-After"] = {**_RETRY_AFTER, "required": True}
    return {
        "description": ERRORS[status],
        "headers": headers,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def operation(
    summary: str,
    ok: dict[str, Any],
    errors: tuple[str, ...],
    **extra: Any,
) -> dict[str, Any]:
    """One operation: its success answer plus the listed statuses in the error shape."""
    responses = {**ok, **{status: error_answer(status) for status in errors}}
    return {"summary": summary, "responses": responses, **extra}


def json_answer(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "description": description,
        "headers": {"X-Request-ID": _REQUEST_ID},
        "content": {"application/json": {"schema": schema}},
    }


_READINESS = {
    "type": "object",
    "required": ["status", "flows", "sandbox", "checks"],
    "properties": {
        "status": {"enum": ["ok", "degraded", "failed"]},
        "flows": {"type": "array", "items": {"type": "string"}},
        "sandbox": {"type": "boolean"},
        "checks": {"type": "object"},
    },
}

# Statuses any route may answer: hostile input, limits, unknown methods.
COMMON = ("400", "405", "413", "429")
TOKEN_ERRORS = (*COMMON, "401", "403", "404", "422", "500", "502", "503", "504")
# TypingMind codes are signed by the broker itself: no vendor call, so no 502/504.
TYPINGMIND_ERRORS = (*COMMON, "401", "403", "404", "422", "500", "503")

PATHS: dict[str, dict[str, Any]] = {
    "/api/getusertoken": {
        "get": operation(
            "A fresh Mindset token for the host app's signed-in user.",
            {
                "200": json_answer(
                    "The token (never cached).",
                    {
                        "type": "object",
                        "required": ["authToken"],
                        "additionalProperties": False,
                        "properties": {"authToken": {"type": "string", "minLength": 1}},
                    },
                )
            },
            TOKEN_ERRORS,
        )
    },
    "/api/typingmind/authcode": {
        "get": operation(
            "A signed TypingMind externalAuthCode for the signed-in user.",
            {
                "200": json_answer(
                    "The code and its expiry (never cached).",
                    {
                        "type": "object",
                        "required": ["externalAuthCode", "expiresAt"],
                        "additionalProperties": False,
                        "properties": {
                            "externalAuthCode": {"type": "string", "minLength": 1},
                            "expiresAt": {"type": "string", "format": "date-time"},
                        },
                    },
                )
            },
            TYPINGMIND_ERRORS,
        )
    },
    "/typingmind/login": {
        "get": operation(
            "Redirect to TypingMind with a fresh externalAuthCode in the URL.",
            {
                "302": {
                    "description": "To TYPINGMIND_URL with externalAuthCode added to its query.",
                    "headers": {
                        "Location": {"required": True, "schema": {"type": "string"}},
                        "X-Request-ID": _REQUEST_ID,
                    },
                }
            },
            TYPINGMIND_ERRORS,
        )
    },
    "/healthz": {
        "get": operation(
            "Liveness: the process answers.",
            {"200": json_answer("Alive.", {"type": "object", "required": ["status"]})},
            ("405",),
        )
    },
    "/readyz": {
        "get": operation(
            "Readiness for a load balancer: 200 ok or degraded, 503 only for the broker's "
            "own faults.",
            {
                "200": json_answer("Ready (ok or degraded).", _READINESS),
                "503": json_answer("Not ready: the broker itself cannot serve.", _READINESS),
            },
            ("405",),
        )
    },
    "/metrics": {
        "get": operation(
            "Prometheus metrics (bearer BROKER_METRICS_TOKEN, or loopback in development).",
            {
                "200": {
                    "description": "Prometheus text format.",
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                }
            },
            ("401", "403", "404", "405"),
        )
    },
    "/broker/{filename}": {
        "get": operation(
            "The broker's browser files, such as /broker/mindset-auth.js.",
            {"200": {"description": "The file.", "content": {"*/*": {}}}},
            ("404", "405"),
            parameters=[
                {"name": "filename", "in": "path", "required": True, "schema": {"type": "string"}}
            ],
        )
    },
    "/openapi.json": {
        "get": operation(
            "This description.",
            {"200": json_answer("The OpenAPI 3 document.", {"type": "object"})},
            ("405",),
        )
    },
}

_SIGNED_IN = {
    "type": "object",
    "required": ["signedIn"],
    "properties": {
        "signedIn": {
            "oneOf": [
                {"type": "null"},
                {
                    "type": "object",
                    "required": ["id", "email", "name"],
                    "properties": {
                        "id": {"type": "string"},
                        "email": {"type": ["string", "null"]},
                        "name": {"type": ["string", "null"]},
                    },
                },
            ]
        }
    },
}
_LOGIN_FIELDS = {
    "type": "object",
    "required": ["external_id"],
    "properties": {
        "external_id": {"type": "string", "maxLength": 1024, "pattern": "\\S"},
        "email": {"type": ["string", "null"], "maxLength": 1024},
        "name": {"type": ["string", "null"], "maxLength": 1024},
    },
}

# Only when BROKER_DEMO_LOGIN is on.
DEMO_PATHS: dict[str, dict[str, Any]] = {
    "/demo/login": {
        "post": operation(
            "Sign a demo user into the session (BROKER_DEMO_LOGIN only).",
            {"200": json_answer("Signed in.", _SIGNED_IN)},
            (*COMMON, "403"),
            requestBody={
                "content": {
                    "application/json": {"schema": _LOGIN_FIELDS},
                    "application/x-www-form-urlencoded": {"schema": _LOGIN_FIELDS},
                }
            },
        )
    },
    "/demo/": {
        "get": operation(
            "The demo page: sign in as a demo user and talk to agents.",
            {"200": {"description": "An HTML page.", "content": {"text/html": {}}}},
            (*COMMON, "403"),
        )
    },
    "/demo/sandbox-sdk.js": {
        "get": operation(
            "The stand-in agent SDK the demo page loads without MINDSET_SDK_URL.",
            {"200": {"description": "A script.", "content": {"text/javascript": {}}}},
            (*COMMON, "403", "404"),
        )
    },
    "/demo/logout": {
        "post": operation(
            "Sign out of the demo session.",
            {"200": json_answer("Signed out.", _SIGNED_IN)},
            (*COMMON, "403"),
        )
    },
}
