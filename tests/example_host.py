"""The example host project (``examples/flask_login_host``), loaded beside the service.

The example is a project of its own whose top-level names are ``app`` and ``config``, as are
this repository's service's. To build its app inside the test process, its modules are put
in ``sys.modules`` under those names only while they are imported and while ``create_app``
runs (Flask finds an app's root path through ``sys.modules``), then the service's modules
are put back. Its views hold references to their own modules, so requests need no swap.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

from flask import Flask

EXAMPLE_DIR = Path(__file__).resolve().parent.parent / "examples" / "flask_login_host"
TOP_LEVEL_NAMES = ("app", "config")


def _owned(name: str) -> bool:
    return any(name == top or name.startswith(f"{top}.") for top in TOP_LEVEL_NAMES)


@contextmanager
def _modules(modules: dict[str, ModuleType]) -> Iterator[dict[str, ModuleType]]:
    """Run with ``modules`` as the top-level ``app`` and ``config``; yield what was imported."""
    saved = {name: sys.modules.pop(name) for name in list(sys.modules) if _owned(name)}
    sys.modules.update(modules)
    sys.path.insert(0, str(EXAMPLE_DIR))
    try:
        yield modules
    finally:
        sys.path.remove(str(EXAMPLE_DIR))
        modules.update({name: sys.modules.pop(name) for name in list(sys.modules) if _owned(name)})
        sys.modules.update(saved)


@cache
def _example_modules() -> dict[str, ModuleType]:
    with _modules({}) as modules:
        importlib.import_module("app")
    for module in modules.values():
        assert Path(str(module.__file__)).is_relative_to(EXAMPLE_DIR), module
    return modules


def create_example_host(test_config: Mapping[str, Any]) -> Flask:
    """The example's ``create_app(test_config)``."""
    with _modules(_example_modules()) as modules:
        app = modules["app"].create_app(test_config)
    assert isinstance(app, Flask)
    return app
