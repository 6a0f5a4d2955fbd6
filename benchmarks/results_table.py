"""The result table every benchmark script prints: one row per measurement, with its target
and a PASS/MISS verdict where the target applies to the run's sizes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Row:
    """One line of the result table."""

    section: str
    case: str
    measured: str
    target: str = ""
    status: str = ""


def verdict(ok: bool, applies: bool) -> str:
    """PASS/MISS where a target applies to this run's sizes, else ``n/a``."""
    if not applies:
        return "n/a"
    return "PASS" if ok else "MISS"


def render(rows: Sequence[Row]) -> str:
    """A fixed-width table; one line per measurement."""
    header = Row("sec", "case", "measured", "target", "status")
    names = ("section", "case", "measured", "target", "status")
    widths = [max(len(getattr(row, name)) for row in (header, *rows)) for name in names]

    def line(row: Row) -> str:
        cells = (getattr(row, name) for name in names)
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    rule = "  ".join("-" * width for width in widths)
    return "\n".join([line(header), rule, *(line(row) for row in rows)])
