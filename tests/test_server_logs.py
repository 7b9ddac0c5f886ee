"""The production server's whole stderr is JSON lines: gunicorn's own lines (listening, worker
boot and exit, shutdown), the workers' refusals, the broker's lines, and a start-up refusal;
and the server opens no control socket in a shared place such as the home directory."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from harness.gunicorn_server import GunicornServer, isolated_environment
from harness.standin_process import StandinProcess

from . import fake_secrets, raw_http
from .broker_server import BrokerServer, session_cookie
from .conftest import mindset_settings

pytestmark = pytest.mark.network


@pytest.fixture(scope="module")
def standin() -> Iterator[StandinProcess]:
    with StandinProcess(fake_secrets.API_KEY, fake_secrets.APP_UID) as vendor:
        yield vendor


def json_lines(text: str) -> list[dict[str, object]]:
    """Every line of ``text`` as a JSON object; fails naming the first line that is not one."""
    entries = []
    for line in text.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            pytest.fail(f"a server log line is not JSON: {line!r}")
        assert isinstance(entry, dict), line
        assert {"ts", "level", "logger", "msg"} <= entry.keys(), line
        entries.append(entry)
    return entries


def test_every_production_server_log_line_is_json(standin: StandinProcess, tmp_path: Path) -> None:
    settings = mindset_settings(MINDSET_API_HOST=standin.url)
    server = BrokerServer(settings, tmp_path, workers=1)
    with server:
        cookie = session_cookie({"user_id": "ada"})
        answer = requests.get(
            f"{server.url}/api/getusertoken", headers={"Cookie": f"session={cookie}"}, timeout=10
        )
        assert answer.status_code == 200
        # Refused by the worker before the app sees it: the server's own refusal line.
        assert raw_http.exchange(server.url, b"NOT HTTP AT ALL\r\n\r\n").status == 400
    entries = json_lines(server.logs())
    messages = [str(entry["msg"]) for entry in entries]
    loggers = {entry["logger"] for entry in entries}
    assert any(m.startswith("Listening at: http://127.0.0.1:") for m in messages)
    assert any(m.startswith("Booting worker with pid") for m in messages)
    assert any(m.startswith("Shutting down") for m in messages)
    assert {"gunicorn.error", "broker", "broker.access", "broker.server"} <= loggers
    assert all(
        isinstance(entry.get("pid"), int)
        for entry in entries
        if entry["logger"] == "gunicorn.error"
    )


def test_warnings_logged_while_the_server_reads_its_configuration_are_json(
    tmp_path: Path,
) -> None:
    """python-dotenv warns of a line it cannot parse while gunicorn is still reading its config
    file, before gunicorn applies its logging configuration; the broker's start-up warnings
    come later, from the workers. Every line is JSON, from the first."""
    env_file = tmp_path / "broker.env"
    env_file.write_text("a line that is no assignment\n")
    with BrokerServer(
        mindset_settings(BROKER_ENV_FILE=str(env_file)), tmp_path, workers=1
    ) as server:
        pass
    entries = json_lines(server.logs())
    warnings = [(e["logger"], str(e["msg"])) for e in entries if e["level"] == "warning"]
    assert ("dotenv.main", "python-dotenv could not parse statement starting at line 1") in warnings
    assert any(
        logger == "broker" and msg.startswith("BROKER_ALLOWED_HOSTS is not set in production")
        for logger, msg in warnings
    )


def test_the_server_opens_no_control_socket_in_the_home_directory(
    standin: StandinProcess, tmp_path: Path
) -> None:
    """gunicorn 27's default is ~/.gunicorn/gunicorn.ctl: one path for every instance a user
    runs on the machine, so a second broker would take over the first one's socket."""
    home = tmp_path / "home"
    home.mkdir()
    settings = mindset_settings(MINDSET_API_HOST=standin.url, HOME=str(home))
    with BrokerServer(settings, tmp_path, workers=1) as server:
        assert list(home.iterdir()) == []
    assert "Control socket" not in server.logs()


class RefusedServer(GunicornServer):
    """Ready when a worker has refused the configuration (it will never answer)."""

    def ready(self) -> None:
        self.wait_for_log(r"Worker \(pid:\d+\) exited with code 1")


def test_a_workers_start_up_refusal_is_a_json_line(tmp_path: Path) -> None:
    settings = mindset_settings(
        BROKER_USER_RESOLVER="tests.host_resolvers.not_in_workers:broker_user"
    )
    with RefusedServer(isolated_environment(settings, 1), tmp_path / "stderr") as server:
        pass
    entries = json_lines(server.logs())
    refusals = [e for e in entries if "broker configuration error" in str(e["msg"])]
    assert refusals, server.logs()
    assert refusals[0]["level"] == "error"
    assert "BROKER_USER_RESOLVER" in str(refusals[0]["msg"])


def test_the_masters_configuration_refusal_is_a_json_line(tmp_path: Path) -> None:
    settings = mindset_settings(BROKER_HEADER_TIMEOUT="soon")
    server = GunicornServer(isolated_environment(settings, 1), tmp_path / "stderr")
    with pytest.raises(RuntimeError):
        server.start()
    server.stop()
    entries = json_lines(server.logs())
    assert [e["level"] for e in entries] == ["error"]
    assert "BROKER_HEADER_TIMEOUT" in str(entries[0]["msg"])


def test_the_master_names_every_configuration_problem_in_one_line(tmp_path: Path) -> None:
    """An unreadable secret file, a bad value and an unimportable resolver: one line names
    each, once, so one attempt shows all there is to fix."""
    settings = {k: v for k, v in mindset_settings().items() if k != "MINDSET_API_KEY"}
    settings.update(
        MINDSET_API_KEY_FILE=str(tmp_path / "absent"),
        MINDSET_READ_TIMEOUT="soon",
        BROKER_USER_RESOLVER="no_such_module.auth:broker_user",
    )
    server = GunicornServer(isolated_environment(settings, 1), tmp_path / "stderr")
    with pytest.raises(RuntimeError):
        server.start()
    server.stop()
    [error] = [e for e in json_lines(server.logs()) if e["level"] == "error"]
    message = str(error["msg"])
    assert message.startswith("broker configuration error: 3 problems: (1) MINDSET_API_KEY_FILE ")
    assert "; (2) MINDSET_READ_TIMEOUT " in message
    assert "; (3) BROKER_USER_RESOLVER: cannot import module 'no_such_module.auth'" in message
    assert server.logs().count("MINDSET_API_KEY") == 1
    assert "Booting worker" not in server.logs()


def test_an_unimportable_resolver_is_refused_by_the_master_before_any_worker(
    tmp_path: Path,
) -> None:
    settings = mindset_settings(BROKER_USER_RESOLVER="no_such_module.auth:broker_user")
    server = GunicornServer(isolated_environment(settings, 1), tmp_path / "stderr")
    with pytest.raises(RuntimeError):
        server.start()
    server.stop()
    errors = [e for e in json_lines(server.logs()) if e["level"] == "error"]
    assert len(errors) == 1, server.logs()
    assert "broker configuration error" in str(errors[0]["msg"])
    assert "cannot import module 'no_such_module.auth'" in str(errors[0]["msg"])
    assert "Booting worker" not in server.logs()
