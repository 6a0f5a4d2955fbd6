"""Summaries of sweep rows for people: mean and standard error over seeds, as a table.

``cj-worker harness`` prints this; ``--json`` / ``--csv`` give the per-seed rows instead, so
that any other statistic can be computed from them.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from cj_worker.harness.sweep import SweepRow

SUMMARY_METRICS = (
    "spearman",
    "kendall",
    "reliability",
    "true_reliability",
    "coverage",
    "ssr",
    "split_half",
    "rmse",
)
"""``reliability`` is the headline figure the engine reports; ``ssr`` and ``split_half``
are the secondary ones (both inflated by adaptive pairing, SPEC section 7)."""


@dataclass(frozen=True)
class SummaryRow:
    n: int
    judges: str
    policy: str
    k: float
    seeds: int
    mean: dict[str, float]
    """Mean over seeds of each metric (NaN where never measured)."""
    se: dict[str, float]
    """Standard error of that mean over seeds."""


def summarise(rows: Iterable[SweepRow]) -> list[SummaryRow]:
    """One row per (n, judges, policy, K), ordered for reading."""
    groups: dict[tuple[int, str, str, float], list[SweepRow]] = defaultdict(list)
    for row in rows:
        groups[(row.n, row.judges, row.policy, row.k)].append(row)
    summary = []
    for (n, judges, policy, k), members in sorted(groups.items()):
        mean: dict[str, float] = {}
        se: dict[str, float] = {}
        for metric in SUMMARY_METRICS:
            values = np.array([m.metrics.get(metric, math.nan) for m in members], dtype=float)
            values = values[np.isfinite(values)]
            mean[metric] = float(values.mean()) if values.size else math.nan
            se[metric] = (
                float(values.std(ddof=1) / math.sqrt(values.size)) if values.size > 1 else math.nan
            )
        summary.append(SummaryRow(n, judges, policy, k, len(members), mean, se))
    return summary


def format_table(summary: Sequence[SummaryRow], metrics: Sequence[str] = SUMMARY_METRICS) -> str:
    """A fixed-width table: mean +- SE per metric; '-' where a metric was not measured."""
    header = f"{'n':>6} {'judges':<8} {'policy':<12} {'K':>5} {'seeds':>5}" + "".join(
        f" {metric:>17}" for metric in metrics
    )
    lines = [header, "-" * len(header)]
    for row in summary:
        cells = "".join(f" {_cell(row.mean[m], row.se[m]):>17}" for m in metrics)
        lines.append(
            f"{row.n:>6} {row.judges:<8} {row.policy:<12} {row.k:>5g} {row.seeds:>5}{cells}"
        )
    return "\n".join(lines)


def _cell(mean: float, se: float) -> str:
    if math.isnan(mean):
        return "-"
    return f"{mean:.3f}" if math.isnan(se) else f"{mean:.3f}+-{se:.3f}"
