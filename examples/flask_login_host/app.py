"""A host Flask app with its own sign-in (Flask-Login) that mounts the token broker.

The host keeps everything it already has: its login view, its ``current_user``, its HTML error
pages. It adds three things: the broker's settings in its ``app.config`` (``MINDSET_*``,
``TYPINGMIND_*``, ``BROKER_*``; ``SECRET_KEY`` is the host's own), one call to
:func:`flask_token_broker.TokenBroker`, and a resolver telling the broker who ``current_user`` is.
Then ``GET /api/getusertoken`` (and the TypingMind routes) answer for the host's users.
The host has a ``/healthz`` of its own; the broker's ops routes, asked for with ``ops=True``,
join under ``/broker/`` beside it (``/broker/healthz``, ``/broker/readyz``...).

Run it: ``HOST_DEMO_PASSWORD=... SECRET_KEY=... MINDSET_API_HOST=... python -m
examples.flask_login_host --port 8000``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask import Flask, redirect, request, url_for
from flask_login import LoginManager, current_user, login_user, logout_user
from markupsafe import escape
from werkzeug.security import check_password_hash, generate_password_hash
from werkzeug.wrappers import Response as WerkzeugResponse

from flask_token_broker.extension import init_broker


@dataclass(frozen=True)
class HostUser:
    """The host's user model, as Flask-Login expects it."""

    id: str
    email: str
    name: str
    is_active: bool = True
    is_authenticated: bool = True
    is_anonymous: bool = False

    def get_id(self) -> str:
        return self.id


# The host's "database": two people, one password for the demo (HOST_DEMO_PASSWORD).
PEOPLE = {
    "ada": HostUser("ada", "ada@example.com", "Ada Lovelace"),
    "grace": HostUser("grace", "grace@example.com", "Grace Hopper"),
}


def broker_user() -> dict[str, str] | None:
    """The broker's resolver: the host's own notion of who is signed in."""
    if not current_user.is_authenticated:
        return None
    return {"id": current_user.id, "email": current_user.email, "name": current_user.name}


def create_host_app(config: Mapping[str, Any]) -> Flask:
    app = Flask(__name__)
    app.config.update(config)
    password_hash = generate_password_hash(app.config["HOST_DEMO_PASSWORD"])

    login_manager = LoginManager(app)
    login_manager.login_view = "login"
    login_manager.user_loader(PEOPLE.get)

    @app.get("/")
    def home() -> str:
        if current_user.is_authenticated:
            return f"<p>Signed in as {escape(current_user.name)}.</p>"
        return '<p>Not signed in. <a href="/login">Sign in</a></p>'

    @app.route("/login", methods=["GET", "POST"])
    def login() -> Any:
        if request.method == "POST":
            user = PEOPLE.get(request.form.get("username", ""))
            if user and check_password_hash(password_hash, request.form.get("password", "")):
                login_user(user)
                return redirect(url_for("home"))
            return "<p>Wrong username or password.</p>", 401
        return (
            '<form method="post"><input name="username"><input name="password" '
            'type="password"><button>Sign in</button></form>'
        )

    @app.post("/logout")
    def logout() -> WerkzeugResponse:
        logout_user()
        return redirect(url_for("home"))

    @app.get("/healthz")
    def healthz() -> str:
        # The host's own probe: the broker's ops routes must not take its path.
        return "host ok"

    @app.errorhandler(404)
    def not_found(error: Exception) -> tuple[str, int]:
        # The host's own error page: mounting the broker must leave it alone.
        return "<h1>Host app: page not found</h1>", 404

    # After the host's own routes, so a broker route clashing with one of them stops start-up.
    init_broker(app, resolver=broker_user, ops=True, prefix="/broker")
    return app
