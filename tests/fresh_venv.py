"""A fresh virtual environment, with what a host would ``pip install`` into it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

from harness.processes import ROOT

INSTALL_TIMEOUT = 600
# What a copy of the checkout leaves out: local environments, caches and build output.
NOT_SOURCES = shutil.ignore_patterns(
    ".git",
    ".venv",
    "node_modules",
    "mutants",
    "artifacts",
    "build",
    "dist",
    "*.egg-info",
    "__pycache__",
    ".*_cache",
    ".hypothesis",
    "prometheus_multiproc",
)


def copy_of_checkout(destination: Path) -> Path:
    shutil.copytree(ROOT, destination, ignore=NOT_SOURCES)
    return destination


def build_wheel(out_dir: Path, work_dir: Path) -> Path:
    """Build the wheel from a copy of the checkout, so the checkout gets no build output."""
    source = copy_of_checkout(work_dir / "source")
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", out_dir, source],
        check=True,
        capture_output=True,
        timeout=INSTALL_TIMEOUT,
    )
    [wheel] = out_dir.glob("*.whl")
    return wheel


class FreshVenv:
    """``python -m venv`` at ``path``; :meth:`pip` installs into it."""

    def __init__(self, path: Path) -> None:
        venv.create(path, with_pip=True, clear=True)
        self.path = path
        self.python = str(path / "bin" / "python")

    def environment(self) -> dict[str, str]:
        # Nothing of the test run's own interpreter: no PYTHONPATH, no virtualenv variables.
        # pip's own settings (its index, certificates) are kept.
        return {
            name: value
            for name, value in os.environ.items()
            if name in ("PATH", "HOME", "LANG") or name.startswith("PIP_")
        }

    def pip(self, *arguments: str | Path) -> None:
        command = [self.python, "-m", "pip", "install", "--disable-pip-version-check", "-q"]
        result = subprocess.run(
            [*command, *map(str, arguments)],
            env=self.environment(),
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT,
        )
        assert result.returncode == 0, f"pip install {arguments} failed:\n{result.stderr[-3000:]}"

    def run_json(self, script: str, cwd: Path) -> dict[str, object]:
        """Run ``script`` with the venv's Python in ``cwd``; it prints one JSON object."""
        result = subprocess.run(
            [self.python, "-c", script],
            cwd=cwd,
            env=self.environment(),
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        answer = json.loads(result.stdout)
        assert isinstance(answer, dict)
        return answer
