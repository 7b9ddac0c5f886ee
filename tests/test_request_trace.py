"""The path of one token request through the product, traced, so it stays short.

One sandbox token request (the second of the process, for a user with no token yet) is run
under ``sys.setprofile``. A product file is *entered* when a function in it is called from
anywhere but that same file (Flask calling a hook, one module calling another, a library
calling back); entering a file already entered is a *re-entry*. The built-in fake vendor
stands where Mindset would, so its files are not the product's path.

The bounds are what the path is today; the path's aim is 12 files and 6 re-entries. Lower
them as it gets shorter, never raise them: a failure lists every entry, in order, with its
caller.
"""

from __future__ import annotations

import logging
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
from flask import Flask

from . import fake_secrets
from .conftest import build_app, sign_in

ROOT = Path(__file__).resolve().parent.parent
PRODUCT = tuple(
    f"{ROOT / name}" for name in ("flask_token_broker/", "app/", "serving/", "config.py")
)
VENDOR = tuple(
    f"{ROOT / name}"
    for name in ("flask_token_broker/sandbox_vendor/", "flask_token_broker/mindset/sandbox.py")
)
MAX_FILES = 23
MAX_REENTRIES = 18

# (file entered, function, calling file, calling function)
Entry = tuple[str, str, str, str]


def _product(filename: str) -> bool:
    return filename.startswith(PRODUCT) and not filename.startswith(VENDOR)


def _short(filename: str) -> str:
    return str(Path(filename).relative_to(ROOT)) if filename else "-"


def traced(app: Flask, path: str, user: str) -> tuple[int, list[Entry]]:
    """The status of ``GET path`` for ``user`` and every product file entry it made, in order."""
    client = app.test_client()
    sign_in(client, user)
    entries: list[Entry] = []

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        if event != "call" or not _product(frame.f_code.co_filename):
            return
        caller = frame.f_back
        while caller is not None and not _product(caller.f_code.co_filename):
            caller = caller.f_back
        source = caller.f_code.co_filename if caller is not None else ""
        if source != frame.f_code.co_filename:
            entries.append(
                (
                    _short(frame.f_code.co_filename),
                    frame.f_code.co_name,
                    _short(source),
                    caller.f_code.co_name if caller is not None else "-",
                )
            )

    sys.setprofile(profile)
    try:
        status = client.get(path).status_code
    finally:
        sys.setprofile(None)
    return status, entries


@pytest.fixture
def production_logging() -> Iterator[None]:
    """Only the broker's own log handler, as in production: the tests' capture is set aside."""
    logger = logging.getLogger("broker")
    extra = [h for h in logger.handlers if not getattr(h, "_broker_handler", False)]
    for handler in extra:
        logger.removeHandler(handler)
    try:
        yield
    finally:
        for handler in extra:
            logger.addHandler(handler)


def test_a_token_request_enters_few_product_files_and_returns_to_few(
    production_logging: None,
) -> None:
    app = build_app({"SECRET_KEY": fake_secrets.SECRET_KEY})
    # The first request of a process builds what every later one reuses.
    warm_status, _ = traced(app, "/api/getusertoken", "ada")
    assert warm_status == 200
    status, entries = traced(app, "/api/getusertoken", "grace")
    assert status == 200
    files = Counter(entry[0] for entry in entries)
    reentries = sum(files.values()) - len(files)
    listing = "\n".join("  {} {}  <- {}:{}".format(*entry) for entry in entries)
    figures = f"{len(files)} product files (at most {MAX_FILES}), {reentries} re-entries"
    figures += f" (at most {MAX_REENTRIES})"
    assert len(files) <= MAX_FILES, f"a token request enters {figures}:\n{listing}"
    assert reentries <= MAX_REENTRIES, f"a token request enters {figures}:\n{listing}"
