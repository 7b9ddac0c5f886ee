"""The stand-in runs from the runtime environment (``make standin`` installs only
requirements.txt), says in one line when its port is taken, and its README points only at files
in the repository."""

from __future__ import annotations

import ast
import os
import re
import socket
import subprocess  # nosec B404
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
STANDIN = ROOT / "standin"
# Distribution names in requirements.txt whose import name differs.
IMPORT_NAMES = {"pyjwt": "jwt", "python-dotenv": "dotenv", "prometheus-client": "prometheus_client"}


def runtime_packages() -> set[str]:
    names: set[str] = set()
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        match = re.match(r"([A-Za-z0-9_.-]+)", line.split("#")[0].strip())
        if match:
            name = match.group(1).lower()
            names.add(IMPORT_NAMES.get(name, name.replace("-", "_")))
    return names


def optional(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    """Inside a ``try`` that handles ImportError: used when present, not required."""
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.Try) and any(
            isinstance(h.type, ast.Name) and h.type.id in ("ImportError", "ModuleNotFoundError")
            for h in node.handlers
        ):
            return True
    return False


def required_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        if not optional(node, parents):
            found.update(names)
    return found


# The vendor contract the stand-in serves ships inside the extension, standard library only.
CONTRACT = "flask_token_broker.sandbox_vendor"


def test_the_standin_needs_no_package_beyond_the_runtime_requirements() -> None:
    allowed = set(sys.stdlib_module_names) | runtime_packages() | {"standin"}
    missing = {
        f"{path.name}: {name}"
        for path in STANDIN.glob("*.py")
        for name in required_imports(path)
        if name.split(".")[0] not in allowed and not name.startswith(CONTRACT)
    }
    assert not missing, f"not in requirements.txt: {sorted(missing)}"


def test_the_vendor_contract_it_serves_needs_only_the_standard_library() -> None:
    contract = ROOT / CONTRACT.replace(".", "/")
    found = {
        f"{path.name}: {name}"
        for path in contract.glob("*.py")
        for name in required_imports(path)
        if name.split(".")[0] not in sys.stdlib_module_names
    }
    assert found == set()


def test_the_standin_readme_names_only_files_in_the_repository() -> None:
    readme = (STANDIN / "README.md").read_text()
    named = re.findall(r"`([\w./-]+\.(?:py|md|txt|toml))`", readme)
    assert named
    absent = [n for n in named if not (STANDIN / n).exists() and not (ROOT / n).exists()]
    assert not absent, f"the stand-in README names files that are not in the repository: {absent}"


def test_make_standin_needs_only_the_runtime_environment() -> None:
    makefile = (ROOT / "Makefile").read_text()
    target = re.search(r"^standin: (.*)$", makefile, re.MULTILINE)
    assert target is not None, "no `make standin` target"
    assert "$(VENV)/.runtime" in target.group(1)
    assert ".dev" not in target.group(1)


@pytest.mark.network
def test_a_taken_port_stops_the_standin_with_one_line_naming_the_setting() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        # As `make standin STANDIN_PORT=<port>` runs it.
        result = subprocess.run(  # nosec B603
            [sys.executable, "-m", "standin", "--app-uid", "dev-app", "--port", port],
            cwd=ROOT,
            env={"PATH": os.environ["PATH"], "STANDIN_API_KEY": "dev-key"},
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert result.returncode == 1
    assert result.stdout == ""  # no STANDIN_READY line
    assert result.stderr.splitlines() == [
        f"stand-in: port {port} on 127.0.0.1 is taken; choose another with STANDIN_PORT "
        "(make standin STANDIN_PORT=<port>) or --port"
    ]
