"""A batch's results as a picture: scores with 95 % intervals, anchors, grade boundaries.

One point per essay in rank order (best on the left), its 95 % interval (score -+ 1.96 SE)
as a vertical bar; anchors are drawn as diamonds labelled with their known grade; the
calibrated grade boundaries are horizontal lines with each grade's label in its band.
Reading it: an essay whose bar crosses a boundary is the one whose grade probabilities
are split.

matplotlib is an optional dependency (the ``plot`` extra), imported when a plot is drawn,
so ``cj-worker export`` works without it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cj_worker.db.repositories.reports import BatchResults


class PlottingUnavailableError(RuntimeError):
    """matplotlib is not installed."""


def plot_results(results: BatchResults, path: str | Path, *, dpi: int = 120) -> Path:
    """Save the picture of ``results`` as a PNG at ``path``; returns the path written."""
    if not results.essays:
        raise ValueError("the batch has no results to plot")
    pyplot = _pyplot()
    essays = results.essays
    ranks = [essay.rank for essay in essays]
    scores = [essay.score for essay in essays]
    lows, highs = zip(*(essay.interval_95 for essay in essays), strict=True)
    figure, axis = pyplot.subplots(figsize=(max(6.0, min(0.12 * len(essays), 24.0)), 5.0))
    axis.errorbar(
        ranks,
        scores,
        yerr=[
            [s - low for s, low in zip(scores, lows, strict=True)],
            [high - s for s, high in zip(scores, highs, strict=True)],
        ],
        fmt="o",
        markersize=3,
        color="tab:blue",
        ecolor="lightsteelblue",
        elinewidth=1,
        label="essay (95 % interval)",
    )
    anchors = [essay for essay in essays if essay.is_anchor]
    if anchors:
        axis.scatter(
            [a.rank for a in anchors],
            [a.score for a in anchors],
            marker="D",
            s=36,
            color="tab:red",
            zorder=3,
            label="anchor (known grade)",
        )
        for anchor in anchors:
            axis.annotate(
                anchor.grade or "",
                (anchor.rank, anchor.score),
                textcoords="offset points",
                xytext=(4, 4),
                fontsize="x-small",
                color="tab:red",
            )
    _draw_grades(axis, results, min(lows), max(highs))
    axis.set_xlabel("rank (1 = best)")
    axis.set_ylabel("score (logits)")
    axis.set_title(
        f"batch {results.status.batch_id} ({len(essays)} essays, "
        f"{results.status.submitted} comparisons)",
        fontsize="small",
    )
    axis.grid(alpha=0.3)
    axis.legend(fontsize="small", loc="upper right")
    figure.tight_layout()
    target = Path(path)
    figure.savefig(target, dpi=dpi)
    pyplot.close(figure)
    return target


def _draw_grades(axis: Any, results: BatchResults, low: float, high: float) -> None:
    """Boundaries as dashed lines, each grade's label at the right of its band."""
    boundaries = results.boundaries
    if not boundaries:
        return
    grades = [str(g) for g in results.grade_scale["grades"]]
    for boundary in boundaries:
        axis.axhline(boundary, color="grey", linestyle="--", linewidth=0.8)
    edges = [min(low, boundaries[0]) - 0.5, *boundaries, max(high, boundaries[-1]) + 0.5]
    for grade, bottom, top in zip(grades, edges[:-1], edges[1:], strict=True):
        if top > low and bottom < high:  # only the bands the essays reach
            middle = (max(bottom, low) + min(top, high)) / 2.0
            axis.text(
                1.01,
                middle,
                grade,
                transform=axis.get_yaxis_transform(),
                fontsize="small",
                color="dimgrey",
                va="center",
                clip_on=False,
            )


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as pyplot
    except ImportError as error:  # depends on the environment; the CLI test fakes it
        raise PlottingUnavailableError(
            "--plot needs matplotlib: pip install 'cj-worker[plot]'"
        ) from error
    return pyplot
