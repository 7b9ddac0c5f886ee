"""The production server's logger: gunicorn's own lines as JSON, and no access log of its own."""

from __future__ import annotations

import json
import logging

import pytest
from gunicorn.config import Config

from serving import json_logs


def server_logger(**settings: object) -> json_logs.Logger:
    cfg = Config()
    cfg.set("logconfig_dict", json_logs.logconfig("info"))
    for name, value in settings.items():
        cfg.set(name, value)
    return json_logs.Logger(cfg)


def test_gunicorn_builds_no_access_line_when_the_broker_writes_its_own() -> None:
    logger = server_logger()
    assert not logger.access_log_enabled
    # Nothing is built or written: access() returns before reading anything of the request.
    logger.access(object(), object(), {}, 0.0)


def test_an_operator_who_sets_accesslog_gets_gunicorns_line_too() -> None:
    assert server_logger(accesslog="-").access_log_enabled


def test_each_server_line_is_written_once_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    root, server = logging.getLogger(), logging.getLogger("gunicorn.error")
    # The logger's dictConfig replaces the process's logging: put it back for later tests.
    kept = [(each, each.handlers[:], each.level, each.propagate) for each in (root, server)]
    try:
        logger = server_logger()
        logger.info("Booting worker with pid: %s", 4242)
        logger.warning("Worker with pid %s was terminated", 4242)
        lines = capsys.readouterr().err.splitlines()
    finally:
        for each, handlers, level, propagate in kept:
            each.handlers[:] = handlers
            each.setLevel(level)
            each.propagate = propagate
    # Not twice: gunicorn's lines do not also reach the root logger's console.
    assert [json.loads(line)["msg"] for line in lines] == [
        "Booting worker with pid: 4242",
        "Worker with pid 4242 was terminated",
    ]


def test_what_is_logged_before_gunicorn_configures_logging_is_json(
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = logging.getLogger()
    kept = (root.handlers[:], root.level)
    try:
        json_logs.log_json_from_the_first_line()
        # As python-dotenv warns while gunicorn reads its config file.
        logging.getLogger("dotenv.main").warning("could not parse statement starting at line 3")
        logging.getLogger("dotenv.main").info("not shown: below warning")
        lines = capsys.readouterr().err.splitlines()
    finally:
        root.handlers[:], level = kept
        root.setLevel(level)
    [line] = lines
    record = json.loads(line)
    assert record["level"] == "warning"
    assert record["logger"] == "dotenv.main"
    assert record["msg"] == "could not parse statement starting at line 3"
