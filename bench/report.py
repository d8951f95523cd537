"""Benchmark results: one row per figure, printed as a table and kept as JSON."""

import json
import math
import operator
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

_COMPARE: dict[str, Callable[[float, float], bool]] = {"<=": operator.le, ">=": operator.ge}
_SYMBOL = {"<=": "≤", ">=": "≥"}


@dataclass(frozen=True)
class Target:
    """What a figure must reach: at most (``<=``) or at least (``>=``) ``value``."""

    op: str
    value: float
    source: str = "bench/README.md"

    def met_by(self, figure: float) -> bool:
        return _COMPARE[self.op](figure, self.value)

    def __str__(self) -> str:
        return f"{_SYMBOL[self.op]} {format_figure(self.value)}"


@dataclass(frozen=True)
class Result:
    """One measured figure; ``note`` carries what qualifies it (a p99, a sample count)."""

    name: str
    figure: float
    unit: str
    target: Target | None = None
    note: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool | None:
        return None if self.target is None else self.target.met_by(self.figure)

    def as_json(self) -> dict[str, Any]:
        target = None if self.target is None else asdict(self.target)
        return {**asdict(self), "target": target, "passed": self.passed}


def percentile(samples: Sequence[float], pct: float) -> float:
    """The ``pct``-th percentile (0-100), interpolating linearly between the closest ranks."""
    ordered = sorted(samples)
    rank = (len(ordered) - 1) * pct / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def format_figure(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}" if value >= 1 else f"{value:.2g}"


def table(results: Sequence[Result]) -> str:
    """The results as an aligned plain-text table."""
    header = ("benchmark", "figure", "unit", "target", "pass", "note")
    rows = [header] + [
        (
            r.name,
            format_figure(r.figure),
            r.unit,
            "" if r.target is None else str(r.target),
            {True: "PASS", False: "FAIL", None: "-"}[r.passed],
            r.note,
        )
        for r in results
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    right = {1}
    lines = [
        "  ".join(
            cell.rjust(width) if i in right else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def write_json(path: Path, results: Sequence[Result], context: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {**context, "results": [r.as_json() for r in results]}
    path.write_text(json.dumps(document, indent=2, default=str) + "\n")
