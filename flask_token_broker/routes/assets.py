"""The broker's browser files under ``/broker/``: the front-end helper and the demo page's.

``/broker/mindset-auth.js`` is the helper integrators load (or copy) as their
``fetchAuthentication``; it is served whether or not the demo is on.
"""

from __future__ import annotations

from flask import Blueprint

from .blueprint import broker_blueprint

ASSETS = "broker_assets"


def assets_blueprint(*, pipeline: bool) -> Blueprint:
    return broker_blueprint(
        ASSETS, __name__, pipeline=pipeline, static_folder="../static", static_url_path="/broker"
    )
