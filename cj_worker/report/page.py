"""The teacher's report: one self-contained HTML page (``cj-worker export --report FILE.html``).

Self-contained because it is mailed, archived and opened offline: the CSS is inline, the
plot an inline SVG (text stays text, sharp in print), and nothing is fetched. Every piece of
text that came from a user (essay ids, judge ids, grade labels) goes through
:func:`html.escape`; the only markup not built here is the SVG, whose text matplotlib
escapes as XML. Colours and widths in ``style`` attributes are numbers computed here.

The page leads with what a teacher asks first (how it ended, can I trust it, where the
grades come from), then the ranked list, anchors and misfit in sentences, the plot, and a
legend for every figure. Without matplotlib the page is written without the plot and says
so, because the rest does not need it.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cj_worker.core.plotting import PlottingUnavailableError
from cj_worker.db.repositories.reports import BatchResults
from cj_worker.report import wording
from cj_worker.report.model import ReportData, ReportEssay, ReportJudge, report_data
from cj_worker.report.palette import NO_GRADE_COLOUR, grade_colours


@dataclass(frozen=True)
class WrittenReport:
    path: Path
    warnings: tuple[str, ...]
    """What the page lacks and why (e.g. the plot without matplotlib): for stderr."""


def write_report(results: BatchResults, path: str | Path) -> WrittenReport:
    """Write the report of ``results`` to ``path`` as one HTML file."""
    data = report_data(results)
    warnings: list[str] = []
    plot: str | None = None
    if data.essays:
        from cj_worker.report.plot import plot_svg

        try:
            plot = plot_svg(data)
        except PlottingUnavailableError as error:
            warnings.append(f"the report has no plot: {error}")
    target = Path(path)
    target.write_text(render_report(data, plot_svg=plot, notes=warnings), encoding="utf-8")
    return WrittenReport(target, tuple(warnings))


def render_report(data: ReportData, *, plot_svg: str | None, notes: Iterable[str] = ()) -> str:
    """The page as a string; ``plot_svg`` is an ``<svg>`` element or None."""
    colours = _grade_colours(data)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Comparative judgement report: batch {_e(data.batch_id)}</title>",
        f"<style>{_CSS}</style></head><body><main>",
        _header(data),
        _summary(data),
        *([_anchors(data)] if any(e.is_anchor for e in data.essays) else []),
        _ranking(data, colours),
        _fit(data),
        _plot(plot_svg, notes),
        _legend(data, colours),
        "</main></body></html>",
    ]
    return "\n".join(parts) + "\n"


def _header(data: ReportData) -> str:
    finished = (
        f"finished {_when(data.completed_at)}" if data.completed_at else f"state {_e(data.state)}"
    )
    return (
        "<header><h1>Comparative judgement report</h1>"
        f'<p class="meta">Batch <code>{_e(data.batch_id)}</code> · started '
        f"{_when(data.created_at)} · {finished} · {len(data.essays)} essays · "
        f"{data.comparisons_succeeded} comparisons judged</p>"
        '<p class="meta"><a href="#legend">How to read this report</a></p></header>'
    )


def _summary(data: ReportData) -> str:
    items = [
        ("How it ended", [wording.stop_reason_sentence(data)]),
        ("Can the order be trusted?", wording.reliability_sentences(data)),
        ("Comparisons", [wording.comparisons_sentence(data)]),
        ("Grades", wording.grading_sentences(data)),
    ]
    headline = wording.headline_reliability(data)
    gauge = "" if headline is None else _gauge(headline[1])
    rows = "".join(
        f"<dt>{_e(term)}</dt><dd>{(gauge if term.startswith('Can') else '')}"
        f'<span class="lead">{_e(sentences[0])}</span> '
        f'<span class="more">{" ".join(_e(sentence) for sentence in sentences[1:])}</span></dd>'
        for term, sentences in items
    )
    return f'<section id="summary"><h2>Summary</h2><dl class="summary">{rows}</dl></section>'


def _gauge(value: float) -> str:
    """The reliability on a 0-1 bar with the bands' cut-offs marked."""
    ticks = "".join(
        f'<span class="tick" style="left:{floor * 100:.0f}%">{floor:.1f}</span>'
        for floor, _ in wording.RELIABILITY_BANDS
        if floor > 0
    )
    return (
        f'<div class="gauge" title="reliability {value:.2f}">'
        f'<span class="fill" style="width:{max(0.0, min(value, 1.0)) * 100:.1f}%"></span>'
        f"{ticks}</div>"
    )


def _anchors(data: ReportData) -> str:
    sentences = wording.anchor_sentences(data)
    anchors = sum(1 for essay in data.essays if essay.is_anchor)
    if not data.graded:
        body = (
            f"<p>{anchors} anchors, but no grade bands: "
            f"{_e(data.grading_explanation or 'no calibration')}.</p>"
        )
    elif sentences:
        body = "<ul>" + "".join(f'<li class="warn">{_e(s)}</li>' for s in sentences) + "</ul>"
    else:
        body = f"<p>All {anchors} anchors lie in their own grade's band.</p>"
    return f'<section id="anchors"><h2>Anchors</h2>{body}</section>'


def _ranking(data: ReportData, colours: dict[str, str]) -> str:
    if not data.essays:
        return (
            '<section id="ranking"><h2>Ranking</h2><p>No results: '
            f"{_e(wording.stop_reason_sentence(data))}</p></section>"
        )
    lows, highs = zip(*(essay.interval_95 for essay in data.essays), strict=True)
    span = (min(lows), max(highs))
    rows = "".join(_row(data, essay, colours, span) for essay in data.essays)
    return (
        '<section id="ranking"><h2>Ranking</h2>'
        '<table class="ranking"><thead><tr><th>Rank</th><th>Essay</th><th>Grade</th>'
        "<th>Confidence</th><th>Score and 95 % interval</th><th>Comparisons (wins)</th>"
        f"<th>Fit</th></tr></thead><tbody>{rows}</tbody></table></section>"
    )


def _row(
    data: ReportData, essay: ReportEssay, colours: dict[str, str], span: tuple[float, float]
) -> str:
    outside = wording.anchor_outside_band(data, essay)
    name = f'<span class="id">{_e(essay.essay_id)}</span>'
    if essay.is_anchor:
        name += ' <span class="badge">anchor</span>'
    grade = _chip(essay.grade, colours)
    if essay.is_anchor and essay.grade is not None:
        grade += ' <span class="known">known</span>'
        if outside:
            grade += f' <span class="warn">placed in the {_e(outside)} band</span>'
    fit = wording.essay_fit_words(essay)
    fit_class = "warn" if fit in ("inconsistent judgements", "a surprising result") else ""
    classes = [c for c, on in (("anchor", essay.is_anchor), ("outside", outside)) if on]
    row = f'<tr class="{" ".join(classes)}">' if classes else "<tr>"
    return (
        f'{row}<td class="num">{essay.rank}</td><td>{name}</td>'
        f'<td>{grade}</td><td class="nowrap">{_confidence(essay, colours)}</td>'
        f'<td class="nowrap">{_interval(essay, colours, span)}</td>'
        f'<td class="num">{essay.comparisons} ({essay.wins})</td>'
        f'<td class="{fit_class}">{_e(fit)}{_fit_figures(essay)}</td></tr>'
    )


def _chip(grade: str | None, colours: dict[str, str]) -> str:
    if grade is None:
        return '<span class="none">no grade</span>'
    colour = colours.get(grade, NO_GRADE_COLOUR)
    return f'<span class="chip" style="background:{colour};color:{_ink(colour)}">{_e(grade)}</span>'


def _confidence(essay: ReportEssay, colours: dict[str, str]) -> str:
    if essay.confidence is None or essay.grade is None:
        return '<span class="none">-</span>'
    colour = colours.get(essay.grade, NO_GRADE_COLOUR)
    label = "known" if essay.is_anchor else f"{essay.confidence:.0%}"
    return (
        f'<div class="bar" title="probability of grade {_e(essay.grade)}: '
        f'{essay.confidence:.2f}"><span style="width:{essay.confidence * 100:.1f}%;'
        f'background:{colour}"></span></div> <span class="pct">{label}</span>'
    )


def _interval(essay: ReportEssay, colours: dict[str, str], span: tuple[float, float]) -> str:
    """The score and its interval on a strip that spans every essay's interval."""
    low, high = essay.interval_95
    width = (span[1] - span[0]) or 1.0

    def at(value: float) -> float:
        return 100.0 * (value - span[0]) / width

    colour = colours.get(essay.grade or "", NO_GRADE_COLOUR)
    return (
        '<div class="strip">'
        f'<span class="ci" style="left:{at(low):.1f}%;width:{at(high) - at(low):.1f}%"></span>'
        f'<span class="dot" style="left:{at(essay.score):.1f}%;background:{colour}"></span>'
        f'</div> <span class="score">{_signed(essay.score, 2)} <small>({_signed(low, 1)} to '
        f"{_signed(high, 1)})</small></span>"
    )


def _fit_figures(essay: ReportEssay) -> str:
    if essay.infit is None:
        return ""
    outfit = "" if essay.outfit is None else f", outfit {essay.outfit:.2f}"
    return f" <small>(infit {essay.infit:.2f}{outfit})</small>"


def _fit(data: ReportData) -> str:
    judges = "".join(_judge_row(judge) for judge in data.judges)
    table = (
        '<table class="judges"><thead><tr><th>Judge</th><th>Comparisons</th><th>Infit</th>'
        f"<th>Outfit</th><th>In words</th></tr></thead><tbody>{judges}</tbody></table>"
        if data.judges
        else ""
    )
    return (
        '<section id="fit"><h2>Judges and essays that do not fit</h2>'
        f"<h3>Judges</h3>{_paragraphs(wording.judge_sentences(data))}{table}"
        f"<h3>Essays</h3>{_paragraphs(wording.essay_sentences(data))}</section>"
    )


def _judge_row(judge: ReportJudge) -> str:
    row = '<tr class="warn">' if judge.misfit else "<tr>"
    words = "disagrees with the others" if judge.misfit else "consistent"
    return (
        f"{row}<td>{_e(judge.judge_id or '(unnamed)')}</td>"
        f'<td class="num">{judge.comparisons}</td><td class="num">{_number(judge.infit)}</td>'
        f'<td class="num">{_number(judge.outfit)}</td><td>{words}</td></tr>'
    )


def _plot(svg: str | None, notes: Iterable[str]) -> str:
    notes = list(notes)
    if svg is None:
        body = _paragraphs(notes or ["No plot: the batch has no results."])
    else:
        body = (
            f'<figure class="plot">{svg}<figcaption>The ranking as a picture; the caption '
            "under it explains its marks.</figcaption></figure>"
        )
    return f'<section id="plot"><h2>Plot</h2>{body}</section>'


def _legend(data: ReportData, colours: dict[str, str]) -> str:
    terms = "".join(
        f"<dt>{_e(term)}</dt><dd>{_e(text)}</dd>" for term, text in wording.legend(data)
    )
    scale = ""
    if colours:
        chips = " ".join(_chip(grade, colours) for grade in data.grades)
        scale = f"<p>Grade colours, lowest first: {chips}</p>"
    return (
        '<section id="legend"><h2>How to read this report</h2>'
        f'{scale}<dl class="legend">{terms}</dl></section>'
    )


def _grade_colours(data: ReportData) -> dict[str, str]:
    if not data.graded and not any(e.grade for e in data.essays):
        return {}
    return dict(zip(data.grades, grade_colours(len(data.grades)), strict=True))


def _ink(background: str) -> str:
    """Black or white text, whichever reads better on ``background`` (#rrggbb)."""
    red, green, blue = (int(background[k : k + 2], 16) / 255.0 for k in (1, 3, 5))
    luminance = 0.2126 * red + 0.7152 * green + 0.0722 * blue
    return "#000000" if luminance > 0.45 else "#ffffff"


def _paragraphs(sentences: Iterable[str]) -> str:
    return "".join(f"<p>{_e(sentence)}</p>" for sentence in sentences)


def _signed(value: float, digits: int) -> str:
    """``value`` with its sign, without a "-0.0" for a value that rounds to zero."""
    return f"{round(value, digits) or 0.0:+.{digits}f}"


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _when(moment: datetime) -> str:
    return _e(moment.strftime("%Y-%m-%d %H:%M %Z").strip())


def _e(text: str) -> str:
    return html.escape(text, quote=True)


_CSS = """
:root { color-scheme: light; --ink: #1d1d1f; --muted: #5f6368; --line: #dadce0;
  --warn: #b3261e; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto,
  "DejaVu Sans", sans-serif; color: var(--ink); background: #fff; }
main { max-width: 1150px; margin: 0 auto; padding: 24px 28px 48px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 20px; margin: 32px 0 10px; border-bottom: 2px solid var(--line);
  padding-bottom: 4px; }
h3 { font-size: 16px; margin: 18px 0 6px; }
.meta { color: var(--muted); margin: 2px 0; }
code { font-size: 13px; }
dl.summary { display: grid; grid-template-columns: 200px 1fr; gap: 10px 18px; margin: 0; }
dl.summary dt { font-weight: 600; }
dl.summary dd { margin: 0; }
dl.summary .lead { font-weight: 600; }
dl.summary .more { color: #444; }
dl.legend dt { font-weight: 600; margin-top: 8px; }
dl.legend dd { margin: 0 0 0 18px; color: #333; }
.gauge { position: relative; height: 12px; width: 320px; max-width: 100%;
  background: #eceff1; border-radius: 6px; margin: 4px 0 18px; }
.gauge .fill { position: absolute; left: 0; top: 0; bottom: 0; border-radius: 6px;
  background: #21918c; }
.gauge .tick { position: absolute; top: 12px; font-size: 11px; color: var(--muted);
  transform: translateX(-50%); border-left: 1px solid #9aa0a6; height: 0; }
.gauge .tick::before { content: ""; position: absolute; top: -12px; height: 12px;
  border-left: 1px solid #fff; }
table { border-collapse: collapse; width: 100%; font-size: 14px; }
th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid var(--line);
  vertical-align: middle; }
th { background: #f1f3f4; font-weight: 600; position: sticky; top: 0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.nowrap { white-space: nowrap; }
tr.anchor td { background: #fafafa; }
tr.outside td { background: #fdecea; }
.id { font-weight: 600; word-break: break-all; }
.badge { display: inline-block; font-size: 11px; border: 1px solid #333; border-radius: 8px;
  padding: 0 6px; margin-left: 4px; }
.chip { display: inline-block; min-width: 34px; text-align: center; border-radius: 4px;
  padding: 1px 6px; font-weight: 700; border: 1px solid rgba(0,0,0,.25); }
.known { font-size: 12px; color: var(--muted); }
.none { color: var(--muted); }
.warn { color: var(--warn); font-weight: 600; }
li.warn { font-weight: normal; margin-bottom: 6px; }
.bar { display: inline-block; width: 80px; height: 12px; background: #eceff1;
  border: 1px solid #c4c7c5; border-radius: 2px; vertical-align: middle; overflow: hidden; }
.bar span { display: block; height: 100%; }
.pct { font-size: 13px; font-variant-numeric: tabular-nums; }
.strip { position: relative; display: inline-block; width: 130px; height: 14px;
  vertical-align: middle; background: linear-gradient(#c4c7c5, #c4c7c5) center / 100% 1px
  no-repeat; }
.strip .ci { position: absolute; top: 5px; height: 4px; background: #9aa0a6;
  border-radius: 2px; }
.strip .dot { position: absolute; top: 2px; width: 10px; height: 10px; margin-left: -5px;
  border-radius: 50%; border: 1px solid #000; }
.score { font-variant-numeric: tabular-nums; font-size: 13px; }
figure.plot { margin: 0; }
figure.plot svg { width: 100%; height: auto; }
figcaption { color: var(--muted); font-size: 13px; }
@media print { th { position: static; } section { break-inside: avoid-page; } }
"""
