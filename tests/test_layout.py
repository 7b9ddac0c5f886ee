"""The layout's promises that no linter states: imports at module level, one owner per concept."""

from __future__ import annotations

import ast
import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import flask_token_broker
from flask_token_broker.mindset.client import MindsetClient
from flask_token_broker.mindset.vendor_api import ENDPOINTS, AuthRequest
from flask_token_broker.minting.identity import auth_request_for
from flask_token_broker.minting.reuse import request_key
from flask_token_broker.settings import MindsetSettings
from flask_token_broker.users import CurrentUser

from .vendor_defaults import CLIENT_OPTIONS

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "flask_token_broker"
SERVICE = ROOT / "app"
# The package's public names are imported on first use; its __init__ names their modules
# under TYPE_CHECKING for type checkers, the one import allowed inside a branch.
LAZY_PUBLIC_NAMES = PACKAGE / "__init__.py"


def nested_imports(path: Path) -> list[str]:
    """Every import statement of ``path`` that is not at the module's top level."""
    tree = ast.parse(path.read_text(), str(path))
    top_level = {id(node) for node in tree.body}
    return [
        f"{path.relative_to(ROOT)}:{node.lineno}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom) and id(node) not in top_level
    ]


def test_no_module_of_the_app_imports_inside_a_function_or_a_branch() -> None:
    # An import hidden in a function dodges a cycle the layers should not have; one under
    # TYPE_CHECKING hides an upward import from the reader. Both are refused everywhere.
    paths = sorted({*PACKAGE.rglob("*.py"), *SERVICE.rglob("*.py")} - {LAZY_PUBLIC_NAMES})
    found = [line for path in paths for line in nested_imports(path)]
    assert found == []


def service_imports_of_the_package(path: Path) -> list[str]:
    """Every import of ``path`` that reaches into the package instead of its public names."""
    tree = ast.parse(path.read_text(), str(path))
    reached = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules = [node.module]
        elif isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        else:
            continue
        reached += [m for m in modules if m.startswith("flask_token_broker.")]
    return reached


@pytest.mark.parametrize("name", ["config.py", "wsgi.py", "gunicorn.conf.py"])
def test_the_services_top_level_modules_use_only_the_public_names(name: str) -> None:
    # The app/ package is held to it by an import-linter contract (pyproject.toml); these
    # modules sit beside it, where import-linter does not look.
    assert service_imports_of_the_package(ROOT / name) == []


def test_every_public_name_resolves_and_the_package_names_no_other() -> None:
    for name in flask_token_broker.__all__:
        assert getattr(flask_token_broker, name) is not None, name
    assert dir(flask_token_broker) == sorted(flask_token_broker.__all__)
    with pytest.raises(AttributeError, match="no attribute 'init_broker'"):
        _ = flask_token_broker.init_broker


BASE = AuthRequest(external_id="ada", name="Ada", account_uids=("a" * 20,))
OTHER_VALUES: dict[str, Any] = {
    "external_id": None,
    "user_email": "ada@example.com",
    "name": "Bob",
    "account_uids": ("b" * 20,),
}


@pytest.mark.parametrize("field", [f.name for f in dataclasses.fields(AuthRequest)])
def test_every_field_of_the_vendor_request_shapes_its_key(field: str) -> None:
    # The body is built from the AuthRequest by the client alone; the key must see every
    # field the body may be built from, including one added later.
    assert field in OTHER_VALUES, f"AuthRequest.{field} is new: give it another value here"
    changes: dict[str, Any] = {field: OTHER_VALUES[field]}
    if field == "external_id":
        changes["user_email"] = "ada"
    elif field == "user_email":
        changes["external_id"] = None
    other = dataclasses.replace(BASE, **changes)
    parts = ("sdk3", "http://mindset.test/auth", "app")
    assert request_key(b"k" * 32, parts, other) != request_key(b"k" * 32, parts, BASE)


@pytest.mark.parametrize("flavor", sorted(ENDPOINTS))
def test_the_identity_mapping_and_the_client_agree_on_every_flavor(flavor: str) -> None:
    settings = MindsetSettings(
        base_url="http://mindset.test",
        api_key="k" * 20,
        app_uid="app",
        flavor=flavor,
        legacy_email_domain="users.example.com",
    )
    client = MindsetClient(
        "http://mindset.test", "k" * 20, "app", **{**CLIENT_OPTIONS, "flavor": flavor}
    )
    for user in (CurrentUser("ada", "ada@example.com", "Ada"), CurrentUser("bob")):
        body = client.body_for(auth_request_for(user, settings))
        assert ("externalId" in body) != ENDPOINTS[flavor].email_only


# Split by concern well before this; past it a module is doing more than one job.
MAX_MODULE_LINES = 300


def test_no_product_module_is_over_300_lines() -> None:
    modules = [
        *(ROOT / "flask_token_broker").rglob("*.py"),
        *(ROOT / "app").rglob("*.py"),
        *(ROOT / "serving").rglob("*.py"),
        ROOT / "config.py",
        ROOT / "wsgi.py",
        ROOT / "gunicorn.conf.py",
    ]
    too_long = {
        str(path.relative_to(ROOT)): lines
        for path in modules
        if (lines := len(path.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert not too_long, f"split by concern: {too_long}"


def test_the_servers_master_imports_no_flask_nor_the_vendor_client() -> None:
    """gunicorn's master reads gunicorn.conf.py (the service's config, the package's settings)
    and forks the workers, which then patch the standard library for gevent: anything the
    master imported before is shared unpatched, and costs every worker memory it never
    frees. The app, Flask and requests are the workers' own."""
    script = (
        "import json, runpy, sys; runpy.run_path('gunicorn.conf.py'); "
        "print(json.dumps(sorted(sys.modules)))"
    )
    env = {
        **{k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")},
        "BROKER_ENV_FILE": os.devnull,
        "SECRET_KEY": "a-test-key-that-is-long-enough-0123456789",
    }
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    imported = set(json.loads(result.stdout.splitlines()[-1]))
    unwanted = {"flask", "werkzeug", "requests", "urllib3", "jwt", "gevent.monkey"} & imported
    assert not unwanted, f"gunicorn's master imports {sorted(unwanted)}"
