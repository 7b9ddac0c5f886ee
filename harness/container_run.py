"""The run lines the Dockerfile's header documents, read from it.

The image test starts the container with the runtime flags an operator is told to use, taken
from the documented ``podman run`` line, so the documentation and the test cannot drift apart.
"""

from __future__ import annotations

import shlex
from pathlib import Path

DOCKERFILE = Path(__file__).resolve().parent.parent / "Dockerfile"


def documented_run_lines(dockerfile: Path = DOCKERFILE) -> dict[str, list[str]]:
    """``{"docker": argv, "podman": argv}``: each ``<runtime> run`` command of the header comment
    (the comment lines before the first instruction), its continuation lines joined."""
    commands: dict[str, list[str]] = {}
    pending = ""
    for line in dockerfile.read_text().splitlines():
        if not line.startswith("#"):
            break
        text = line.lstrip("#").strip()
        if pending:
            pending += " " + text
        elif text.split()[:2] in (["docker", "run"], ["podman", "run"]):
            pending = text
        else:
            continue
        if pending.endswith("\\"):
            pending = pending[:-1].rstrip()
            continue
        argv = shlex.split(pending)
        commands[argv[0]] = argv
        pending = ""
    return commands


def options_named(argv: list[str], name: str) -> list[str]:
    """Every ``name VALUE`` pair of ``argv``, in order, as ``[name, VALUE, ...]``."""
    found: list[str] = []
    for index, word in enumerate(argv[:-1]):
        if word == name:
            found += [name, argv[index + 1]]
    return found


def podman_limits(dockerfile: Path = DOCKERFILE) -> list[str]:
    """The documented ``podman run`` line's ``--ulimit`` options, or ValueError if it has none."""
    podman = documented_run_lines(dockerfile).get("podman")
    if podman is None:
        raise ValueError(f"{dockerfile} documents no podman run line")
    limits = options_named(podman, "--ulimit")
    if not limits:
        raise ValueError(f"the podman run line in {dockerfile} sets no --ulimit")
    return limits
