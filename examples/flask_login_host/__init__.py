"""A small host app with Flask-Login that mounts the broker inside itself (see ``app.py``)."""

from .app import create_host_app

__all__ = ["create_host_app"]
