"""Every setting config.py reads is documented in .env.example and the README's table."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
READ = re.compile(r'reader\.\w+\(\s*"([A-Z][A-Z0-9_]+)"')
SETTINGS = sorted(set(READ.findall((ROOT / "config.py").read_text())))


def test_config_reads_settings() -> None:
    assert {"MINDSET_API_FLAVOR", "TYPINGMIND_URL", "BROKER_JWKS_URL"} <= set(SETTINGS)


@pytest.mark.parametrize("name", SETTINGS)
def test_setting_is_in_env_example_and_readme(name: str) -> None:
    assert re.search(rf"^{name}=", (ROOT / ".env.example").read_text(), re.MULTILINE)
    assert f"| `{name}` |" in (ROOT / "README.md").read_text()
