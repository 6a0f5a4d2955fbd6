"""Accuracy and reliability against comparisons per essay, one line per pairing policy.

matplotlib is an optional dependency (the ``plot`` extra): it is imported inside the
function, so the harness works without it and only plotting asks for it.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from cj_worker.core.plotting import PlottingUnavailableError, require_matplotlib
from cj_worker.harness.analysis import mean_metric
from cj_worker.harness.sweep import SweepRow

__all__ = ["PlottingUnavailableError", "plot_curves"]


def plot_curves(rows: Iterable[SweepRow], path: str | Path, *, dpi: int = 120) -> Path:
    """Save a PNG: per (n, judges), Spearman and reliability (true, split-half) vs K.

    Split-half points are drawn only where they were measured (``split_half_at``).
    Returns the path written.
    """
    pyplot = require_matplotlib("plotting")
    rows = list(rows)
    groups = sorted({(r.n, r.judges) for r in rows})
    if not groups:
        raise ValueError("no rows to plot")
    spearman = mean_metric(rows, "spearman")
    true_rel = mean_metric(rows, "true_reliability")
    split_half = mean_metric(rows, "split_half")
    policies = sorted({r.policy for r in rows})
    figure, axes = pyplot.subplots(len(groups), 2, figsize=(11, 3.6 * len(groups)), squeeze=False)
    colours = pyplot.rcParams["axes.prop_cycle"].by_key()["color"]
    for row_axes, (n, judges) in zip(axes, groups, strict=True):
        accuracy_axis, reliability_axis = row_axes
        for index, policy in enumerate(policies):
            colour = colours[index % len(colours)]
            _line(accuracy_axis, spearman, n, judges, policy, colour, "-", "o", policy)
            _line(reliability_axis, true_rel, n, judges, policy, colour, "-", "o", f"{policy} true")
            _line(
                reliability_axis,
                split_half,
                n,
                judges,
                policy,
                colour,
                "--",
                "s",
                f"{policy} split-half",
            )
        accuracy_axis.set_title(f"n={n}, judges={judges}: Spearman with truth")
        reliability_axis.set_title(f"n={n}, judges={judges}: reliability")
        for axis in row_axes:
            axis.set_xlabel("comparisons per essay K")
            axis.grid(alpha=0.3)
            axis.legend(fontsize="small")
        accuracy_axis.axhline(0.90, color="grey", linewidth=0.8, linestyle=":")
        reliability_axis.axhline(0.80, color="grey", linewidth=0.8, linestyle=":")
    figure.tight_layout()
    target = Path(path)
    figure.savefig(target, dpi=dpi)
    pyplot.close(figure)
    return target


def _line(
    axis: Any,
    values: dict[tuple[int, str, str, float], float],
    n: int,
    judges: str,
    policy: str,
    colour: str,
    style: str,
    marker: str,
    label: str,
) -> None:
    points = sorted(
        (k, v) for (n_, j, p, k), v in values.items() if (n_, j, p) == (n, judges, policy)
    )
    if points:
        xs, ys = zip(*points, strict=True)
        axis.plot(xs, ys, linestyle=style, marker=marker, markersize=3, color=colour, label=label)
