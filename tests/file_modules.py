"""Loading a module from its file, for code the tests read that is not in a package
(``bench/``, ``scripts/``, ``docs/_ext/``)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType


def load_module(name: str, path: Path) -> ModuleType:
    """The module in ``path``, imported under ``name``."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # A dataclass in it looks its module up by name while the class is made.
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
