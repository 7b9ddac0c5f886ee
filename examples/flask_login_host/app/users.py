"""The host's users, and the resolver that tells the broker which one is signed in."""

from __future__ import annotations

from dataclasses import dataclass

from flask_login import current_user


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
