"""A host resolver whose module imports in a plain interpreter but not inside a server worker,
as a module can when it needs something the worker's environment lacks or has patched: the
master's start-up check imports it, and each worker then refuses to boot."""

from __future__ import annotations

import sys

if "gunicorn.workers.base" in sys.modules:
    raise ImportError("this resolver's module cannot be imported inside a server worker")


def broker_user() -> None:
    return None
