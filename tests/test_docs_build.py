"""The documentation leaves nothing out: every declared setting is in the generated settings
table (and its page uses that table), every public name is on the API page, and the version
the changelog heads is the package's."""

from __future__ import annotations

import re
from pathlib import Path
from types import ModuleType

import flask_token_broker
from flask_token_broker import SETTING_NAMES
from flask_token_broker.settings.table import DECLARED, FILE_SUFFIX
from serving.settings import DECLARED as SERVER_SETTINGS

from .file_modules import load_module

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"


def _extension() -> ModuleType:
    # docs/_ext is Sphinx's path (docs/conf.py), not the tests'.
    return load_module("settings_reference", DOCS / "_ext" / "settings_reference.py")


REFERENCE = _extension()


def test_the_settings_table_names_every_declared_setting_once() -> None:
    names = [row.name for row in REFERENCE.rows()]
    declared = {*DECLARED, *(setting.name for setting in SERVER_SETTINGS)}
    assert len(names) == len(set(names))
    assert set(names) == declared


def test_every_setting_the_extension_reads_is_in_the_table_or_its_file_form() -> None:
    names = {row.name for row in REFERENCE.rows()}
    files = {name + FILE_SUFFIX for name in names if name in DECLARED and DECLARED[name].secret}
    assert names | files >= SETTING_NAMES


def test_the_rendered_table_has_a_row_per_setting_with_its_default() -> None:
    rows = REFERENCE.rows()
    rendered = REFERENCE.table(rows).astext()
    for row in rows:
        assert row.name in rendered
        assert row.default in rendered
    assert REFERENCE.shown(DECLARED["BROKER_DEMO_LOGIN"].default) == "0"
    assert REFERENCE.shown(DECLARED["MINDSET_API_KEY"].default) == "(none)"


def test_the_settings_page_shows_the_generated_table() -> None:
    assert "```{settings-reference}" in (DOCS / "settings.md").read_text()


def test_the_api_page_documents_every_public_name() -> None:
    page = (DOCS / "api.md").read_text()
    documented = set(re.findall(r"^\.\. auto\w+:: flask_token_broker\.(\w+)$", page, re.M))
    assert documented == set(flask_token_broker.__all__)


def test_the_changelog_heads_with_the_packages_version() -> None:
    changes = (ROOT / "CHANGES.md").read_text()
    first = re.search(r"^## (\S+)", changes, re.M)
    assert first is not None
    assert first.group(1) == flask_token_broker.__version__
