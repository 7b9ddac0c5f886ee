"""The server's master checks that a host's resolver imports, in a child interpreter, before any
worker starts and before a reload replaces them (``flask_token_broker.check_resolver_imports``)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from flask_token_broker.settings import ConfigError, Settings, load_settings
from flask_token_broker.users import import_check
from flask_token_broker.users.import_check import check_resolver_imports

from .conftest import mindset_settings


def settings_naming(resolver: str) -> Settings:
    return load_settings(mindset_settings(BROKER_USER_RESOLVER=resolver))


def refusal(resolver: str) -> str:
    with pytest.raises(ConfigError) as refused:
        check_resolver_imports(settings_naming(resolver))
    return str(refused.value)


@pytest.fixture
def host_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[str, str], None]:
    """Writes a host module the check's child interpreter can import: the child's PYTHONPATH
    is the master's path."""
    monkeypatch.syspath_prepend(str(tmp_path))

    def write(name: str, source: str) -> None:
        (tmp_path / f"{name}.py").write_text(source)

    return write


def test_an_importable_resolver_passes_and_stays_out_of_the_master() -> None:
    module = "tests.host_resolvers.not_in_workers"
    sys.modules.pop(module, None)
    check_resolver_imports(settings_naming(f"{module}:broker_user"))
    assert module not in sys.modules


@pytest.mark.parametrize(
    ("resolver", "said"),
    [
        (
            "no_such_module.auth:broker_user",
            "BROKER_USER_RESOLVER: cannot import module 'no_such_module.auth' "
            "(ModuleNotFoundError); is it on PYTHONPATH or in the working directory?",
        ),
        (
            "tests.host_resolvers:missing",
            "BROKER_USER_RESOLVER: module 'tests.host_resolvers' has no attribute 'missing'",
        ),
        (
            "tests.host_resolvers:NOT_CALLABLE",
            "BROKER_USER_RESOLVER: tests.host_resolvers:NOT_CALLABLE is not callable",
        ),
    ],
)
def test_the_workers_own_refusal_is_the_masters(resolver: str, said: str) -> None:
    assert refusal(resolver) == said


def test_a_module_that_fails_to_compile_is_named_with_how_to_see_why(
    host_module: Callable[[str, str], None],
) -> None:
    host_module("broken_resolver", "def broker_user(:\n")
    assert refusal("broken_resolver:broker_user") == (
        "BROKER_USER_RESOLVER: importing module 'broken_resolver' raised SyntaxError; import "
        "it by hand for the traceback: python -c 'import broken_resolver'"
    )


def test_a_module_slower_than_the_bound_is_refused_and_its_import_stopped(
    host_module: Callable[[str, str], None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    host_module(
        "slow_resolver", "import time\ntime.sleep(30)\ndef broker_user():\n    return None\n"
    )
    monkeypatch.setattr(import_check, "RESOLVER_IMPORT_CHECK_SECONDS", 1)
    started = time.monotonic()
    assert refusal("slow_resolver:broker_user") == (
        "BROKER_USER_RESOLVER: importing slow_resolver:broker_user took over 1 s; "
        "does its module do work at import?"
    )
    assert time.monotonic() - started < 20


def test_an_import_that_ends_the_interpreter_silently_is_named_by_its_exit_status(
    host_module: Callable[[str, str], None],
) -> None:
    host_module("exiting_resolver", "import os\nprint('starting')\nos._exit(7)\n")
    assert refusal("exiting_resolver:broker_user") == (
        "BROKER_USER_RESOLVER: exiting_resolver:broker_user could not be imported (exit 7)"
    )


def test_what_the_module_prints_at_import_does_not_hide_the_reason(
    host_module: Callable[[str, str], None],
) -> None:
    host_module(
        "chatty_resolver",
        "print('BROKER_USER_RESOLVER looks fine')\nprint('loading')\n"
        "raise RuntimeError('no database')\n",
    )
    assert refusal("chatty_resolver:broker_user") == (
        "BROKER_USER_RESOLVER: importing module 'chatty_resolver' raised RuntimeError; import "
        "it by hand for the traceback: python -c 'import chatty_resolver'"
    )


@pytest.mark.parametrize("resolver", ["session", "headers"])
def test_the_broker_own_resolvers_need_no_check(
    resolver: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_child(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("no child interpreter for a built-in resolver")

    monkeypatch.setattr(subprocess, "run", no_child)
    check_resolver_imports(settings_naming(resolver))


def test_the_check_writes_no_metrics_into_the_servers_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    seen: dict[str, str] = {}
    run = subprocess.run

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.update(kwargs["env"])
        return run(*args, **kwargs)

    monkeypatch.setattr(subprocess, "run", spy)
    check_resolver_imports(settings_naming("tests.host_resolvers:from_cookie"))
    assert "PROMETHEUS_MULTIPROC_DIR" not in seen
    assert list(tmp_path.iterdir()) == []
