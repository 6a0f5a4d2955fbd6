"""``cj-worker score FILE``: decisions made elsewhere, scored and reported like a batch.

No server, no database: :func:`cj_worker.score` fits the file's decisions with the engine's
core and returns a batch's read model, so ``--json``, ``--csv``, ``--report`` and
``--plot`` are ``export``'s own renderers. The text report adds what only imported
decisions have: the rows that were not decisions (and why), items never compared, the
graph's components, and the CJ literature's reliability figures beside the engine's.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from typing import TYPE_CHECKING

from cj_worker.cli import parsing, rendering

if TYPE_CHECKING:
    from cj_worker.scoring import ScoreResults

LISTED = 10
"""Rows or ids named in a sentence before "and N more"."""
KINNEAR_SSR = 0.8
"""Kinnear, Jones & Davies (2025): SSR of at least 0.8, from about 10 comparisons per item."""


def run_score(args: argparse.Namespace, _: list[str]) -> int:
    from cj_worker.scoring import score

    results = score(
        args.file,
        anchors=args.anchors,
        grade_scale=parsing.grade_scale(args.grade_scale),
        ties=args.ties,
        seed=args.seed,
        literature_splits=args.splits,
    )
    if args.plot:
        from cj_worker.report.plot import plot_results

        plot_results(results.results, args.plot)
    if args.report:
        from cj_worker.report.page import write_report

        written = write_report(results.results, args.report)
        for warning in written.warnings:
            print(f"cj-worker: warning: {warning}", file=sys.stderr)
    if args.json:
        print(rendering.to_json(results.as_dict()))
    elif args.csv:
        sys.stdout.write(results.to_csv())
    else:
        print(score_report(results))
    return 0


def score_report(results: ScoreResults) -> str:
    """The text report: sentences, the essay table and the legend."""
    sentences = [
        *decision_sentences(results),
        rendering.comparisons_sentence(
            results.results.status.succeeded, 0, len(results.results.essays)
        ),
        *reliability_sentences(results),
        *component_sentences(results),
        *judge_sentences(results),
        *grade_sentences(results),
    ]
    lines = [
        wrapped
        for sentence in sentences
        for wrapped in textwrap.wrap(
            sentence,
            rendering.WIDTH,
            subsequent_indent="  ",
            break_on_hyphens=False,  # ids, paths and Spearman-Brown stay whole
            break_long_words=False,
        )
    ]
    table = rendering.essay_table(results.results.essays)
    return "\n".join([*lines, "", table, "", rendering.legend()])


def decision_sentences(results: ScoreResults) -> list[str]:
    """What was read, what was used, and every kind of row that was not used."""
    decisions = results.decisions
    counts = decisions.counts()
    lines = [
        f"Scored {counts['decisions']} decisions of {decisions.rows} rows in "
        f"{decisions.source}: {len(results.items)} essays."
    ]
    for reason, words in (
        ("missing_winner", "without a winner (empty or N/A)"),
        ("missing_loser", "without a loser"),
        ("self_comparison", "comparing an essay with itself"),
        ("tie", "ties (Bradley-Terry has no ties; they count for neither essay)"),
    ):
        rows = [row.row for row in decisions.excluded if row.reason.value == reason]
        if rows:
            lines.append(f"Not used: {len(rows)} rows {words}: line {_listed(rows)}.")
    if results.never_compared:
        lines.append(
            f"Never compared, so not scored and in no reliability: {len(results.never_compared)}"
            f" ({_listed(list(results.never_compared))})."
        )
    if decisions.ignored_fields:
        lines.append(f"Fields ignored: {', '.join(decisions.ignored_fields)}.")
    return lines


def reliability_sentences(results: ScoreResults) -> list[str]:
    """The engine's reliability, then the literature's figures, labelled as such."""
    batch = results.results
    headline = results.headline_reliability
    if headline == headline:  # not NaN
        engine = f"Reliability: {headline:.2f}, {rendering.reliability_words(headline)}"
    else:
        from cj_worker.core.bt import MIN_ESSAYS_FOR_RELIABILITY

        engine = f"Reliability: not estimated below {MIN_ESSAYS_FOR_RELIABILITY} essays"
    others = [
        f"{name} {value:.2f}"
        for name, value in (
            ("split-half", batch.split_half),
            ("SSR", batch.ssr),
        )
        if value is not None
    ]
    lines = [
        f"{engine} (this engine's estimate of the squared correlation with the true "
        f"order{'; ' + ', '.join(others) if others else ''})."
    ]
    literature = results.literature
    published = [f"SSR {literature.ssr:.2f}"] if literature.ssr == literature.ssr else []
    split = literature.split_half
    if split is not None and split.median == split.median:
        published.append(
            f"split-half {split.median:.2f} (median r of {split.correlations.size} random "
            f"splits of the {split.judges} judges, no Spearman-Brown)"
        )
    elif results.decisions.has_judges:
        published.append("no judge split-half (fewer than two judges)")
    else:
        published.append("no judge split-half (the file names no judges)")
    lines.append(
        "As published CJ studies compute it (sirt::btm; Kinnear, Jones & Davies 2025, who "
        f"recommend SSR of at least {KINNEAR_SSR}): {', '.join(published)}."
    )
    return lines


def component_sentences(results: ScoreResults) -> list[str]:
    """A disconnected graph: its components and their reliability."""
    graph = results.graph
    if graph.connected:
        return []
    parts = ", ".join(
        f"{part.items.size} essays (SSR {part.ssr:.2f})" for part in graph.components[:LISTED]
    )
    more = len(graph.components) - LISTED
    return [
        f"The comparisons form {len(graph.components)} separate groups that no comparison "
        f"links: {parts}{f' and {more} more' if more > 0 else ''}. Scores of different groups "
        "are not on one scale; SSR above is pooled within the groups."
    ]


def judge_sentences(results: ScoreResults) -> list[str]:
    """Judges flagged by the misfit test, with the rule."""
    from cj_worker.core.misfit import JUDGE_MISFIT_LEVEL, MIN_COMPARISONS_FOR_MISFIT

    judges = results.results.judges
    if not judges:
        return ["Judges: the file names none, so there is no judge misfit."]
    tested = [judge for judge in judges if judge["comparisons"] >= MIN_COMPARISONS_FOR_MISFIT]
    flagged = [str(judge["judge_id"]) for judge in tested if judge["misfit"]]
    rule = (
        f"a judge with at least {MIN_COMPARISONS_FOR_MISFIT} decisions is flagged when they "
        f"are less predictable than the model allows at the {JUDGE_MISFIT_LEVEL:.0%} level"
    )
    if not flagged:
        return [f"Judges: none of {len(tested)} tested is flagged ({rule})."]
    return [f"Judges: {len(flagged)} of {len(tested)} tested flagged: {_listed(flagged)} ({rule})."]


def grade_sentences(results: ScoreResults) -> list[str]:
    """Where the grades come from (``export``'s sentences), or how to get them."""
    if not any(essay.is_anchor for essay in results.results.essays):
        return [
            "Grades: none, because no anchors were given; --anchors FILE (id and grade of "
            "essays of known grade, at least two grades) projects grades."
        ]
    return rendering.grades_sentences(results.results)


def _listed(values: list[int] | list[str]) -> str:
    shown = ", ".join(str(value) for value in values[:LISTED])
    more = len(values) - LISTED
    return shown + (f" and {more} more" if more > 0 else "")
