"""The HTML report: its content, that it is self-contained, and that user text stays text."""

from __future__ import annotations

import dataclasses
import re
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from cj_worker.report.model import report_data
from cj_worker.report.page import render_report, write_report
from cj_worker.report.palette import grade_colours
from tests.builders.results import SWEDISH, batch_results

HOSTILE_IDS = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(2)>',
    "</svg></table><script>alert(3)</script>",
    "javascript:alert(4)",
    "price $x^2$ & co_1",
    "ünïcødé 作文 ✓",
]
HOSTILE_GRADES = ("<i>low</i>", 'mid"', "high&amp;")
HOSTILE_JUDGE = "<script>judge()</script>"

FORBIDDEN_TAGS = {
    "script",
    "img",
    "iframe",
    "object",
    "embed",
    "link",
    "base",
    "form",
    "input",
    "foreignobject",
    "audio",
    "video",
    "source",
}


class Page(HTMLParser):
    """Start tags with their attributes, and the text, of one HTML document."""

    def __init__(self, document: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []
        self._stack: list[str] = []
        self.texts_by_class: dict[str, list[str]] = {}
        self.feed(document)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        self.tags.append((tag, attributes))
        self._stack.append(attributes.get("class", ""))

    def handle_endtag(self, tag: str) -> None:
        if self._stack:
            self._stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._stack and self._stack[-1]:
            self.texts_by_class.setdefault(self._stack[-1], []).append(data)

    @property
    def all_text(self) -> str:
        return " ".join(" ".join(self.text).split())


def hostile_report() -> str:
    results = batch_results(ids=[*HOSTILE_IDS, *(f"e{k}" for k in range(18))])
    judges = [{"judge_id": HOSTILE_JUDGE, "comparisons": 30, "infit": 1.0, "misfit": False}]
    results = dataclasses.replace(results, judges=judges)
    return render_report(report_data(results), plot_svg=None)


def test_user_text_is_escaped_everywhere_and_shown_as_written() -> None:
    document = hostile_report()
    page = Page(document)

    tags = {tag for tag, _ in page.tags}
    assert not tags & FORBIDDEN_TAGS
    assert not [(tag, name) for tag, attrs in page.tags for name in attrs if name.startswith("on")]
    assert page.texts_by_class["id"][:6] == HOSTILE_IDS
    assert HOSTILE_JUDGE in page.all_text


def test_user_grade_labels_are_escaped() -> None:
    results = batch_results(12, grades=HOSTILE_GRADES, anchor_ranks={2: "high&amp;", 11: 'mid"'})

    page = Page(render_report(report_data(results), plot_svg=None))

    assert "i" not in {tag for tag, _ in page.tags}
    assert set(HOSTILE_GRADES) <= set(page.texts_by_class["chip"])


def test_the_plot_is_inline_and_the_page_fetches_nothing() -> None:
    pytest.importorskip("matplotlib")
    from cj_worker.report.plot import plot_svg

    results = batch_results(ids=[*HOSTILE_IDS, *(f"e{k}" for k in range(18))])
    data = report_data(results)
    document = render_report(data, plot_svg=plot_svg(data))
    page = Page(document)

    tags = {tag for tag, _ in page.tags}
    assert "svg" in tags
    assert not tags & FORBIDDEN_TAGS
    references = [
        value
        for _, attrs in page.tags
        for name, value in attrs.items()
        if name in ("href", "xlink:href", "src", "srcset", "action", "data")
    ]
    assert references, "the legend link and the SVG's internal references"
    assert all(value.startswith("#") for value in references), references
    assert all(target.startswith("#") for target in re.findall(r"url\(\s*([^)]*)\)", document))
    assert "@import" not in document
    for essay_id in HOSTILE_IDS:  # the plot's labels are text too (long ids shortened)
        assert essay_id[:20] in page.all_text


def test_the_page_says_how_it_ended_how_reliable_it_is_and_where_grades_come_from() -> None:
    data = report_data(batch_results(24, reliability=0.85, split_half=0.91))

    text = Page(render_report(data, plot_svg=None)).all_text

    assert f"Used the whole budget of {data.total_budget} comparisons" in text
    assert "Reliability 0.85: consistent enough to rank" in text
    assert "split-half 0.91 and SSR 0.93" in text, "secondary, as other tools report them"
    assert "Each essay was compared 12.0 times on average." in text
    assert "Grades come from the 6 anchors" in text
    assert "No anchor has grade D+ or B" in text
    assert "How to read this report" in text


def test_the_ranking_lists_every_essay_in_rank_order() -> None:
    data = report_data(batch_results(30))

    page = Page(render_report(data, plot_svg=None))

    assert page.texts_by_class["id"] == [essay.essay_id for essay in data.essays]


def test_confidence_bars_are_as_wide_as_the_grade_probability_and_in_its_colour() -> None:
    data = report_data(batch_results(24))
    colours = dict(zip(SWEDISH, grade_colours(len(SWEDISH)), strict=True))

    page = Page(render_report(data, plot_svg=None))

    bars = [
        page.tags[index + 1][1]["style"]
        for index, (tag, attrs) in enumerate(page.tags)
        if tag == "div" and attrs.get("class") == "bar"
    ]
    assert len(bars) == len(data.essays)
    for style, essay in zip(bars, data.essays, strict=True):
        assert essay.confidence is not None
        assert essay.grade is not None
        assert f"width:{essay.confidence * 100:.1f}%" in style
        assert f"background:{colours[essay.grade]}" in style


def test_an_anchor_outside_its_band_is_marked_in_its_row_and_explained() -> None:
    data = report_data(batch_results(24))
    (anchor,) = [e for e in data.essays if e.is_anchor and data.band_of(e.score) != e.grade]

    document = render_report(data, plot_svg=None)
    page = Page(document)

    rows = [
        attrs for tag, attrs in page.tags if tag == "tr" and "outside" in attrs.get("class", "")
    ]
    assert len(rows) == 1
    assert "placed in the D band" in page.all_text
    assert f"Anchor {anchor.essay_id} (known grade C) scored {anchor.score:+.2f}" in (page.all_text)
    assert page.texts_by_class["badge"] == ["anchor"] * sum(e.is_anchor for e in data.essays)


def test_misfit_is_said_for_judges_and_essays() -> None:
    data = report_data(batch_results(24, misfit_ranks=(4,), outfit={9: 33.0}))

    text = Page(render_report(data, plot_svg=None)).all_text

    assert "1 of 4 judges disagree with the others more than chance explains: judge-coin" in text
    flagged = data.essays[3].essay_id
    assert f"1 essay drew inconsistent judgements, more than chance explains: {flagged}" in text
    assert f"{data.essays[8].essay_id} (outfit 33.0)" in text


def test_a_batch_without_anchors_says_why_it_has_no_grades() -> None:
    data = report_data(batch_results(10, grades=None))

    page = Page(render_report(data, plot_svg=None))

    assert "No grades: no anchors: grades cannot be projected." in page.all_text
    assert "chip" not in page.texts_by_class
    assert page.texts_by_class["none"].count("no grade") == 10


def test_a_failed_batch_without_results_still_gets_a_page_that_says_why() -> None:
    results = batch_results(6, stop_reason="low_success_rate")
    data = report_data(dataclasses.replace(results, essays=[], judges=[]))

    text = Page(render_report(data, plot_svg=None)).all_text

    assert "No results: Failed: 2 of" in text
    assert "No plot: the batch has no results." in text


def test_write_report_embeds_the_plot(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")

    written = write_report(batch_results(12), tmp_path / "report.html")

    assert written.path == tmp_path / "report.html"
    assert written.warnings == ()
    document = written.path.read_text(encoding="utf-8")
    assert document.startswith("<!DOCTYPE html>")
    assert document.count("<svg") == 1


def test_without_matplotlib_the_report_is_written_without_the_plot_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib raises

    written = write_report(batch_results(12), tmp_path / "report.html")

    (warning,) = written.warnings
    assert "pip install 'cj-worker[plot]'" in warning
    page = Page(written.path.read_text(encoding="utf-8"))
    assert "svg" not in {tag for tag, _ in page.tags}
    assert warning in page.all_text
