"""The host's own pages: home, sign-in and out, its health probe and its 404 page."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, redirect, request, url_for
from flask_login import current_user, login_user, logout_user
from markupsafe import escape
from werkzeug.security import check_password_hash, generate_password_hash
from werkzeug.wrappers import Response as WerkzeugResponse

from .users import PEOPLE

pages = Blueprint("pages", __name__)


@pages.get("/")
def home() -> str:
    if current_user.is_authenticated:
        return f"<p>Signed in as {escape(current_user.name)}.</p>"
    return '<p>Not signed in. <a href="/login">Sign in</a></p>'


@pages.route("/login", methods=["GET", "POST"])
def login() -> Any:
    if request.method == "POST":
        user = PEOPLE.get(request.form.get("username", ""))
        if user and _password_matches(request.form.get("password", "")):
            login_user(user)
            return redirect(url_for("pages.home"))
        return "<p>Wrong username or password.</p>", 401
    return (
        '<form method="post"><input name="username"><input name="password" '
        'type="password"><button>Sign in</button></form>'
    )


@pages.post("/logout")
def logout() -> WerkzeugResponse:
    logout_user()
    return redirect(url_for("pages.home"))


@pages.get("/healthz")
def healthz() -> str:
    # The host's own probe: the broker's ops routes must not take its path.
    return "host ok"


@pages.app_errorhandler(404)
def not_found(error: Exception) -> tuple[str, int]:
    # The host's own error page: adding the broker must leave it alone.
    return "<h1>Host app: page not found</h1>", 404


def _password_matches(password: str) -> bool:
    # A demo stand-in for a user database's password hashes.
    demo_hash = generate_password_hash(current_app.config["HOST_DEMO_PASSWORD"])
    return check_password_hash(demo_hash, password)
