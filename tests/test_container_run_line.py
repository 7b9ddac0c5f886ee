"""The run lines the Dockerfile documents, and the image test's use of them (no container runs)."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest

from flask_token_broker.settings.vendor_sections import MindsetSettings
from harness.container_run import (
    DOCKERFILE,
    documented_run_lines,
    options_named,
    podman_limits,
)
from serving.settings import WORKER_CONNECTIONS

from .file_modules import load_module

IMAGE_TEST = Path(__file__).resolve().parent.parent / "scripts" / "image_test.py"


def image_test() -> ModuleType:
    # scripts/ is not a package.
    return load_module("image_test", IMAGE_TEST)


def test_the_podman_line_is_the_docker_line_with_limits() -> None:
    lines = documented_run_lines()
    docker, podman = lines["docker"], lines["podman"]
    limits = options_named(podman, "--ulimit")
    assert [word for word in podman if word not in limits] == ["podman", *docker[1:]]
    assert limits == podman_limits()


def test_the_podman_limits_cover_open_files_and_processes_and_a_busy_worker() -> None:
    limits = dict(value.split("=") for value in podman_limits()[1::2])
    assert set(limits) == {"nofile", "nproc"}
    soft, hard = (int(part) for part in limits["nofile"].split(":"))
    # One worker's client connections at their default, and its kept-alive vendor pool.
    assert soft == hard >= int(WORKER_CONNECTIONS.default) + MindsetSettings.pool_size


def test_the_image_test_runs_the_container_with_the_documented_limits(tmp_path: Path) -> None:
    options = image_test().container_options(tmp_path)
    assert options_named(options, "--ulimit") == podman_limits()


def test_a_dockerfile_without_a_podman_line_is_refused(tmp_path: Path) -> None:
    dockerfile = tmp_path / "Dockerfile"
    header = [line for line in DOCKERFILE.read_text().splitlines() if "podman run" not in line]
    dockerfile.write_text("\n".join(header))
    assert "podman" not in documented_run_lines(dockerfile)
    with pytest.raises(ValueError, match="no podman run line"):
        podman_limits(dockerfile)
