"""A host Flask app with its own sign-in (Flask-Login) that adds the token broker.

The host keeps everything it already has: its login view, its ``current_user``, its error
pages, its ``/healthz``. It adds three things: the broker's settings in its ``app.config``
(``config.py``), the ``TokenBroker`` extension, and a resolver telling the broker who
``current_user`` is. Then ``GET /api/getusertoken`` and the TypingMind routes answer for the
host's users, and the broker's ops routes join under ``/broker/``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask
from flask_login import LoginManager
from flask_token_broker import TokenBroker

import config

from .users import PEOPLE, broker_user
from .views import pages

login_manager = LoginManager()
login_manager.login_view = "pages.login"
login_manager.user_loader(PEOPLE.get)

broker = TokenBroker(resolver=broker_user, ops=True)


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    app = Flask(__name__)
    app.config.from_mapping(config.from_environment() if test_config is None else test_config)
    login_manager.init_app(app)
    app.register_blueprint(pages)
    # After the host's own routes, so a broker route clashing with one of them stops start-up.
    broker.init_app(app)
    return app
