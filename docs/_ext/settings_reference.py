"""The ``settings-reference`` directive: the table of every setting, built from the declarations.

The package declares its settings once, in ``flask_token_broker/settings`` (each listed in
``table.DECLARED``), and the production server its own in ``serving/settings.py``
(``DECLARED``). This directive reads both, so a setting added there appears in the docs without
being written a second time; ``tests/test_docs_build.py`` checks that none is left out.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective
from sphinx.util.typing import ExtensionMetadata

# Importing the package's settings runs every declaration, which fills DECLARED.
from flask_token_broker.settings import DECLARED
from flask_token_broker.settings.table import (
    FILE_SUFFIX,
    REQUIRED,
    Setting,
    _choice,
    _flag,
    _integer,
    _seconds,
)
from serving import settings as server

HEADER = ("setting", "default", "takes", "meaning")
NONE = "(none)"


class Row(NamedTuple):
    """One line of the table; ``default`` is as an operator writes it, or ``(none)``."""

    name: str
    default: str
    takes: str
    meaning: str


def shown(value: Any) -> str:
    """A package setting's default as it is written in the environment or ``.env``."""
    if value is REQUIRED or value is None or value == ():
        return NONE
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int | float):
        return f"{value:g}"
    if isinstance(value, tuple):
        return ",".join(value)
    return str(value)


def _text(setting: object) -> str:
    return "text"


# What a package setting takes, by the converter its field maker gave it (table.py).
_TAKES: dict[Callable[..., Any], Callable[[Setting], str]] = {
    _flag: lambda setting: "1 or 0",
    _choice: lambda setting: "one of " + ", ".join(setting.choices),
    _seconds: lambda setting: f"seconds, at most {setting.maximum:g}",
    _integer: lambda setting: f"whole number, {setting.minimum:g} to {setting.maximum:g}",
}
_SERVER_TAKES: dict[Callable[..., Any], Callable[[server.ServerSetting], str]] = {
    server._whole: lambda setting: f"whole number, {setting.low} to {setting.high}",
    server._seconds: lambda setting: f"seconds, at most {setting.high}",
}


def _package_row(setting: Setting) -> Row:
    takes = _TAKES.get(setting.convert, _text)(setting)
    if setting.secret:
        # Secrets may also be read from a file (README, "Secrets").
        takes += f"; secret, or a file named by {setting.name}{FILE_SUFFIX}"
    return Row(setting.name, shown(setting.default), takes, setting.doc)


def _server_row(setting: server.ServerSetting) -> Row:
    takes = _SERVER_TAKES.get(setting.kind, _text)(setting)
    return Row(setting.name, setting.default, takes, f"production server: {setting.doc}")


def rows() -> list[Row]:
    """Every declared setting: the package's in declaration order, then the server's."""
    return [
        *(_package_row(setting) for setting in DECLARED.values()),
        *(_server_row(setting) for setting in server.DECLARED),
    ]


def _cell(text: str, *, literal: bool = False) -> nodes.entry:
    paragraph = nodes.paragraph()
    if literal and text != NONE:
        paragraph += nodes.literal(text, text)
    else:
        # A declaration's doc writes names and values in backticks, as Markdown does.
        for index, part in enumerate(text.split("`")):
            if part:
                paragraph += nodes.literal(part, part) if index % 2 else nodes.Text(part)
    return nodes.entry("", paragraph)


def table(lines: list[Row]) -> nodes.table:
    """A docutils table of ``lines`` under :data:`HEADER`."""
    group = nodes.tgroup(cols=len(HEADER))
    for width in (3, 2, 3, 4):
        group += nodes.colspec(colwidth=width)
    group += nodes.thead("", nodes.row("", *(_cell(title) for title in HEADER)))
    body = nodes.tbody()
    for line in lines:
        body += nodes.row(
            "",
            _cell(line.name, literal=True),
            _cell(line.default, literal=True),
            _cell(line.takes),
            _cell(line.meaning),
        )
    group += body
    return nodes.table("", group, classes=["settings-reference"])


class SettingsReference(SphinxDirective):
    """``{settings-reference}``: the table of :func:`rows`, without arguments or content."""

    def run(self) -> list[nodes.Node]:
        return [table(rows())]


def setup(app: Sphinx) -> ExtensionMetadata:
    app.add_directive("settings-reference", SettingsReference)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
