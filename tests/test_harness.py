"""The process base the tests and the benchmark share: bounded start, bounded stop."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from harness.processes import ManagedProcess

IGNORES_SIGTERM = (
    "import signal, time\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "print('ready', flush=True)\n"
    "time.sleep(60)\n"
)


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_a_process_ignoring_sigterm_is_killed_after_the_bounded_wait() -> None:
    process = ManagedProcess(python(IGNORES_SIGTERM), stop_timeout=0.5).start()
    process.wait_for_log("^ready$")
    started = time.monotonic()
    assert process.stop() == -9
    assert time.monotonic() - started < 5


def test_a_process_that_exits_before_it_is_ready_fails_at_once_with_its_output() -> None:
    process = ManagedProcess(python("print('no settings, giving up'); raise SystemExit(3)"))
    started = time.monotonic()
    with process, pytest.raises(RuntimeError, match=r"exited \(code 3\)") as raised:
        process.wait_for_log("^never$")
    assert "no settings, giving up" in str(raised.value)
    assert time.monotonic() - started < 10  # not the 30 s start timeout


def test_readiness_is_read_from_this_run_only_when_a_log_is_reused(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    log.write_text("READY http://127.0.0.1:1 (an earlier run)\n")
    code = "import time; time.sleep(0.3); print('READY http://127.0.0.1:2', flush=True)"
    with ManagedProcess(python(code + "; time.sleep(60)"), log_path=log) as process:
        assert process.wait_for_log(r"^READY (\S+)").group(1) == "http://127.0.0.1:2"
    assert "an earlier run" in process.logs()
