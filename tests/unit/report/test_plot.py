"""The results plot: labelled rows, colour by grade, anchors, bands, caption, size cap."""

from __future__ import annotations

import html
import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cj_worker.report.model import ReportData, report_data
from cj_worker.report.palette import NO_GRADE_COLOUR, grade_colours
from cj_worker.report.plot import MAX_SIDE_PX, draw_results, plot_results, plot_svg
from tests.builders.results import SWEDISH, batch_results

pyplot = pytest.importorskip("matplotlib.pyplot")
colors = pytest.importorskip("matplotlib.colors")
Image = pytest.importorskip("PIL.Image")

COLOURS = dict(zip(SWEDISH, grade_colours(len(SWEDISH)), strict=True))


@pytest.fixture
def draw() -> Iterator[Any]:
    """Draws a figure of the data and closes every figure it drew afterwards."""
    figures: list[Any] = []

    def draw(data: ReportData) -> Any:
        figures.append(draw_results(data, pyplot))
        return figures[-1]

    yield draw
    for figure in figures:
        pyplot.close(figure)


def scatter(figure: Any, gid: str) -> Any:
    (collection,) = [c for c in figure.axes[0].collections if c.get_gid() == gid]
    return collection


def rows_of(figure: Any, gid: str) -> list[int]:
    return [round(y) for _, y in scatter(figure, gid).get_offsets()]


def texts(figure: Any) -> str:
    return " ".join(text.get_text() for text in figure.texts)


def test_every_row_of_a_small_batch_is_labelled_with_rank_and_id(draw: Any) -> None:
    data = report_data(batch_results(24))

    labels = [t.get_text() for t in draw(data).axes[0].get_yticklabels()]

    assert len(labels) == 24
    for label, essay in zip(labels, data.essays, strict=True):
        assert label.startswith(f"{essay.rank}. {essay.essay_id}")
        assert ("[anchor " in label) == essay.is_anchor
    assert any(label.endswith("[anchor C, in D band]") for label in labels)


def test_dots_take_their_grade_colour_and_uncertain_grades_are_hollow(draw: Any) -> None:
    data = report_data(batch_results(24))
    figure = draw(data)

    for gid, coloured in (("essays", "face"), ("uncertain", "edge"), ("anchors", "face")):
        collection = scatter(figure, gid)
        drawn = collection.get_facecolors() if coloured == "face" else collection.get_edgecolors()
        for row, colour in zip(rows_of(figure, gid), drawn, strict=True):
            essay = data.essays[row]
            assert colors.to_hex(colour) == COLOURS[str(essay.grade)]
            assert essay.is_anchor == (gid == "anchors")
            if gid == "uncertain":
                assert essay.confidence is not None
                assert essay.confidence < 0.5
    assert all(colors.to_hex(c) == "#ffffff" for c in scatter(figure, "uncertain").get_facecolors())
    assert len(rows_of(figure, "essays")) + len(rows_of(figure, "uncertain")) == 18


def test_only_the_anchor_outside_its_band_is_ringed(draw: Any) -> None:
    data = report_data(batch_results(24))

    ringed = rows_of(draw(data), "outside")

    assert [(data.essays[r].grade, data.band_of(data.essays[r].score)) for r in ringed] == [
        ("C", "D")
    ]


def test_bands_are_named_on_top_and_interpolated_ones_are_marked(draw: Any) -> None:
    figure = draw(report_data(batch_results(24)))
    axis = figure.axes[0]

    top = next(a for a in figure.axes[0].child_axes if a is not axis)
    names = [t.get_text() for t in top.get_xticklabels()]
    legend = [t.get_text() for t in figure.legends[0].get_texts()]

    assert names == ["F", "E", "D", "D+*", "C", "C+", "B*", "A"]
    assert "B (no anchor: interpolated)" in legend
    assert "D+ (no anchor: interpolated)" in legend
    assert {"A", "C+", "C", "D", "E", "F"} <= set(legend)
    assert "anchor outside its band" in legend


def test_the_axis_says_what_a_score_is_and_a_caption_explains_the_marks(draw: Any) -> None:
    figure = draw(report_data(batch_results(24)))

    assert figure.axes[0].get_xlabel() == "score (higher = better; logits)"
    caption = " ".join(texts(figure).split())
    assert "Each row is one essay, best at the top." in caption
    assert "hatched bands have no anchor and are interpolated" in caption
    assert "A red ring marks an anchor" in caption
    assert "Only about one essay in" not in caption


def test_500_essays_stay_within_2000_px_label_every_anchor_and_thin_the_rest(
    draw: Any, tmp_path: Path
) -> None:
    results = batch_results(500)
    data = report_data(results)

    with Image.open(plot_results(results, tmp_path / "net.png")) as image:
        width, height = image.size
    figure = draw(data)
    ticks = [round(t) for t in figure.axes[0].get_yticks()]

    assert width <= MAX_SIDE_PX
    assert height <= MAX_SIDE_PX
    assert height > 0.9 * MAX_SIDE_PX, "a long list uses the height it may"
    anchors = [row for row, essay in enumerate(data.essays) if essay.is_anchor]
    assert set(anchors) <= set(ticks)
    gaps = [b - a for a, b in itertools.pairwise(ticks)]
    caption = " ".join(texts(figure).split())
    step = int(caption.split("Only about one essay in ")[1].split()[0])
    assert min(gaps) >= step > 1
    assert len(ticks) >= 500 / (2 * step), "thinned, not emptied"


@pytest.mark.parametrize("n", [2, 40, 200])
def test_at_any_size_the_png_is_capped_and_nothing_is_cut_off(
    n: int, tmp_path: Path, draw: Any
) -> None:
    results = batch_results(n)
    figure = draw(report_data(results))
    figure.canvas.draw()  # lays the text out
    renderer = figure.canvas.get_renderer()
    page = figure.bbox

    with Image.open(plot_results(results, tmp_path / "net.png")) as image:
        assert max(image.size) <= MAX_SIDE_PX
    parts = [
        figure.legends[0],
        *figure.texts,
        *figure.axes[0].get_yticklabels(),
        figure.axes[0].xaxis.label,
    ]
    for part in parts:
        box = part.get_window_extent(renderer)
        assert page.x0 <= box.x0
        assert box.x1 <= page.x1
        assert page.y0 <= box.y0
        assert box.y1 <= page.y1, part


def test_without_grades_dots_are_grey_and_no_band_is_drawn(draw: Any) -> None:
    figure = draw(report_data(batch_results(12, grades=None)))

    assert {colors.to_hex(c) for c in scatter(figure, "essays").get_facecolors()} == {
        NO_GRADE_COLOUR
    }
    assert figure.axes[0].child_axes == []
    assert "No grades (no anchors: grades cannot be projected)." in " ".join(texts(figure).split())


def test_ids_are_drawn_as_written(tmp_path: Path) -> None:
    ids = ["price $x^2$", "odd $ sign", "<b>bold</b>", *(f"e{k}" for k in range(9))]
    results = batch_results(ids=ids)

    plot_results(results, tmp_path / "net.png")  # mathtext would fail on "odd $ sign"
    svg = html.unescape(plot_svg(report_data(results)))

    assert svg.startswith("<svg")
    root = svg.split(">", 1)[0]
    assert 'width="100%"' in root
    assert 'aria-label="ranked plot of the essay scores"' in root
    for essay_id in ids[:3]:
        assert essay_id in svg


def test_a_batch_without_results_has_no_plot(tmp_path: Path) -> None:
    import dataclasses

    results = dataclasses.replace(batch_results(4), essays=[])

    with pytest.raises(ValueError, match="no results to plot"):
        plot_results(results, tmp_path / "net.png")
