"""The code blocks of the README and the docs pages, and shell transcripts read from them.

A transcript is a ``sh`` block written as a terminal session: commands, each followed by the
output it prints as ``# `` lines. A ``#`` line after a blank line (or first in the block) is
prose for the reader, not output::

    make run   # in one shell

    # in another: sign in as a demo user
    curl -c jar -d external_id=ada localhost:5000/demo/login
    # {"signedIn":{"email":null,"id":"ada","name":null}}

In expected output, ``…`` and ``...`` stand for any text, and a line that is only one of them
for any lines; text after four spaces and a parenthesis is a remark, not output.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = (ROOT / "README.md", *sorted((ROOT / "docs").glob("**/*.md")))
_FENCE = re.compile(r"^( *)```(\S*)(\s.*)?$")
_REMARK = re.compile(r"\s{4,}\(.*\)$")
_ANY = re.compile(r"…|\.\.\.")


@dataclass(frozen=True)
class Block:
    """One fenced block: where it is, its language and its text (indentation removed)."""

    path: Path
    line: int
    language: str
    text: str

    @property
    def name(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"

    @property
    def first_line(self) -> str:
        return self.text.split("\n", 1)[0]


@dataclass
class Step:
    """One command of a transcript and the output lines it is shown with."""

    command: str
    expected: list[str] = field(default_factory=list)


def documents() -> list[Path]:
    return [path for path in DOCUMENTS if "_build" not in path.parts]


def blocks(paths: list[Path] | None = None) -> list[Block]:
    """Every fenced block of ``paths`` (the README and docs pages by default)."""
    found: list[Block] = []
    for path in paths or documents():
        lines = path.read_text().splitlines()
        start: tuple[int, int, str] | None = None
        body: list[str] = []
        for number, line in enumerate(lines, 1):
            fence = _FENCE.match(line)
            if start is None and fence:
                start, body = (number, len(fence.group(1)), fence.group(2)), []
            elif start is not None and fence and not fence.group(2) and not fence.group(3):
                found.append(Block(path, start[0], start[2], "\n".join(body) + "\n"))
                start = None
            elif start is not None:
                body.append(line[start[1] :])
    return found


def transcript(text: str) -> list[Step]:
    """The commands of a ``sh`` block with their expected output; continuation lines joined."""
    steps: list[Step] = []
    pending = ""
    after_command = False
    for line in text.splitlines():
        if pending:
            pending += "\n" + line
            if not line.endswith("\\"):
                steps.append(Step(pending))
                pending = ""
            continue
        if not line.strip() or (line.lstrip().startswith("#") and not line.startswith("#")):
            # A blank line ends a command's output; an indented comment is a remark.
            after_command = False
        elif line.startswith("#"):
            if after_command:
                steps[-1].expected.append(line[1:].strip())
        elif line.endswith("\\"):
            pending = line
            after_command = True
        else:
            steps.append(Step(line))
            after_command = True
    return steps


def settings_listing(text: str) -> list[str] | None:
    """The names of a block that only sets variables (``NAME=value  # comment``), else None."""
    names = [re.match(r"^([A-Z][A-Z0-9_]*)=", line) for line in text.splitlines() if line]
    if not names or not all(names):
        return None
    return [match.group(1) for match in names if match]


def output_matches(expected: list[str], output: str) -> str | None:
    """None if ``output`` shows every expected line in order, else the first line it lacks."""
    lines = output.splitlines()
    position = 0
    for wanted in expected:
        wanted = _REMARK.sub("", wanted).strip()
        if not wanted or _ANY.fullmatch(wanted):
            continue
        pattern = re.compile(".*?".join(re.escape(part) for part in _ANY.split(wanted)) + r"\Z")
        for index in range(position, len(lines)):
            if pattern.match(lines[index].strip()):
                position = index + 1
                break
        else:
            return wanted
    return None
