"""Every declared setting is in .env.example with its default. The docs' settings table is
generated from the same declarations (docs/_ext/settings_reference.py, tests/test_docs_build.py),
so it is not written, or checked, a second time."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from flask_token_broker import settings as config
from flask_token_broker.settings.table import DECLARED, Setting
from serving.settings import DECLARED as SERVER_SETTINGS
from serving.settings import ServerSetting

ROOT = Path(__file__).resolve().parent.parent
ENV_EXAMPLE = (ROOT / ".env.example").read_text()
SETTINGS = sorted(DECLARED)


def shown(value: Any) -> str | None:
    """A default as the documentation writes it, or None when it is no single value."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int | float):
        return f"{value:g}"
    if isinstance(value, str):
        return value
    if isinstance(value, tuple) and value:
        return ",".join(value)
    return None


def test_config_reads_settings() -> None:
    assert {"MINDSET_API_FLAVOR", "TYPINGMIND_URL", "BROKER_JWKS_URL"} <= set(SETTINGS)


def test_the_declarations_are_configs_own() -> None:
    assert config.LOG_LEVEL is DECLARED["BROKER_LOG_LEVEL"]
    assert all(isinstance(setting, Setting) and setting.doc for setting in DECLARED.values())


@pytest.mark.parametrize("name", SETTINGS)
def test_setting_is_in_env_example(name: str) -> None:
    assert re.search(rf"^{name}=", ENV_EXAMPLE, re.MULTILINE)


@pytest.mark.parametrize("name", SETTINGS)
def test_the_documented_default_is_the_declared_one(name: str) -> None:
    default = shown(DECLARED[name].default)
    if default is None:
        return
    example = re.search(rf"^{name}=(.*)$", ENV_EXAMPLE, re.MULTILINE)
    assert example is not None
    assert example.group(1) in ("", default)


@pytest.mark.parametrize("setting", SERVER_SETTINGS, ids=lambda setting: setting.name)
def test_each_server_setting_is_in_env_example(setting: ServerSetting) -> None:
    assert re.search(rf"^{setting.name}=$", ENV_EXAMPLE, re.MULTILINE)


def test_server_settings_are_declared_apart_from_the_packages() -> None:
    assert not {setting.name for setting in SERVER_SETTINGS} & set(DECLARED)
