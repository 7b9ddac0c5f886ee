"""What the README and docs pages name exists as named: make targets, CLI commands, files,
settings, routes and ports are read from the code they describe.

Careless changes these tests catch: a make target, command or file renamed while the docs keep
the old name; a setting misspelt in a page; a route moved; the nginx example pointing at a
port no server listens on; the container's port, the stand-in's or make run's changed in one
place only.
"""

from __future__ import annotations

import re

import pytest
from flask import Flask

from flask_token_broker import TokenBroker
from flask_token_broker.settings.table import DECLARED, FILE_SUFFIX
from harness.container_run import podman_limits
from harness.doc_blocks import ROOT, blocks, documents
from serving.settings import DECLARED as SERVER_SETTINGS
from serving.settings import RETIRED

from . import fake_secrets
from .conftest import build_app, mindset_settings

MAKEFILE = (ROOT / "Makefile").read_text()
_CODE_SPAN = re.compile(r"`([^`\n]+)`")
# Paths the docs name that are made, not kept in the repository, and by whom.
MADE_LATER = {
    "myhost.py": "the reader's own host app, written from the README's example",
    "bench/out/soak.json": "written by make soak",
    "mutants": "written by make mutation",
    "deploy/secrets": "the operator's secret files, made with the commands in deploy/compose.yaml",
}


def code_texts() -> list[tuple[str, str]]:
    """(document, text) of every code span and code block of the README and docs pages."""
    texts = [(block.name, block.text) for block in blocks()]
    for path in documents():
        name = str(path.relative_to(ROOT))
        texts += [(name, span) for span in _CODE_SPAN.findall(path.read_text())]
    return texts


def makefile_variable(name: str) -> str:
    match = re.search(rf"^{name} \?= (\S+)$", MAKEFILE, re.MULTILINE)
    assert match, name
    return match.group(1)


def test_every_make_target_named_exists() -> None:
    targets = set(re.findall(r"^([a-z][a-z-]*):", MAKEFILE, re.MULTILINE))
    named = {
        (where, target)
        for where, text in code_texts()
        for target in re.findall(r"(?:^|[\s(`])make ([a-z][a-z-]*)", text)
    }
    assert named
    assert not {pair for pair in named if pair[1] not in targets}


def standalone_app() -> Flask:
    """The standalone service with every flow and the demo login on: all its routes."""
    return build_app(
        mindset_settings(
            TYPINGMIND_URL="https://chat.example.com",
            TYPINGMIND_JWT_SECRET=fake_secrets.TYPINGMIND_SECRET,
            BROKER_DEMO_LOGIN="1",
        )
    )


def test_every_cli_command_named_exists() -> None:
    commands = standalone_app().cli.commands
    named = {
        tuple(match.split())
        for _, text in code_texts()
        for match in re.findall(r"flask --app wsgi ([a-z-]+ [a-z-]+)", text)
    }
    assert named
    for group, command in named:
        assert group in commands, group
        assert command in commands[group].commands, (group, command)  # type: ignore[attr-defined]


def test_every_repository_path_named_exists() -> None:
    files = {str(path.relative_to(ROOT)) for path in ROOT.rglob("*") if ".venv" not in path.parts}
    paths = {
        (where, span.rstrip("/"))
        for where, span in code_texts()
        if re.fullmatch(r"[\w.-]+(/[\w.-]+)*/?", span)
        and ("/" in span or re.search(r"\.(py|md|toml|txt|yaml|conf|sh|js|html|example)$", span))
        and not span.startswith(("/", "."))
        and "." in span.rsplit("/", 1)[-1] + ("." if span.endswith("/") else "")
    }
    missing = {
        (where, path)
        for where, path in paths
        if path not in MADE_LATER
        and not any(name == path or name.endswith("/" + path) for name in files)
    }
    assert paths
    assert not missing


SETTING_NAME = re.compile(r"\b((?:MINDSET|TYPINGMIND|BROKER)_[A-Z0-9_]+)\b")


def known_settings() -> set[str]:
    names = {*DECLARED, *(setting.name for setting in SERVER_SETTINGS), *RETIRED}
    return names | {name + FILE_SUFFIX for name in DECLARED if DECLARED[name].secret}


def test_every_setting_named_is_declared() -> None:
    known = known_settings()
    unknown = {
        (str(path.relative_to(ROOT)), name)
        for path in documents()
        for name in SETTING_NAME.findall(path.read_text())
        # A name ending in "_" is a family (BROKER_SESSION_*), not one setting.
        if name not in known and not name.endswith("_")
    }
    assert not unknown


@pytest.mark.parametrize(
    ("method", "path"),
    sorted(
        {
            (method, path)
            for document in documents()
            for method, path in re.findall(r"`(GET|POST) (/[^`\s]*)`", document.read_text())
        }
    ),
)
def test_every_route_named_is_served(method: str, path: str) -> None:
    mounted = Flask(__name__)
    mounted.config.update(SECRET_KEY=fake_secrets.SECRET_KEY)
    TokenBroker(mounted, ops=True, demo=True, prefix="/broker")
    concrete = path.replace("<filename>", "mindset-auth.js")
    matched = []
    for app in (standalone_app(), mounted):
        adapter = app.url_map.bind("broker.test")
        try:
            matched.append(adapter.match(concrete, method=method))
        except Exception:  # noqa: S112 - no rule here; the other app may have it
            continue
    assert matched, f"{method} {path} is no route of the broker"


def test_the_nginx_example_proxies_to_make_serves_port() -> None:
    port = makefile_variable("PORT")
    proxied = {
        (block.name, match)
        for block in blocks()
        if block.language == "nginx"
        for match in re.findall(r"proxy_pass http://127\.0\.0\.1:(\d+)", block.text)
    }
    assert proxied
    assert {found for _, found in proxied} == {port}


def test_make_run_and_curl_use_the_makefiles_port() -> None:
    port = makefile_variable("PORT")
    readme = (ROOT / "README.md").read_text()
    assert f"http://{makefile_variable('HOST')}:{port}" in readme
    for block in blocks():
        if "make run" in block.text:
            assert set(re.findall(r"localhost:(\d+)", block.text)) <= {port}, block.name


def test_the_container_docs_use_the_images_port() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    match = re.search(r"^\s+PORT=(\d+)", dockerfile, re.MULTILINE)
    assert match
    port = match.group(1)
    runs = [block for block in blocks() if re.search(r"(docker|podman) run", block.text)]
    assert runs
    for block in runs:
        assert f"-p {port}:{port}" in block.text, block.name


def test_the_standin_port_is_the_makefiles() -> None:
    port = makefile_variable("STANDIN_PORT")
    for block in blocks():
        if "make standin" in block.text:
            assert set(re.findall(r"127\.0\.0\.1:(9\d{3})", block.text)) <= {port}, block.name


def test_no_page_claims_a_control_socket_file() -> None:
    for path in [*documents(), ROOT / "Dockerfile"]:
        assert "gunicorn.ctl" not in path.read_text(), path


def test_the_documented_podman_line_has_the_limits_the_image_test_runs_with() -> None:
    limits = " ".join(podman_limits())
    podman_runs = [block for block in blocks() if "podman run" in block.text]
    assert podman_runs
    for block in podman_runs:
        assert limits in block.text, block.name
    # The README gives them in its text, where a line may break between them.
    assert limits in " ".join((ROOT / "README.md").read_text().split())


def test_the_readme_stays_a_ten_minute_read() -> None:
    # What does not fit belongs on a docs page, which the README points at.
    assert len((ROOT / "README.md").read_text().splitlines()) <= 250
