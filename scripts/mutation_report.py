"""Summarise a ``mutmut run``: the score of each security-critical module, and its survivors.

mutmut keeps each mutant's verdict in ``mutants/<path>.meta`` (the test run's exit code by
mutant name). This prints one row per module (killed / checked, the score) and every
survivor's name, so ``mutmut show <name>`` explains it. The exit status is 1 when any mutant
survived or was not checked, so ``make mutation`` fails until each one is killed by a test
or marked ``# pragma: no mutate`` with the reason beside it.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

# mutmut's exit-code meanings (mutmut.stats.status_by_exit_code): 1 and 3 are kills; a timeout
# also means the mutant changed behaviour (it hung where the original answered).
KILLED = {1, 3, 24, -24, 36, 152, 255}
SURVIVED = 0


def survivors(root: Path = Path("mutants")) -> list[str]:
    """The mutants not killed by their last verdict: survived, not yet tested, or without a
    test (a test written since may cover them), so that running them by name settles them."""
    names: list[str] = []
    for meta in sorted(root.rglob("*.py.meta")):
        verdicts = json.loads(meta.read_text())["exit_code_by_key"]
        names.extend(name for name, code in verdicts.items() if code not in KILLED)
    return names


def main(root: Path = Path("mutants")) -> int:
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    not_killed: list[str] = []
    for meta in sorted(root.rglob("*.py.meta")):
        module = meta.relative_to(root).as_posix().removesuffix(".meta")
        verdicts = json.loads(meta.read_text())["exit_code_by_key"]
        for name, code in verdicts.items():
            row = counts[module]
            row["total"] += 1
            if code in KILLED:
                row["killed"] += 1
            elif code == SURVIVED:
                row["survived"] += 1
                not_killed.append(name)
            else:
                row["other"] += 1
                not_killed.append(f"{name} (mutmut exit code {code})")
    if not counts:
        print("no mutmut results under mutants/: run `mutmut run` first", file=sys.stderr)
        return 2
    print(f"{'module':40} {'killed':>7} {'survived':>9} {'other':>6} {'score':>7}")
    for module, row in counts.items():
        checked = row["killed"] + row["survived"]
        score = 100 * row["killed"] / checked if checked else 100.0
        print(
            f"{module:40} {row['killed']:>7} {row['survived']:>9} {row['other']:>6} {score:>6.1f}%"
        )
    for name in not_killed:
        print(f"not killed: {name}")
    return 1 if not_killed else 0


if __name__ == "__main__":
    if sys.argv[1:] == ["--survivors"]:
        # mutmut keeps a verdict until the mutated function changes: `make mutation` passes
        # these names to `mutmut run` again, so a test added since gets its chance to kill them.
        print("\n".join(survivors()))
        sys.exit(0)
    sys.exit(main())
