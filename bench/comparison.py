"""What ``make bench`` prints: the broker beside the two references, the issue's targets,
and, over repeated runs, the spread of each ratio.

A ratio is the broker's requests per second over a reference's, measured in the same run,
against the same stand-in and the same wrk load: > 1 means the broker served more.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

REFERENCES = ("express", "aiohttp")
TITLES = {"express": "Express", "aiohttp": "aiohttp"}


@dataclass
class Measurement:
    """One target (the broker or a reference) under one scenario's load."""

    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    requests: int
    vendor_calls: int
    vendor_calls_total: int
    peak_rss_mb: float
    # CPU (user + system, all its processes) per answered request: unlike req/s, it hardly
    # changes when other work shares the machine.
    cpu_ms_per_request: float
    # The vendor call's share of that CPU (bench/cpu_split.py), in the rows that measure it.
    vendor_call_cpu_share: float | None = None

    @property
    def vendor_share(self) -> float:
        """Vendor calls in the measured window, as a percentage of requests."""
        return 100 * self.vendor_calls / self.requests if self.requests else 0.0


@dataclass
class Row:
    scenario: str
    broker: Measurement
    ceiling: float | None
    references: dict[str, Measurement] = field(default_factory=dict)

    def ratio(self, reference: str) -> float | None:
        other = self.references.get(reference)
        if other is None or other.rps <= 0:
            return None
        return round(self.broker.rps / other.rps, 2)

    def as_json(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "ceiling": self.ceiling,
            "broker": asdict(self.broker),
            "references": {name: asdict(m) for name, m in self.references.items()},
            "ratios": {name: self.ratio(name) for name in self.references},
        }


@dataclass(frozen=True)
class Target:
    """One of the issue's targets: ``measure(row)`` compared with ``limit``."""

    scenario: str  # "*": every row
    what: str
    measure: Callable[[Row], float | None]
    limit: float
    at_least: bool

    @property
    def wording(self) -> str:
        return f"{self.what} {'>=' if self.at_least else '<='} {self.limit:g}"

    def met(self, value: float) -> bool:
        return value >= self.limit if self.at_least else value <= self.limit


def _p99_over_p50(row: Row) -> float | None:
    return round(row.broker.p99_ms / row.broker.p50_ms, 2) if row.broker.p50_ms else None


TARGETS = [
    Target("hot-user", "x aiohttp", lambda r: r.ratio("aiohttp"), 1.0, True),
    Target("hot-user", "vendor calls %", lambda r: round(r.broker.vendor_share, 2), 2.0, False),
    Target("jwt-reuse", "x aiohttp", lambda r: r.ratio("aiohttp"), 1.5, True),
    Target("jwt-reuse", "CPU ms/req", lambda r: r.broker.cpu_ms_per_request, 0.6, False),
    Target("latency", "x Express", lambda r: r.ratio("express"), 1.0, True),
    Target("latency", "errors", lambda r: r.broker.errors, 0, False),
    Target("latency", "p99 / p50", _p99_over_p50, 2.5, False),
    Target("instant", "x Express", lambda r: r.ratio("express"), 2.0, True),
    Target("*", "peak RSS MB", lambda r: r.broker.peak_rss_mb, 250, False),
]


def check_targets(rows: list[Row]) -> list[dict[str, Any]]:
    """Each target on each row it concerns; ``met`` is None where it could not be measured
    (the reference was not run)."""
    checks = []
    for row in rows:
        for target in TARGETS:
            if target.scenario not in ("*", row.scenario):
                continue
            value = target.measure(row)
            checks.append(
                {
                    "scenario": row.scenario,
                    "target": target.wording,
                    "value": value,
                    "met": None if value is None else target.met(value),
                }
            )
    return checks


def _number(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}f}"


def table(rows: list[Row]) -> str:
    head = (
        "| scenario | broker req/s | p50 ms | p99 ms | errors | vendor calls % | peak RSS MB "
        "| CPU ms/req | Express req/s | aiohttp req/s | x Express | x aiohttp |"
    )
    lines = [head, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        b = row.broker
        refs = [row.references.get(name) for name in REFERENCES]
        rates = [_number(m.rps if m else None) for m in refs]
        ratios = [_number(row.ratio(name), 2) for name in REFERENCES]
        lines.append(
            f"| {row.scenario} | {b.rps:.0f} | {b.p50_ms} | {b.p99_ms} | {b.errors} "
            f"| {b.vendor_share:.2f} | {b.peak_rss_mb} | {b.cpu_ms_per_request} "
            f"| {' | '.join(rates)} | {' | '.join(ratios)} |"
        )
    return "\n".join(lines)


def references_table(rows: list[Row]) -> str:
    """The references' own figures, to read the ratios with (a reference's errors or p99)."""
    head = (
        "| scenario | reference | req/s | p50 ms | p99 ms | errors | vendor calls % "
        "| peak RSS MB | CPU ms/req |"
    )
    lines = [head, "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        for name, m in row.references.items():
            lines.append(
                f"| {row.scenario} | {TITLES[name]} | {m.rps:.0f} | {m.p50_ms} | {m.p99_ms} "
                f"| {m.errors} | {m.vendor_share:.2f} | {m.peak_rss_mb} "
                f"| {m.cpu_ms_per_request} |"
            )
    return "\n".join(lines)


def targets_report(checks: list[dict[str, Any]]) -> str:
    lines = ["targets (issue 10, broker vs the references of this run):"]
    for check in checks:
        verdict = {True: "met", False: "MISSED", None: "not measured"}[check["met"]]
        value = "-" if check["value"] is None else f"{check['value']:g}"
        lines.append(f"  {check['scenario']:<10} {check['target']:<24} {value:>8}  {verdict}")
    return "\n".join(lines)


def spread(runs: list[list[Row]]) -> list[dict[str, Any]]:
    """Per scenario, the lowest and highest broker req/s and ratio over the runs."""
    result = []
    for name in dict.fromkeys(row.scenario for rows in runs for row in rows):
        rows = [row for run in runs for row in run if row.scenario == name]
        entry: dict[str, Any] = {"scenario": name, "runs": len(rows)}
        entry["broker_rps"] = _range([row.broker.rps for row in rows])
        for ref in REFERENCES:
            entry[f"x_{ref}"] = _range([row.ratio(ref) for row in rows])
        result.append(entry)
    return result


def _range(values: list[float | None]) -> list[float] | None:
    known = [v for v in values if v is not None]
    return [min(known), max(known)] if known else None


def spread_table(entries: list[dict[str, Any]]) -> str:
    def shown(pair: list[float] | None, digits: int) -> str:
        return "-" if pair is None else f"{pair[0]:.{digits}f}-{pair[1]:.{digits}f}"

    lines = [
        "| scenario | runs | broker req/s | x Express | x aiohttp |",
        "|---|---:|---:|---:|---:|",
    ]
    for e in entries:
        lines.append(
            f"| {e['scenario']} | {e['runs']} | {shown(e['broker_rps'], 0)} "
            f"| {shown(e['x_express'], 2)} | {shown(e['x_aiohttp'], 2)} |"
        )
    return "\n".join(lines)


def targets_over_runs(all_checks: list[list[dict[str, Any]]]) -> str:
    """How many of the runs met each target."""
    counts: dict[tuple[str, str], list[int]] = {}
    for checks in all_checks:
        for check in checks:
            met, measured = counts.setdefault((check["scenario"], check["target"]), [0, 0])
            counts[(check["scenario"], check["target"])] = [
                met + (check["met"] is True),
                measured + (check["met"] is not None),
            ]
    lines = ["targets over the runs:"]
    for (scenario, target), (met, measured) in counts.items():
        lines.append(f"  {scenario:<10} {target:<24} met in {met} of {measured} runs")
    return "\n".join(lines)
