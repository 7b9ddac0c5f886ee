"""The blueprint every broker route lives on: request ids, security headers, JSON errors.

No broker route ever answers with a redirect of Werkzeug's routing. Werkzeug redirects a path
with doubled slashes to its merged form, and a path missing its rule's trailing slash to the
full one, with an absolute ``Location`` built from the request's ``Host``: with
``BROKER_ALLOWED_HOSTS`` unset, any Host the caller sends. The broker's rules instead answer
their own path only (a rule ending in ``/`` also without it); any other is the JSON 404.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from flask.blueprints import BlueprintSetupState
from flask.sansio.app import App

from ..errors import register_blueprint_error_handlers
from .pipeline import register_request_pipeline


def _without_redirects(rule: str, options: dict[str, Any]) -> None:
    options.setdefault("merge_slashes", False)
    if rule.endswith("/"):
        options.setdefault("strict_slashes", False)


class _SetupState(BlueprintSetupState):
    # The rules a blueprint adds on registration (its static files) go through here.
    def add_url_rule(self, rule: str, *args: Any, **options: Any) -> None:
        _without_redirects(rule, options)
        super().add_url_rule(rule, *args, **options)


class BrokerBlueprint(Blueprint):
    """Each rule matches its own path only: no merged slashes, no added trailing slash."""

    def add_url_rule(self, rule: str, *args: Any, **options: Any) -> None:
        _without_redirects(rule, options)
        super().add_url_rule(rule, *args, **options)

    def make_setup_state(
        self, app: App, options: dict[str, Any], first_registration: bool = False
    ) -> BlueprintSetupState:
        return _SetupState(self, app, options, first_registration)


def broker_blueprint(
    name: str, import_name: str, *, pipeline: bool = True, **options: str
) -> Blueprint:
    """A blueprint with the broker's request ids and JSON error answers.

    ``pipeline=False`` when the app runs the request pipeline itself for every request (the
    standalone broker), so that it runs once per request, not once for the app and again for
    the blueprint.
    """
    blueprint = BrokerBlueprint(name, import_name, **options)  # type: ignore[arg-type]
    if pipeline:
        register_request_pipeline(blueprint)
    register_blueprint_error_handlers(blueprint)
    return blueprint
