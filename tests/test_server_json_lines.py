"""The production server's own log lines as JSON (``serving/json_logs.py``), in-process.

gunicorn's lines, every other library's warnings and a start-up refusal must each be one JSON
object per line on stderr with the broker's fields (ts, level, logger, msg, pid), a traceback
inside the object; the logging configuration handed to gunicorn must route its error log at
the operator's level, keep its access log silent and leave other loggers working.

Careless changes these tests catch: a timestamp in local time, without milliseconds or with
them unpadded (lines no longer sort), a level in capitals, a traceback printed on lines of
its own (a collector splits the record), non-ASCII text escaped, gunicorn's lines printed
twice (propagated to the root handler too) or at the wrong level, gunicorn's access log
writing lines of its own, existing loggers (the broker's) disabled by the configuration, a
start-up refusal that exits 0 or prints plain text, and a worker whose app refuses to start
without a readable JSON line or with another exit code.
"""

from __future__ import annotations

import json
import logging
import logging.config
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from gunicorn.config import Config

from serving import json_logs
from serving.json_logs import BootRefusalAsLogLine, JsonLineFormatter, log_timestamp

LOGGERS = ("gunicorn.error", "gunicorn.access", "broker", "some.library")


@pytest.fixture
def restored_logging() -> Iterator[None]:
    """Applying a logging configuration changes the process's loggers: put them back."""
    root = logging.getLogger()
    saved_root = (root.level, list(root.handlers))
    saved = {
        name: (
            (logger := logging.getLogger(name)).level,
            list(logger.handlers),
            logger.propagate,
            logger.disabled,
        )
        for name in LOGGERS
    }
    try:
        yield
    finally:
        root.setLevel(saved_root[0])
        root.handlers[:] = saved_root[1]
        for name, (level, handlers, propagate, disabled) in saved.items():
            logger = logging.getLogger(name)
            logger.setLevel(level)
            logger.handlers[:] = handlers
            logger.propagate = propagate
            logger.disabled = disabled


def record(msg: str = "hello %s", *args: Any, **fields: Any) -> logging.LogRecord:
    made = logging.LogRecord("gunicorn.error", logging.WARNING, __file__, 1, msg, args, None)
    made.__dict__.update(fields)
    return made


def lines_of(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


@pytest.mark.parametrize(
    ("created", "msecs", "expected"),
    [
        (0.0, 0.0, "1970-01-01T00:00:00.000Z"),
        (0.005, 5.0, "1970-01-01T00:00:00.005Z"),
        (1_700_000_000.25, 250.9, "2023-11-14T22:13:20.250Z"),
        (1_700_003_599.999, 999.0, "2023-11-14T23:13:19.999Z"),
    ],
)
def test_timestamps_are_utc_with_three_digit_milliseconds(
    created: float, msecs: float, expected: str
) -> None:
    assert log_timestamp(created, msecs) == expected


def test_a_record_is_one_json_object_with_the_brokers_fields() -> None:
    made = record("Booting worker with pid: %s", 42, created=1_700_000_000.0, msecs=7.0)
    line = JsonLineFormatter().format(made)
    assert "\n" not in line
    assert json.loads(line) == {
        "ts": "2023-11-14T22:13:20.007Z",
        "level": "warning",
        "logger": "gunicorn.error",
        "msg": "Booting worker with pid: 42",
        "pid": made.process,
    }


def test_non_ascii_text_is_written_as_itself() -> None:
    line = JsonLineFormatter().format(record("utilisateur %s refusé", "Zoë"))
    assert "utilisateur Zoë refusé" in line
    assert json.loads(line)["msg"] == "utilisateur Zoë refusé"


def test_a_traceback_travels_inside_the_line() -> None:
    try:
        raise KeyError("missing")
    except KeyError:
        made = record("Worker failed", exc_info=sys.exc_info())
    line = JsonLineFormatter().format(made)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["msg"] == "Worker failed"
    assert entry["exc"].startswith("Traceback (most recent call last):")
    assert entry["exc"].endswith("KeyError: 'missing'")


def test_a_traceback_already_formatted_travels_inside_the_line() -> None:
    made = record("Worker failed", exc_text="Traceback: earlier")
    assert json.loads(JsonLineFormatter().format(made))["exc"] == "Traceback: earlier"


def test_a_line_without_a_traceback_has_no_exc_or_stack_field() -> None:
    entry = json.loads(JsonLineFormatter().format(record()))
    assert "exc" not in entry
    assert "stack" not in entry


def test_a_stack_travels_inside_the_line() -> None:
    made = record("where am I", stack_info="Stack (most recent call last):\n  here")
    entry = json.loads(JsonLineFormatter().format(made))
    assert entry["stack"] == "Stack (most recent call last):\n  here"
    assert "exc" not in entry


def configure(level: str, **settings: Any) -> json_logs.Logger:
    """gunicorn's logger set up as ``gunicorn.conf.py`` sets it up."""
    cfg = Config()
    cfg.set("logconfig_dict", json_logs.logconfig(level))
    cfg.set("loglevel", level)
    for name, value in settings.items():
        cfg.set(name, value)
    return json_logs.Logger(cfg)


def test_gunicorns_error_log_is_json_on_stderr_at_the_chosen_level(
    restored_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    configure("info")
    error_log = logging.getLogger("gunicorn.error")
    error_log.debug("not at info")
    error_log.info("Listening at: %s", "http://0.0.0.0:8000")
    captured = capsys.readouterr()
    assert captured.out == ""
    # One line only: gunicorn's lines do not also reach the root logger's handler.
    [entry] = lines_of(captured.err)
    assert (entry["level"], entry["logger"], entry["msg"]) == (
        "info",
        "gunicorn.error",
        "Listening at: http://0.0.0.0:8000",
    )


def test_the_level_may_be_given_in_any_case(
    restored_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    logging.getLogger("gunicorn.error").setLevel(logging.DEBUG)  # whatever it was before
    logging.config.dictConfig(json_logs.logconfig("Warning"))
    logging.getLogger("gunicorn.error").info("below warning")
    logging.getLogger("gunicorn.error").warning("Worker timeout")
    assert [entry["msg"] for entry in lines_of(capsys.readouterr().err)] == ["Worker timeout"]


def test_gunicorns_access_log_writes_nothing_by_default(
    restored_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    configure("debug")
    # gunicorn writes its access lines at info (and builds none: test_server_logger.py).
    logging.getLogger("gunicorn.access").info('127.0.0.1 "GET / HTTP/1.1" 200')
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == ("", "")


def test_an_operator_who_sets_accesslog_gets_gunicorns_access_lines(
    restored_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    logger = configure("info", accesslog="-")
    assert logger.access_log_enabled
    logging.getLogger("gunicorn.access").info('127.0.0.1 "GET / HTTP/1.1" 200')
    captured = capsys.readouterr()
    assert captured.out == '127.0.0.1 "GET / HTTP/1.1" 200\n'
    assert captured.err == ""


def test_other_libraries_warnings_are_json_and_their_chatter_is_not(
    restored_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    logging.getLogger().setLevel(logging.DEBUG)  # whatever the level was before
    configure("debug")
    logging.getLogger("some.library").info("chatter")
    logging.getLogger("some.library").warning("retrying")
    [entry] = lines_of(capsys.readouterr().err)
    assert (entry["level"], entry["logger"], entry["msg"]) == (
        "warning",
        "some.library",
        "retrying",
    )


def test_loggers_that_exist_before_the_configuration_keep_working(restored_logging: None) -> None:
    broker = logging.getLogger("broker")
    logging.config.dictConfig(json_logs.logconfig("info"))  # on its own, without gunicorn's
    assert not broker.disabled


def test_a_start_up_refusal_is_one_json_error_line_and_exit_code_1(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as stopped:
        json_logs.exit_with_error("broker configuration error: PORT must be a whole number")
    assert stopped.value.code == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    [entry] = lines_of(captured.err)
    assert (entry["level"], entry["logger"], entry["msg"]) == (
        "error",
        "broker.server",
        "broker configuration error: PORT must be a whole number",
    )


class _RecordingLog:
    def __init__(self) -> None:
        self.errors: list[str] = []

    def error(self, message: str) -> None:
        self.errors.append(message)


class _Loads:
    """A worker's own load_wsgi: fails as told."""

    failure: BaseException | None = None
    loaded = False

    def load_wsgi(self) -> None:
        if self.failure is not None:
            raise self.failure
        self.loaded = True


class _Worker(BootRefusalAsLogLine, _Loads):
    def __init__(self, failure: BaseException | None) -> None:
        self.failure = failure
        self.log = _RecordingLog()


def test_a_worker_whose_app_loads_starts_without_a_line() -> None:
    worker = _Worker(None)
    worker.load_wsgi()
    assert worker.loaded
    assert worker.log.errors == []


def test_an_apps_start_up_refusal_becomes_an_error_line_and_exit_code_1() -> None:
    worker = _Worker(SystemExit("BROKER_USER_RESOLVER: cannot import 'nope'"))
    with pytest.raises(SystemExit) as stopped:
        worker.load_wsgi()
    assert stopped.value.code == 1
    assert stopped.value.__suppress_context__
    assert worker.log.errors == ["BROKER_USER_RESOLVER: cannot import 'nope'"]


@pytest.mark.parametrize("code", [0, 3, None])
def test_an_exit_without_a_message_passes_through_unchanged(code: int | None) -> None:
    exit_ = SystemExit(code)
    worker = _Worker(exit_)
    with pytest.raises(SystemExit) as stopped:
        worker.load_wsgi()
    assert stopped.value is exit_
    assert worker.log.errors == []
