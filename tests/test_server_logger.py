"""The production server's logger: gunicorn's own lines as JSON, and no access log of its own."""

from __future__ import annotations

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
