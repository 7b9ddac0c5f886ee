"""The broker's routes, the top layer: every blueprint, and how they join an app.

A host app gets only the routes its users' browsers need (the token routes, TypingMind's
sign-in and ``/broker/`` front-end files); the ops routes and the demo are opt-in, under a
prefix of the host's choosing (:func:`register_blueprints`). A broker route that would take
a path and method a host route already answers is a start-up error, not a second rule that
silently never (or always) wins.

:func:`broker_blueprint` is public: a host adds a route of its own to the broker's family
with it (and :func:`..protection.cross_site.token_routes` for the token routes' guards).
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, Flask

from ..settings import ConfigError
from ..state import Broker
from .assets import assets_blueprint
from .blueprint import broker_blueprint
from .demo import demo_blueprint
from .openapi import openapi_blueprint
from .ops import ops_blueprint
from .tokens import tokens_blueprint
from .typingmind import typingmind_blueprint

__all__ = ["broker_blueprint", "register_blueprints"]

# Added by Flask to every rule; two rules clash only on the methods someone declared.
IMPLIED_METHODS = frozenset({"HEAD", "OPTIONS"})


def register_blueprints(app: Flask, broker: Broker) -> None:
    """Register the broker's blueprints per ``broker.mount``; raise ``ConfigError`` naming
    each route of the host app that a broker route would shadow or be shadowed by.

    The blueprints are built for this app: where the app runs the request pipeline itself
    (the standalone broker), they leave it out, so it runs once per request.
    """
    host_rules = _answered(app, lambda endpoint: True)
    mount = broker.mount
    pipeline = not mount.app_pipeline
    # Always registered: an unconfigured flow answers a JSON 404 naming what to set.
    chosen: list[tuple[Blueprint, str | None]] = [
        (tokens_blueprint(broker, pipeline=pipeline), None),
        (typingmind_blueprint(broker, pipeline=pipeline), None),
        (assets_blueprint(pipeline=pipeline), None),
    ]
    if mount.ops:
        chosen += [
            (openapi_blueprint(pipeline=pipeline), mount.prefix or None),
            (ops_blueprint(pipeline=pipeline), mount.prefix or None),
        ]
    if mount.demo and broker.demo_login:
        chosen.append((demo_blueprint(pipeline=pipeline), f"{mount.prefix}/demo"))
    for blueprint, url_prefix in chosen:
        if url_prefix is None:
            app.register_blueprint(blueprint)
        else:
            app.register_blueprint(blueprint, url_prefix=url_prefix)
    names = tuple(f"{blueprint.name}." for blueprint, _ in chosen)
    clashes = sorted(
        f"{method} {rule} (the host's {host_rules[rule, method]!r})"
        for rule, method in _answered(app, lambda endpoint: endpoint.startswith(names))
        if (rule, method) in host_rules
    )
    if clashes:
        raise ConfigError(
            "the broker's routes clash with the host app's: "
            + "; ".join(clashes)
            + ". Move the host's route, or give TokenBroker another prefix= for the ops "
            "and demo routes"
        )


def _answered(app: Flask, owned: Callable[[str], bool]) -> dict[tuple[str, str], str]:
    """``(rule, method) -> endpoint`` of the app's rules whose endpoint ``owned`` accepts."""
    answered = {}
    for rule in app.url_map.iter_rules():
        if not owned(rule.endpoint):
            continue
        for method in (rule.methods or set()) - IMPLIED_METHODS:
            answered[rule.rule, method] = rule.endpoint
    return answered
