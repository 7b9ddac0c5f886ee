"""Whether a host's resolver (``BROKER_USER_RESOLVER=package.module:function``) imports in a
fresh interpreter, as a server's workers will import it.

A server's master process runs this before any worker starts and before a reload replaces
them, without importing the host's code itself (:func:`check_resolver_imports`).
"""

from __future__ import annotations

import os
import subprocess  # nosec B404
import sys

from ..settings import ConfigError, Settings

# Run in a child interpreter by check_resolver_imports: the workers' own import of the callable.
_RESOLVER_IMPORT_CHECK = """
import sys
from flask_token_broker.settings import ConfigError
from flask_token_broker.users.custom import import_callable
try:
    import_callable(sys.argv[1])
except ConfigError as error:
    print(error)
    sys.exit(2)
except BaseException as error:
    module = sys.argv[1].partition(":")[0]
    print(f"BROKER_USER_RESOLVER: importing module {module!r} raised {type(error).__name__}; "
          f"import it by hand for the traceback: python -c 'import {module}'")
    sys.exit(3)
"""
# A module slower than this to import would also hold up every worker's start.
RESOLVER_IMPORT_CHECK_SECONDS = 60


def check_resolver_imports(settings: Settings) -> None:
    """A host's resolver (``BROKER_USER_RESOLVER=package.module:function``) imports as the
    workers will import it, or ConfigError saying why.

    The server's master checks it before any worker starts and before a reload replaces them:
    otherwise every new worker exits at boot and the master starts another in its place,
    without end (a reload was accepted into that loop). The import runs in a child
    interpreter because the master must not import the host's code: its import-time work
    would run before the fork, and every later worker would inherit the module as first
    imported, so a reload could never load a changed one.
    """
    # Set for a custom resolver only: the broker's own resolvers have nothing to import.
    path = settings.users.callable_path
    if path is None:
        return
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, sys.path))}
    # The check's metrics, if the import makes any, are no worker's: kept out of the server's.
    environment.pop("PROMETHEUS_MULTIPROC_DIR", None)
    try:
        # This interpreter, a fixed script and the checked path as an argument: no shell.
        done = subprocess.run(  # noqa: S603  # nosec B603
            [sys.executable, "-c", _RESOLVER_IMPORT_CHECK, path],
            env=environment,
            capture_output=True,
            text=True,
            timeout=RESOLVER_IMPORT_CHECK_SECONDS,
            # run's default, spelled out: the exit status is read below, never raised.
            check=False,  # pragma: no mutate
        )
    except subprocess.TimeoutExpired:
        raise ConfigError(
            f"BROKER_USER_RESOLVER: importing {path} took over "
            f"{RESOLVER_IMPORT_CHECK_SECONDS} s; does its module do work at import?"
        ) from None
    if done.returncode != 0:
        said = done.stdout.strip().splitlines()
        raise ConfigError(
            said[-1]
            if said and said[-1].startswith("BROKER_USER_RESOLVER")
            else f"BROKER_USER_RESOLVER: {path} could not be imported (exit {done.returncode})"
        )
