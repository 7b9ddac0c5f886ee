"""Secrets given as files: ``NAME_FILE``, the path of a file holding the secret.

The container and orchestrator convention (``/run/secrets/...``): every setting declared
``secret=True`` gets its ``_FILE`` form, and a file is read again each time settings are
loaded, so a reload picks up a rotated secret.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Mapping
from typing import Any

from .table import DECLARED, FILE_SUFFIX, ConfigError, _given

# A secret is a key or a token: a file beyond this holds something else.
MAX_SECRET_FILE_BYTES = 64 * 1024


def read_secret_file(name: str, path: str) -> str:
    """The content of secret ``name``'s file, less one trailing newline (as ``echo`` or an
    editor leaves it). The error names ``NAME_FILE``, the path and the problem, never content.

    Only a regular file of at most :data:`MAX_SECRET_FILE_BYTES` is read, and opening never
    waits: a FIFO (or a device) named by mistake must not hold start-up, ``config check`` or
    the master's reload until something writes to it.
    """
    variable = name + FILE_SUFFIX
    try:
        data = _read_regular_file(path, variable)
    except OSError as error:
        problem = error.strerror or type(error).__name__
        raise ConfigError(f"{variable} cannot be read: {problem}: {path}") from None
    try:
        content = data.decode("utf-8")
    except UnicodeDecodeError:
        # The decoder's message quotes bytes of the secret: keep only the path.
        raise ConfigError(f"{variable} is not UTF-8 text: {path}") from None
    for newline in ("\r\n", "\n"):
        if content.endswith(newline):
            content = content[: -len(newline)]
            break
    if not content.strip():
        raise ConfigError(f"{variable} names an empty file: put the {name} in {path}")
    return content


def _read_regular_file(path: str, variable: str) -> bytes:
    # O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer.
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
    try:
        mode = os.fstat(descriptor).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR))
        if not stat.S_ISREG(mode):
            raise ConfigError(
                f"{variable} is not a regular file (a FIFO, socket or device): name the file "
                f"that holds the secret: {path}"
            )
        chunks: list[bytes] = []
        size = 0
        while chunk := os.read(descriptor, MAX_SECRET_FILE_BYTES + 1 - size):
            chunks.append(chunk)
            size += len(chunk)
            if size > MAX_SECRET_FILE_BYTES:
                raise ConfigError(
                    f"{variable} names a file over {MAX_SECRET_FILE_BYTES // 1024} KiB, which "
                    f"holds no single secret: {path}"
                )
        return b"".join(chunks)
    finally:
        os.close(descriptor)


def secret_sources(source: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """Where each secret that is set comes from, without its value (for ``config check``)."""
    found: dict[str, dict[str, str]] = {}
    for name, setting in DECLARED.items():
        if not setting.secret:
            continue
        path = source.get(name + FILE_SUFFIX)
        if _given(path):
            found[name] = {"from": "file", "variable": name + FILE_SUFFIX, "path": str(path)}
        elif _given(source.get(name)):
            found[name] = {"from": "env", "variable": name}
    return found


def with_secret_files_read(source: Mapping[str, Any]) -> dict[str, Any]:
    """``source`` with each secret's ``NAME_FILE`` replaced by its content, given as ``NAME``.

    A server's master reads the files once, checks the result and hands exactly that to the
    workers it forks, so a file changed later (a rotation half done, a typo) reaches no worker
    until a reload has checked it. A secret given both ways is left for reading to refuse.
    """
    resolved = dict(source)
    for name, setting in DECLARED.items():
        path = source.get(name + FILE_SUFFIX)
        if not setting.secret or not _given(path) or _given(source.get(name)):
            continue
        resolved[name] = read_secret_file(name, str(path).strip())
        del resolved[name + FILE_SUFFIX]
    return resolved
