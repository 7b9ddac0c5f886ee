"""Every code block of the README and the docs pages that can run is run, as written.

Shell transcripts (``sh`` blocks of commands with their output as ``# `` lines,
``harness/doc_blocks.py``) run in a fresh directory: ``make run``, ``make serve`` and ``make
standin`` start the real server they name on a free loopback port (the documented port is
replaced by it everywhere in the block), and every other command runs in ``bash`` and must exit
0 and print what the block shows. Python blocks run here or in the test named for them. A block
that cannot run here is listed with the reason; a new block that is none of these fails
:func:`test_every_block_is_run_or_says_why_not`.

Careless changes these tests catch: a renamed route, setting, command or option left in a doc;
an answer whose shape changed (a field renamed, a status changed) while the docs still show the
old one; a port or make target that moved; an example that no longer imports or runs.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from flask_token_broker import TokenBroker
from harness.doc_blocks import ROOT, Block, blocks, output_matches, settings_listing, transcript
from harness.gunicorn_server import GUNICORN
from harness.processes import ManagedProcess, answers, free_port

from . import fake_secrets

BIN = Path(sys.executable).parent
# The ports the docs write, by what listens there (Makefile: PORT, STANDIN_PORT; the
# production trial's BROKER_BIND; the example host project's --port).
DOCUMENTED_PORTS = ("5000", "8000", "9911")
KEY_LENGTH = 60
# Transcripts that run from another directory than the repository's root.
DIRECTORIES = {
    "docs/integrators/mounting.md": ROOT / "examples" / "flask_login_host",
}
# Run by another test, named here (checked to exist).
RUN_ELSEWHERE = {
    (
        "README.md",
        "import os",
    ): "tests/test_mounting.py::test_the_readmes_mounting_example_runs_as_written",
    ("docs/integrators/mounting.md", "from flask import Flask"): (
        "tests/test_mounting.py::test_the_docs_factory_form_runs_as_written"
    ),
    ("docs/security.md", "from flask_token_broker import broker_blueprint, token_route"): (
        "tests/test_docs_blocks.py::test_the_token_routes_example_guards_a_blueprint"
    ),
    ("docs/integrators/resolvers.md", "# myapp/auth.py"): (
        "tests/test_docs_blocks.py::test_the_custom_resolver_example_reads_its_session_store"
    ),
}
CANNOT_RUN = {
    (
        "README.md",
        "make run    # creates .venv, installs, starts the broker on ",
    ): ("the two commands themselves: CI runs make test, and the transcripts run make run"),
    ("README.md", "pip install /path/to/this/checkout"): (
        "a placeholder path; tests/test_installed_host.py installs the built wheel with pip"
    ),
    ("docs/integrators/mounting.md", "pip install /path/to/this/checkout"): (
        "a placeholder path; tests/test_installed_host.py installs the built wheel with pip"
    ),
    ("README.md", "docker build -t mindset-token-broker ."): (
        "needs a container runtime: make image-test builds the image and runs it with podman"
    ),
    ("docs/operators/container.md", "docker build -t mindset-token-broker ."): (
        "needs a container runtime: make image-test builds the image and runs it with podman"
    ),
    ("docs/operators/container.md", "podman build --format docker -t mindset-token-broker ."): (
        "needs a container runtime: make image-test runs podman with these flags"
    ),
    ("docs/operators/production.md", "make serve"): (
        "starts the server and waits: the local production trial below runs make serve"
    ),
    (
        "docs/integrators/resolvers.md",
        "BROKER_USER_RESOLVER=jwt BROKER_JWKS_URL=https://login.examp",
    ): ("needs your identity provider; tests/test_resolver_jwt.py runs the jwt resolver"),
    ("README.md", "location /api/getusertoken { proxy_pass http://127.0.0.1:500"): (
        "an nginx fragment; tests/test_docs_truth.py keeps its port make serve's"
    ),
    (
        "docs/operators/production.md",
        "location /api/getusertoken { proxy_pass http://127.0.0.1:500",
    ): ("an nginx fragment; tests/test_docs_truth.py keeps its port make serve's"),
    ("docs/integrators/frontend.md", '<script src="MINDSET_SDK_URL" defer></script>'): (
        "needs the vendor's SDK; tests/test_browser.py runs the same helper on the demo page"
    ),
    ("docs/integrators/frontend.md", "import { useEffect } from 'react';"): (
        "needs React and the vendor's SDK; tests/test_browser.py runs the helper it imports"
    ),
}
# Not code: output shown as it looks, and Sphinx's own directives.
NOT_CODE = {"", "json", "{toctree}", "{eval-rst}", "{settings-reference}", "{include}"}


def key(block: Block) -> tuple[str, str]:
    """A block by its document and the start of its first line."""
    return (str(block.path.relative_to(ROOT)), block.first_line[:KEY_LENGTH])


def _commands(block: Block) -> bool:
    return block.language == "sh" and settings_listing(block.text) is None


TRANSCRIPTS = [
    block
    for block in blocks()
    if _commands(block) and key(block) not in CANNOT_RUN and key(block) not in RUN_ELSEWHERE
]


def test_every_block_is_run_or_says_why_not() -> None:
    unaccounted = [
        block.name
        for block in blocks()
        if block.language not in NOT_CODE
        and not (block.language == "sh" and (block in TRANSCRIPTS or settings_listing(block.text)))
        and key(block) not in RUN_ELSEWHERE
        and key(block) not in CANNOT_RUN
    ]
    assert not unaccounted, f"blocks nobody runs: {unaccounted}"


def test_the_lists_name_only_blocks_that_exist_and_tests_that_exist() -> None:
    present = {key(block) for block in blocks()}
    assert set(RUN_ELSEWHERE) <= present
    assert set(CANNOT_RUN) <= present
    for test in RUN_ELSEWHERE.values():
        path, _, name = test.partition("::")
        assert f"def {name}(" in (ROOT / path).read_text(), test


def _environment(home: Path) -> dict[str, str]:
    """A shell with none of this process's settings: only what the block itself sets."""
    return {
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "PYTHONPATH": str(ROOT),
        "BROKER_ENV_FILE": os.devnull,
        "FLASK_SKIP_DOTENV": "1",
        "BROKER_WORKERS": "1",
    }


class Session:
    """A block's terminal: one working directory, the servers it started, its ports."""

    def __init__(self, directory: Path, stack: contextlib.ExitStack, home: Path = ROOT) -> None:
        self.directory = directory
        self.stack = stack
        # Where the block's servers run from: the repository, or the project the page is about.
        self.home = home
        self.ports = {port: str(free_port()) for port in DOCUMENTED_PORTS}
        secrets = directory / "run-secrets"
        secrets.mkdir()
        (secrets / "typingmind").write_text(fake_secrets.TYPINGMIND_SECRET + "\n")
        self.replacements = {
            # A host name stays as written: BROKER_ALLOWED_HOSTS may name it.
            **{f"localhost:{old}": f"localhost:{new}" for old, new in self.ports.items()},
            **{f"127.0.0.1:{old}": f"127.0.0.1:{new}" for old, new in self.ports.items()},
            ".venv/bin/": f"{BIN}/",
            "/run/secrets/": f"{secrets}/",
        }

    def localised(self, command: str) -> str:
        for old, new in self.replacements.items():
            command = command.replace(old, new)
        return command

    def run(self, command: str) -> str:
        server = re.search(r"(^|\s)(?:make (run|serve|standin)|python -m (app))\b", command)
        if server:
            self.start(command[: server.start()].strip(), server.group(2) or server.group(3))
            return ""
        done = subprocess.run(
            ["bash", "-c", command],
            cwd=self.directory,
            env=_environment(self.directory),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, f"{command!r} exited {done.returncode}: {done.stderr[-2000:]}"
        return done.stdout

    def start(self, assignments: str, target: str) -> None:
        # The block's own variables, as bash evaluates them ($(...) included).
        shown = subprocess.run(
            ["bash", "-c", f"{assignments} env -0"],
            env=_environment(self.directory),
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        env = dict(item.split("=", 1) for item in shown.split("\0") if "=" in item)
        port = self.ports["9911" if target == "standin" else "5000"]
        if target == "run":
            argv = [sys.executable, "-m", "flask", "--app", "wsgi", "run", "--port", port]
            ready = f"http://127.0.0.1:{port}/healthz"
        elif target == "serve":
            # Loopback only, where the block leaves make serve's default (all interfaces).
            env.setdefault("BROKER_BIND", f"127.0.0.1:{self.ports['5000']}")
            argv = [GUNICORN, "-c", "gunicorn.conf.py", "wsgi:app"]
            ready = f"http://{env['BROKER_BIND']}/healthz"
        elif target == "app":
            port = self.ports["8000"]
            argv = [sys.executable, "-m", "app", "--port", port]
            ready = f"http://127.0.0.1:{port}/healthz"
        else:
            env.setdefault("STANDIN_API_KEY", "dev-key")
            argv = [sys.executable, "-m", "standin", "--app-uid", "dev-app", "--port", port]
            ready = f"http://127.0.0.1:{port}/"
        server = ManagedProcess(argv, what=target, env=env, group=True, cwd=self.home)
        server.start()
        self.stack.callback(server.stop)
        url = ready
        server.wait_until(lambda: answers(url) or answers(url, 404), f"{target} answered")


@contextlib.contextmanager
def session(tmp_path: Path, block: Block) -> Iterator[Session]:
    home = DIRECTORIES.get(str(block.path.relative_to(ROOT)), ROOT)
    with contextlib.ExitStack() as stack:
        yield Session(tmp_path, stack, home)


@pytest.mark.network
@pytest.mark.parametrize("block", TRANSCRIPTS, ids=lambda block: block.name)
def test_the_transcript_runs_as_shown(block: Block, tmp_path: Path) -> None:
    with session(tmp_path, block) as terminal:
        for step in transcript(block.text):
            output = terminal.run(terminal.localised(step.command))
            missing = output_matches([terminal.localised(line) for line in step.expected], output)
            assert missing is None, f"{step.command!r} did not print {missing!r}:\n{output}"


def _python_block(path: str, first_line: str) -> str:
    [block] = [block for block in blocks() if key(block) == (path, first_line)]
    return block.text


def test_the_token_routes_example_guards_a_blueprint() -> None:
    code = _python_block(
        "docs/security.md", "from flask_token_broker import broker_blueprint, token_route"
    )
    namespace: dict[str, Any] = {"__name__": "docs_security"}
    exec(compile(code, "docs/security.md", "exec"), namespace)  # noqa: S102 - the page's block
    blueprint = namespace["my_tokens"]
    blueprint.get("/api/example")(lambda: {"ok": True})
    app = Flask(__name__)
    app.config.update(SECRET_KEY=fake_secrets.SECRET_KEY)
    TokenBroker(app)
    app.register_blueprint(blueprint)
    answer = app.test_client().get(
        "/api/example", headers={"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}
    )
    assert answer.status_code == 403
    assert answer.get_json()["error"] == "cross_site"


def test_the_custom_resolver_example_reads_its_session_store() -> None:
    code = _python_block("docs/integrators/resolvers.md", "# myapp/auth.py")

    class Account:
        id = "ada"
        email = "ada@example.com"

    def lookup_session(sid: str | None) -> Account | None:  # the host's own store
        return Account() if sid == "s-1" else None

    namespace: dict[str, Any] = {"__name__": "docs_resolver", "lookup_session": lookup_session}
    exec(compile(code, "docs/integrators/resolvers.md", "exec"), namespace)  # noqa: S102
    app = Flask(__name__)
    with app.test_request_context(headers={"Cookie": "myapp_sid=s-1"}):
        assert namespace["broker_user"]() == {"id": "ada", "email": "ada@example.com"}
    with app.test_request_context():
        assert namespace["broker_user"]() is None
