"""``flask --app wsgi typingmind link --user-id ID``: a TypingMind login link from a terminal.

For support staff and scripts that need to send someone a sign-in link ("create a quick login
link from other systems"). The link is printed on stdout, alone, so it can be piped; logs go
to stderr as everywhere else. It is a credential: send it only to that user.
"""

from __future__ import annotations

import click
from flask.cli import AppGroup

from .broker import current_broker
from .typingmind import TypingMindIdentityError
from .users import MAX_FIELD_LENGTH, CurrentUser

typingmind_cli = AppGroup("typingmind", help="TypingMind externalAuthCode tools.")


def _text(value: str | None, option: str, *, identifies: bool = False) -> str | None:
    """Blank means none. An id or email is kept exactly as typed, as resolvers keep it: trimmed,
    ``"ada\u00a0"`` would become another user, ``ada``. A name is only displayed: trimmed."""
    if value is None or not value or value.isspace():
        return None
    if not identifies:
        value = value.strip()
    if len(value) > MAX_FIELD_LENGTH:
        raise click.BadParameter(f"longer than {MAX_FIELD_LENGTH} characters", param_hint=option)
    return value


@typingmind_cli.command("link")
@click.option("--user-id", required=True, help="The user's id in the host app.")
@click.option(
    "--email", default=None, help="The user's email (required by TYPINGMIND_PAYLOAD=email)."
)
@click.option("--name", default=None, help="The user's display name.")
def link(user_id: str, email: str | None, name: str | None) -> None:
    """Print a login URL that signs this user into TypingMind (valid TYPINGMIND_TOKEN_TTL s)."""
    codes = current_broker().typingmind
    if codes is None:
        raise click.ClickException(
            "TypingMind is not configured: set TYPINGMIND_JWT_SECRET and TYPINGMIND_URL"
        )
    user_id_text = _text(user_id, "--user-id", identifies=True)
    if user_id_text is None:
        raise click.BadParameter("must not be empty", param_hint="--user-id")
    user = CurrentUser(
        id=user_id_text,
        email=_text(email, "--email", identifies=True),
        name=_text(name, "--name"),
    )
    try:
        code = codes.issue(user)
    except TypingMindIdentityError as error:
        raise click.ClickException(str(error)) from None
    click.echo(codes.login_url(code))
    click.echo(f"expires at {code.expires_at_iso}", err=True)
