"""The ``broker.server`` logger's records in a test, whatever level the process's logging has."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager


class ServerLog(list[logging.LogRecord]):
    def only(self) -> logging.LogRecord:
        assert len(self) == 1, [record.getMessage() for record in self]
        return self[0]


class _Keep(logging.Handler):
    def __init__(self, sink: ServerLog) -> None:
        super().__init__(logging.DEBUG)
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        # A copy: the broker's own handlers, further up, may redact the record afterwards.
        self.sink.append(logging.makeLogRecord(dict(record.__dict__)))


@contextmanager
def captured_server_log() -> Iterator[ServerLog]:
    records = ServerLog()
    logger = logging.getLogger("broker.server")
    handler = _Keep(records)
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield records
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
