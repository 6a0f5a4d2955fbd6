"""A batch's results as a picture a teacher can read: a ranked dot plot over the grade bands.

One row per essay, best at the top, labelled ``rank. id``; the dot is its score, the line
its 95 % interval (score -+ 1.96 SE), both in the colour of its grade (the palette of
:mod:`cj_worker.report.palette`, the same as the HTML report's). Anchors are diamonds with a
black edge, and a red ring marks an anchor the judges placed in another grade's band (the
report says so in a sentence). The grade bands are shaded behind the rows, hatched for a
grade without anchors (interpolated), with the grade names along the top. A hollow dot is
an essay whose grade is less than 50 % likely. A caption under the plot says all this.

Why this layout: the first version drew ranks on the x axis, so 200 essays made a
2,880 px wide figure with no room for names. Rows grow downwards instead, and the figure
is capped at ``MAX_SIDE_PX`` on each side: once rows get thinner than a line of text only
every few essays is labelled (anchors first), and the caption says which.

matplotlib is an optional dependency (the ``plot`` extra), imported when a plot is drawn,
so ``cj-worker export`` works without it.
"""

from __future__ import annotations

import io
import math
import re
import textwrap
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cj_worker.core.plotting import PlottingUnavailableError, require_matplotlib
from cj_worker.db.repositories.reports import BatchResults
from cj_worker.report.model import ReportData, ReportEssay, report_data
from cj_worker.report.palette import NO_GRADE_COLOUR, grade_colours
from cj_worker.report.wording import (
    anchor_outside_band,
    headline_reliability,
    interpolated_grades,
    reliability_words,
)

__all__ = ["PlottingUnavailableError", "draw_results", "plot_results", "plot_svg"]

MAX_SIDE_PX = 2000
"""Neither side of the PNG exceeds this many pixels, at any number of essays."""
WIDTH_INCHES = 11.0
ROW_INCHES = 0.24
"""Row pitch while every essay fits: room for a label in ``LABEL_POINTS``."""
LABEL_POINTS = 8.0
MIN_LABEL_PITCH_POINTS = 9.5
"""Labels closer than this overlap: thinner rows label every k-th essay only."""
MAX_LABEL_CHARACTERS = 28
UNCERTAIN_GRADE = 0.5
"""Below this confidence an essay's dot is drawn hollow."""
OUTSIDE_BAND_COLOUR = "#d62728"

_TOP_INCHES = 1.2
_BOTTOM_AXIS_INCHES = 0.55
_CAPTION_LINE_INCHES = 0.16
_LEGEND_INCHES = 2.6
_CHARACTER_INCHES = 0.068
"""Average width of a character at ``LABEL_POINTS`` (DejaVu Sans)."""


def plot_results(results: BatchResults, path: str | Path, *, dpi: int = 120) -> Path:
    """Save the picture of ``results`` as a PNG at ``path``; returns the path written."""
    data = report_data(results)
    if not data.essays:
        raise ValueError("the batch has no results to plot")
    pyplot = require_matplotlib("--plot")
    figure = draw_results(data, pyplot, dpi=dpi)
    target = Path(path)
    try:
        figure.savefig(target, dpi=dpi)
    finally:
        pyplot.close(figure)
    return target


def plot_svg(data: ReportData) -> str:
    """The picture as an ``<svg>`` element for inlining in HTML: text stays text (so it is
    searchable and sharp in print), the element scales to its container."""
    if not data.essays:
        raise ValueError("the batch has no results to plot")
    pyplot = require_matplotlib("the report's plot")
    import matplotlib

    with (
        matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": data.batch_id}),
        warnings.catch_warnings(),
    ):
        # Text stays text: the browser draws it with its own fonts, so a glyph matplotlib's
        # font lacks (an essay id in Chinese) is no loss here, unlike in the PNG.
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .* missing from font")
        figure = draw_results(data, pyplot, dpi=72)
        buffer = io.StringIO()
        try:
            figure.savefig(buffer, format="svg", metadata={"Date": None})
        finally:
            pyplot.close(figure)
    document = buffer.getvalue()
    element = document[document.index("<svg") :]
    # The root's fixed size in pt becomes "fill the container, keep the aspect ratio".
    return re.sub(
        r'<svg([^>]*?) width="[^"]*" height="[^"]*"',
        r'<svg\1 width="100%" role="img" aria-label="ranked plot of the essay scores"',
        element,
        count=1,
    )


@dataclass(frozen=True)
class _Layout:
    width: float
    height: float
    left: float
    caption_lines: int
    label_step: int
    """1: every essay labelled; k: about every k-th one."""
    pitch_points: float


def draw_results(data: ReportData, pyplot: Any, *, dpi: float = 120) -> Any:
    """The figure (a matplotlib ``Figure``) of ``data``; the caller saves and closes it."""
    essays = data.essays
    layout = _layout(data, dpi)
    figure = pyplot.figure(figsize=(layout.width, layout.height), dpi=dpi)
    bottom = _BOTTOM_AXIS_INCHES + layout.caption_lines * _CAPTION_LINE_INCHES + 0.2
    right = layout.width - _LEGEND_INCHES
    axis = figure.add_axes(
        (
            layout.left / layout.width,
            bottom / layout.height,
            (right - layout.left) / layout.width,
            (layout.height - _TOP_INCHES - bottom) / layout.height,
        )
    )
    lows, highs = zip(*(essay.interval_95 for essay in essays), strict=True)
    margin = 0.05 * (max(highs) - min(lows) or 1.0)
    axis.set_xlim(min(lows) - margin, max(highs) + margin)
    axis.set_ylim(len(essays) - 0.5, -0.5)
    colour_of = _colours(data)

    _draw_bands(axis, data, colour_of)
    ys = list(range(len(essays)))
    colours = [colour_of.get(essay.grade or "", NO_GRADE_COLOUR) for essay in essays]
    line_width = max(0.6, min(1.6, layout.pitch_points / 8.0))
    axis.hlines(ys, lows, highs, colors=colours, linewidth=line_width, alpha=0.55, zorder=2)
    dot = max(4.0, min(36.0, (0.75 * layout.pitch_points) ** 2))
    anchor = max(30.0, dot * 1.4)  # few, and what the bands rest on: visible at any density
    groups: dict[str, list[int]] = {"essays": [], "uncertain": [], "anchors": [], "outside": []}
    for index, essay in enumerate(essays):
        if essay.is_anchor:
            groups["anchors"].append(index)
            if anchor_outside_band(data, essay):
                groups["outside"].append(index)
        elif essay.confidence is not None and essay.confidence < UNCERTAIN_GRADE:
            groups["uncertain"].append(index)
        else:
            groups["essays"].append(index)
    styles: dict[str, dict[str, Any]] = {
        "essays": {"marker": "o", "s": dot, "zorder": 3},
        "uncertain": {
            "marker": "o",
            "s": dot,
            "facecolors": "white",
            "linewidths": 1.2,
            "zorder": 3,
        },
        "anchors": {
            "marker": "D",
            "s": anchor,
            "edgecolors": "black",
            "linewidths": 0.8,
            "zorder": 4,
        },
        "outside": {
            "marker": "o",
            "s": anchor * 3.0,
            "facecolors": "none",
            "edgecolors": OUTSIDE_BAND_COLOUR,
            "linewidths": 1.4,
            "zorder": 5,
        },
    }
    for name, indices in groups.items():
        if not indices:
            continue
        style = dict(styles[name])
        group_colours = [colours[i] for i in indices]
        if name == "uncertain":
            style["edgecolors"] = group_colours
        elif name != "outside":
            style["c"] = group_colours
        axis.scatter(
            [essays[i].score for i in indices], [ys[i] for i in indices], gid=name, **style
        )

    _label_rows(axis, data, layout)
    axis.set_xlabel("score (higher = better; logits)")
    axis.grid(axis="x", alpha=0.3)
    axis.spines[["top", "right"]].set_visible(False)
    figure.text(
        0.12 / layout.width,
        1.0 - 0.12 / layout.height,
        _plain(f"Essays ranked by the judges: batch {data.batch_id}"),
        fontsize=11,
        fontweight="bold",
        va="top",
    )
    figure.text(
        0.12 / layout.width,
        1.0 - 0.36 / layout.height,
        _plain(_wrap(_subtitle(data), layout.width, points=8.5)),
        fontsize=8.5,
        va="top",
    )
    _legend(figure, data, colour_of, right, layout, dpi)
    figure.text(
        0.12 / layout.width,
        0.1 / layout.height,
        _plain(_caption(data, layout)),
        fontsize=LABEL_POINTS,
        va="bottom",
        color="#333333",
        linespacing=1.3,
    )
    return figure


def _layout(data: ReportData, dpi: float) -> _Layout:
    n = len(data.essays)
    max_inches = MAX_SIDE_PX / dpi
    width = min(WIDTH_INCHES, max_inches)
    step = 1
    for _ in range(2):  # the caption grows by a sentence once labels are thinned
        caption_lines = len(_wrap(_caption_text(data, label_step=step), width).splitlines())
        fixed = _TOP_INCHES + _BOTTOM_AXIS_INCHES + caption_lines * _CAPTION_LINE_INCHES + 0.2
        height = min(max(fixed + n * ROW_INCHES, 4.8), max_inches - 0.01)
        pitch = (height - fixed) * 72.0 / max(n, 1)
        step = 1 if pitch >= MIN_LABEL_PITCH_POINTS else math.ceil(MIN_LABEL_PITCH_POINTS / pitch)
    longest = max(len(_row_label(data, essay)) for essay in data.essays)
    left = min(0.3 + longest * _CHARACTER_INCHES, 3.4)
    return _Layout(width, height, left, caption_lines, step, pitch)


def _colours(data: ReportData) -> dict[str, str]:
    if not data.graded:
        return {}
    return dict(zip(data.grades, grade_colours(len(data.grades)), strict=True))


def _bands(data: ReportData) -> list[tuple[str, float, float]]:
    """(grade, low, high) for every grade; the outer bands are open-ended."""
    edges = [-math.inf, *data.boundaries, math.inf]
    return list(zip(data.grades, edges[:-1], edges[1:], strict=True))


def _draw_bands(axis: Any, data: ReportData, colour_of: dict[str, str]) -> None:
    """Shaded grade bands, hatched where interpolated; grade names along the top."""
    if not data.graded:
        return
    low_limit, high_limit = axis.get_xlim()
    interpolated = set(interpolated_grades(data))
    ticks, names = [], []
    for grade, low, high in _bands(data):
        low, high = max(low, low_limit), min(high, high_limit)
        if high <= low:
            continue
        colour = colour_of[grade]
        axis.axvspan(low, high, color=colour, alpha=0.10, linewidth=0, zorder=0)
        if grade in interpolated:
            axis.axvspan(
                low,
                high,
                facecolor="none",
                edgecolor=colour,
                alpha=0.35,
                hatch="///",
                linewidth=0,
                zorder=0,
            )
        ticks.append((low + high) / 2.0)
        names.append(_plain(grade + ("*" if grade in interpolated else "")))
    for boundary in data.boundaries:
        if low_limit < boundary < high_limit:
            axis.axvline(boundary, color="#555555", linestyle="--", linewidth=0.8, zorder=1)
    top = axis.secondary_xaxis("top")
    top.set_xticks(ticks, names, fontsize=9, fontweight="bold")
    top.tick_params(length=0)
    top.set_xlabel("grade band (* no anchor: interpolated)", fontsize=8)


def _label_rows(axis: Any, data: ReportData, layout: _Layout) -> None:
    essays = data.essays
    shown = _labelled_rows(essays, layout.label_step)
    axis.set_yticks(shown, [_plain(_row_label(data, essays[i])) for i in shown])
    size = LABEL_POINTS if layout.label_step == 1 else LABEL_POINTS - 0.5
    for index, label in zip(shown, axis.get_yticklabels(), strict=True):
        label.set_fontsize(size)
        if essays[index].is_anchor:
            label.set_fontweight("bold")
        if anchor_outside_band(data, essays[index]):
            label.set_color(OUTSIDE_BAND_COLOUR)
    axis.tick_params(axis="y", length=2 if layout.label_step == 1 else 4)


def _labelled_rows(essays: tuple[ReportEssay, ...], step: int) -> list[int]:
    """Rows to label when only about one in ``step`` fits: anchors first, then every
    ``step``-th essay from the top, none within ``step`` rows of another."""
    if step <= 1:
        return list(range(len(essays)))
    taken = [False] * len(essays)
    anchors = [i for i, essay in enumerate(essays) if essay.is_anchor]
    for index in [*anchors, *range(0, len(essays), step)]:
        lo, hi = max(0, index - step + 1), min(len(essays), index + step)
        if not any(taken[lo:hi]):
            taken[index] = True
    return [i for i, flag in enumerate(taken) if flag]


def _row_label(data: ReportData, essay: ReportEssay) -> str:
    name = essay.essay_id
    if len(name) > MAX_LABEL_CHARACTERS:
        name = name[: MAX_LABEL_CHARACTERS - 1] + "…"
    label = f"{essay.rank}. {name}"
    if essay.is_anchor and essay.grade is not None:
        band = anchor_outside_band(data, essay)
        label += f"  [anchor {essay.grade}" + (f", in {band} band]" if band else "]")
    return label


def _legend(
    figure: Any,
    data: ReportData,
    colour_of: dict[str, str],
    right: float,
    layout: _Layout,
    dpi: float,
) -> None:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    interpolated = set(interpolated_grades(data))
    handles: list[Any] = []
    for grade in reversed(data.grades if data.graded else ()):
        label = grade + (" (no anchor: interpolated)" if grade in interpolated else "")
        hatch = "///" if grade in interpolated else None
        handles.append(
            Patch(facecolor=colour_of[grade], edgecolor="white", hatch=hatch, label=_plain(label))
        )
    grey = "#444444"
    handles.append(
        Line2D([], [], color=grey, marker="o", linewidth=1, label="essay: score, 95 % interval")
    )
    if any(e.confidence is not None and e.confidence < UNCERTAIN_GRADE for e in data.essays):
        handles.append(
            Line2D(
                [],
                [],
                color="white",
                marker="o",
                markeredgecolor=grey,
                linewidth=0,
                label=f"grade < {UNCERTAIN_GRADE:.0%} likely",
            )
        )
    if any(essay.is_anchor for essay in data.essays):
        handles.append(
            Line2D(
                [],
                [],
                color=grey,
                marker="D",
                markeredgecolor="black",
                linewidth=0,
                label="anchor (known grade)",
            )
        )
    if any(anchor_outside_band(data, essay) for essay in data.essays):
        handles.append(
            Line2D(
                [],
                [],
                color="white",
                marker="o",
                markersize=10,
                markeredgecolor=OUTSIDE_BAND_COLOUR,
                linewidth=0,
                label="anchor outside its band",
            )
        )
    if data.graded:
        handles.append(
            Line2D([], [], color="#555555", linestyle="--", linewidth=0.8, label="grade boundary")
        )
    top = 1.0 - _TOP_INCHES / layout.height
    figure.legend(
        handles=handles,
        loc="upper left",
        bbox_to_anchor=((right + 0.15) / layout.width, top),
        fontsize=LABEL_POINTS,
        title="grade (colour)" if data.graded else "key",
        title_fontsize=LABEL_POINTS + 0.5,
        frameon=False,
        alignment="left",
    )


def _subtitle(data: ReportData) -> str:
    parts = [
        f"{len(data.essays)} essays",
        f"{data.comparisons_succeeded} comparisons ({data.comparisons_per_essay:.1f} per essay)",
    ]
    headline = headline_reliability(data)
    if headline is not None:
        name, value = headline
        parts.append(f"{name} {reliability_words(value)}")
    return "; ".join(parts)


def _caption_text(data: ReportData, *, label_step: int) -> str:
    sentences = [
        "Each row is one essay, best at the top. The dot is its score (higher = better), "
        "the line its 95 % interval: the range its true score most likely lies in.",
    ]
    if data.graded:
        sentences.append(
            "Colour: the grade (anchors: their known grade; other essays: the grade the "
            "anchors project, hollow when it is less than 50 % likely). Shaded bands are "
            "the grades' score ranges, placed by the anchors (diamonds); hatched bands "
            "have no anchor and are interpolated."
        )
        if any(anchor_outside_band(data, essay) for essay in data.essays):
            sentences.append(
                "A red ring marks an anchor the judges placed in another grade's band: it "
                "keeps its known grade; the report explains each."
            )
    else:
        reason = data.grading_explanation or "no grade calibration"
        sentences.append(f"No grades ({reason}).")
    if label_step > 1:
        sentences.append(
            f"Only about one essay in {label_step} is labelled (anchors first); the HTML "
            "report (export --report) lists them all."
        )
    return " ".join(sentences)


def _caption(data: ReportData, layout: _Layout) -> str:
    return _wrap(_caption_text(data, label_step=layout.label_step), layout.width)


def _wrap(text: str, width_inches: float, *, points: float = LABEL_POINTS) -> str:
    character = _CHARACTER_INCHES * points / LABEL_POINTS
    return textwrap.fill(text, width=int((width_inches - 0.3) / (character * 0.95)))


def _plain(text: str) -> str:
    """Text matplotlib draws as written: a ``$`` in an essay id would start mathtext."""
    return text.replace("$", r"\$")
