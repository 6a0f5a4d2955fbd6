"""What the commands print: reports that explain themselves for people, JSON for tools.

Pure functions from read models to text, so the output formats (part of the command
line's contract) can be read and tested apart from the databases and brokers the handlers
talk to. Nothing here prints. The project modules the words come from (the stop reasons,
the budget threshold, the misfit test) pull in numpy and the core, so they are imported by
the functions that need them: ``cj-worker --help`` stays instant.

A report for people says in words what a number means and what is good (issue 15: SSR,
infit, the misfit star, ``conf`` and logits were unexplained, ``budget_exhausted`` read
like an error, missing grades had no reason): a summary in sentences, the essay table and
a short legend, one screen for a class.
"""

from __future__ import annotations

import json
import math
import textwrap
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from cj_worker.client import BatchResults, BatchStatus
    from cj_worker.db.repositories.usage import BatchUsage, UsageSums
    from cj_worker.harness.sweep import SweepRow
    from cj_worker.judges.llm.cost import CostEstimate
    from cj_worker.llm_spec import LlmJudge

COVERAGE_KEYS = (
    "max_possible_pairs",
    "successful_pairs_count",
    "unique_coverage_complete",
    "resampling_pass_count",
)
"""Progress metadata ``status`` shows, in this order."""
RELIABILITY_WORDS = (
    (0.90, "high"),
    (0.80, "good"),
    (0.70, "enough for a rough ranking"),
    (0.50, "low: only top, middle and bottom can be told apart"),
    (0.00, "too low to rank"),
)
"""(lowest value, meaning), highest first: the cut-offs in common use for reliability
coefficients (0.70 for low stakes, 0.80 and above for decisions; Kinnear et al. 2025
recommend 0.80 for comparative judgement)."""
WIDTH = 100
"""Columns the legend is wrapped to."""


class EssayRow(Protocol):
    """What the essay table reads of one essay's result."""

    @property
    def rank(self) -> int: ...
    @property
    def essay_id(self) -> str: ...
    @property
    def score(self) -> float: ...
    @property
    def standard_error(self) -> float: ...
    @property
    def interval_95(self) -> tuple[float, float]: ...
    @property
    def comparisons(self) -> int: ...
    @property
    def is_anchor(self) -> bool: ...
    @property
    def grade(self) -> str | None: ...
    @property
    def confidence(self) -> float | None: ...
    @property
    def infit(self) -> float | None: ...
    @property
    def outfit(self) -> float | None: ...
    @property
    def misfit(self) -> bool: ...


def to_json(value: object, *, indent: int | None = 2) -> str:
    """JSON as the ``--json`` options print it: indented, but for one-line answers."""
    return json.dumps(value, indent=indent)


# ------------------------------------------------------------------------ the essays


def essay_table(rows: Sequence[EssayRow], truth: Mapping[str, float | None] | None = None) -> str:
    """One line per essay; with ``truth`` (the demo) a last column of true scores.

    Scores and SEs have two decimals: the third is noise at any SE a batch reaches.
    """
    width = min(max([len("id"), *(len(row.essay_id) for row in rows)]), 24)
    header = (
        f"{'rank':>4}  {'id':<{width}} {'score':>6} {'SE':>5}  {'95% interval':<16} "
        f"{'compared':>8}  {'anchor':<6} {'grade':<5} {'conf':>4} {'infit':>6} {'outfit':>6}"
    )
    if truth is not None:
        header += f"  {'true':>6}"
    lines = [header]
    for row in rows:
        low, high = row.interval_95
        line = (
            f"{row.rank:>4}  {row.essay_id:<{width}} {row.score:>6.2f} "
            f"{row.standard_error:>5.2f}  [{low:>6.2f}, {high:>6.2f}] "
            f"{row.comparisons:>8}  {'yes' if row.is_anchor else '':<6} "
            f"{row.grade or '-':<5} {number(row.confidence, 2):>4} "
            f"{number(row.infit, 2):>6} {number(row.outfit, 2):>6}{'*' if row.misfit else ' '}"
        )
        if truth is not None:
            line += f" {number(truth.get(row.essay_id), 2):>6}"
        lines.append(line.rstrip())
    return "\n".join(lines)


def legend() -> str:
    """What each figure of the report means and what is good, one entry a line or two."""
    from cj_worker.budget import MIN_USEFUL_COMPARISONS_PER_ESSAY
    from cj_worker.core.misfit import ESSAY_MISFIT_LEVEL, MIN_COMPARISONS_FOR_MISFIT

    entries = [
        (
            "score",
            "quality on a logit scale centred at 0, higher is better; a gap of 1 means the "
            "better essay wins about 73 % of comparisons, a gap of 2 about 88 %",
        ),
        (
            "SE",
            "standard error of the score: the smaller, the more precise. 95% interval = "
            "score +- 1.96 SE: the true score most likely lies inside; essays whose "
            "intervals overlap may swap places",
        ),
        (
            "compared",
            "successful comparisons of the essay; about "
            f"{MIN_USEFUL_COMPARISONS_PER_ESSAY:.0f} each is the usual minimum for a useful "
            "ranking (Verhavert et al. 2019)",
        ),
        (
            "reliability",
            "0 to 1, how closely the order follows the true one (an estimate of the squared "
            "correlation, from a model that also estimates how widely quality varies; 0 when "
            "the decisions look like coin flips): 0.70 is enough for a rough ranking, 0.80 "
            "good, 0.90 high. split-half (the comparisons split in two and the two rankings "
            "correlated) and SSR (from the scores and their SEs) are secondary: adaptive "
            "pairing overstates both",
        ),
        (
            "infit, outfit",
            "about 1 = the essay's results are as predictable as the model expects; above "
            "1.3 (infit) or 2 (outfit) they held surprises: outfit reacts to one big upset, "
            "infit to a pattern among close pairs",
        ),
        (
            "*",
            "misfit flag: the essay's results are less predictable than the scores predict, "
            "allowing for their uncertainty "
            f"(a posterior-predictive test at the {ESSAY_MISFIT_LEVEL:.0%} level, given at "
            f"least {MIN_COMPARISONS_FOR_MISFIT} comparisons: about 1 in "
            f"{round(1 / ESSAY_MISFIT_LEVEL)} consistent essays is flagged by chance); worth "
            "a second read",
        ),
        (
            "grade, conf",
            "the most probable grade and its probability (1.00 = certain, low = near a "
            "boundary); an anchor (an essay of known grade) keeps its grade",
        ),
    ]
    term_width = max(len(term) for term, _ in entries) + 2
    lines = ["How to read this:"]
    for term, text in entries:
        lines += textwrap.wrap(
            text,
            WIDTH,
            initial_indent=f"  {term:<{term_width}}",
            subsequent_indent=" " * (term_width + 2),
        )
    return "\n".join(lines)


# ----------------------------------------------------------------------- the results


def summary(results: BatchResults) -> list[str]:
    """The batch in sentences: how it ended, how much it was compared, reliability, grades."""
    from cj_worker import stop_reasons

    status = results.status
    lines = [
        f"Batch {status.batch_id}: {status.essays} essays, {status.state} after "
        f"{status.current_wave} waves.",
        stop_reasons.explain(results.stop_reason or status.final_reason, status),
    ]
    if results.essays:
        lines.append(comparisons_sentence(status.succeeded, status.failed, status.essays))
        lines.append(
            reliability_sentence(
                results.reliability,
                results.split_half,
                results.ssr,
                shows_signal=results.shows_signal,
            )
        )
        order = order_effect_sentence(results.slot_effect, results.slot_effect_se)
        if order is not None:
            lines.append(order)
        lines += grades_sentences(results)
    if status.usage is not None:
        lines.append(f"Judging cost: {usage_words(status.usage.total)}.")
    return lines


def comparisons_sentence(succeeded: int, failed: int, essays: int) -> str:
    """Comparisons made, per essay, and a warning when that is too few to rank."""
    from cj_worker.budget import MIN_USEFUL_COMPARISONS_PER_ESSAY, average_per_essay

    per_essay = average_per_essay(succeeded, essays)
    made = f"{succeeded}" + (f" ({failed} more failed)" if failed else "")
    sentence = f"Comparisons: {made}, {per_essay:.1f} per essay on average"
    if per_essay < MIN_USEFUL_COMPARISONS_PER_ESSAY:
        return (
            f"{sentence}. WARNING: too few for a useful ranking (below "
            f"{MIN_USEFUL_COMPARISONS_PER_ESSAY:.0f} per essay, see the README on budgets); "
            f"a larger budget (--comparisons-per-essay {MIN_USEFUL_COMPARISONS_PER_ESSAY:.0f} "
            "or more) would help."
        )
    return f"{sentence} ({MIN_USEFUL_COMPARISONS_PER_ESSAY:.0f} or more is the usual minimum)."


def reliability_sentence(
    reliability: float | None,
    split_half: float | None,
    ssr: float | None,
    *,
    shows_signal: bool | None = None,
) -> str:
    """The headline reliability (the hierarchical fit's, honest under adaptive pairing) in
    words; split-half and SSR beside it as the secondary figures other tools report."""
    from cj_worker.core.bt import MIN_ESSAYS_FOR_RELIABILITY

    if reliability is None:
        headline = f"not estimated (needs at least {MIN_ESSAYS_FOR_RELIABILITY} essays)"
    else:
        headline = f"{reliability:.2f}, {reliability_words(reliability)}"
        if shows_signal is False:
            headline += " (the decisions cannot be told apart from coin flips)"
    secondary = [
        f"{name} {value:.2f}"
        for name, value in (("split-half", split_half), ("SSR", ssr))
        if value is not None
    ]
    other = (
        f"; as other CJ tools report it (adaptive pairing can inflate these): "
        f"{', '.join(secondary)}"
        if secondary
        else ""
    )
    return f"Reliability: {headline}{other}."


def order_effect_sentence(slot_effect: float | None, standard_error: float | None) -> str | None:
    """The judges' preference for the essay shown first, when beyond chance (else None)."""
    from cj_worker.report.wording import order_effect_sentence as sentence

    return sentence(slot_effect, standard_error)


def reliability_words(value: float) -> str:
    return next(words for floor, words in RELIABILITY_WORDS if value >= floor)


def grades_sentences(results: BatchResults) -> list[str]:
    """Where the grades come from, or why there are none; anchors placed in another grade."""
    grading: Mapping[str, Any] = results.grading or {}
    state = grading.get("status")
    anchors = [essay for essay in results.essays if essay.is_anchor]
    if state == "projected":
        lines = [
            f"Grades: projected from {len(anchors)} anchors (essays of known grade); conf is "
            "the probability of the grade shown."
        ]
    elif state == "only_anchors":
        lines = ["Grades: every essay is an anchor and keeps its known grade."]
    elif state == "no_anchors" or not anchors:
        return [
            "Grades: none, because there are no anchors in the file (essays with is_anchor "
            "and a known grade); add anchors of at least two grades to get grades."
        ]
    elif state == "one_anchor_grade":
        grade = anchors[0].grade
        return [
            f"Grades: none, because the anchors cover fewer than two grades (all {grade}); "
            "add anchors of another grade to get grades."
        ]
    else:
        explanation = grading.get("explanation") or "the grades could not be calibrated"
        return [f"Grades: none: {explanation}."]
    moved = [
        f"{essay.essay_id} ({essay.grade}, scored like {essay.projected_grade})"
        for essay in anchors
        if essay.projected_grade not in (None, essay.grade)
    ]
    if moved:
        lines.append(
            f"  {len(moved)} {'anchor' if len(moved) == 1 else 'anchors'} scored like another "
            f"grade: {', '.join(moved)}. Anchors keep their known grade; the grade bands are "
            "fitted to all anchors together, so one anchor can fall outside its own."
        )
    return lines


def results_report(
    results: BatchResults,
    *,
    truth: Mapping[str, float | None] | None = None,
    spearman: float | None = None,
) -> str:
    """The whole text report: summary, essay table and legend (``export`` and ``demo``).

    ``truth`` and ``spearman`` are the demo's: the true scores of a simulation and their
    rank correlation with the scores (None where undefined).
    """
    sentences = summary(results)
    if spearman is not None:
        sentences.append(
            f"Against the true scores (known in a simulation only): Spearman {spearman:.2f}."
        )
    lines = [wrapped for sentence in sentences for wrapped in _wrap(sentence)]
    if results.essays:
        lines += ["", essay_table(results.essays, truth), "", legend()]
    return "\n".join(lines)


# ---------------------------------------------------------------------------- status


def status_report(status: BatchStatus) -> str:
    """A batch's state in words, its counters, coverage keys and one line per decision."""
    from cj_worker import stop_reasons

    meta = status.processing_metadata
    rate = status.success_rate
    last = status.decisions[-1].reason if status.decisions else None
    lines = [
        f"batch {status.batch_id}" + (f" of tenant {status.tenant}" if status.tenant else ""),
        f"  state            {status.state}"
        + (f" ({status.final_reason})" if status.final_reason else ""),
    ]
    if status.final_reason or last:
        lines.append(
            f"  in words         {stop_reasons.explain(status.final_reason or last, status)}"
        )
    lines += [
        f"  essays           {status.essays}" + _arrival(status),
        f"  waves            {status.current_wave}",
        f"  comparisons      {status.submitted} of budget {status.total_budget}: "
        f"{status.succeeded} succeeded, {status.failed} failed, {status.pending} pending"
        + (f" (success rate {rate:.2f})" if rate is not None else ""),
    ]
    lines += [f"  {key:<24} {meta.get(key, '-')}" for key in COVERAGE_KEYS]
    if status.usage is not None:
        lines += usage_lines(status.usage)
    for label, text in (("assignment", status.assignment), ("rubric", status.rubric)):
        if text:
            lines += _indented(label, text)
    lines += [
        f"  after wave {decision.wave:>3}: {decision.action} ({decision.reason})"
        for decision in status.decisions
    ]
    return "\n".join(lines)


def _arrival(status: BatchStatus) -> str:
    """How far a chunked batch's essays have arrived, while they still arrive."""
    expected = status.essays_expected
    if expected is None or status.state != "created" or status.essays >= expected:
        return ""
    return f" of {expected} declared: {expected - status.essays} still to arrive (cj.add_essays)"


def usage_lines(usage: BatchUsage) -> list[str]:
    """The batch's usage sums, then one line per judge when there are several."""
    lines = [f"  {'usage':<16} {usage_words(usage.total)}"]
    if len(usage.judges) > 1:
        lines += [
            f"    {judge_id or '(no judge id)'}: {usage_words(sums)}"
            for judge_id, sums in usage.judges.items()
        ]
    return lines


def usage_words(sums: UsageSums) -> str:
    """Tokens, latency, retries and cost of some answers, in one line."""
    latency = sums.mean_latency_seconds
    cost = "cost unknown (no price)" if sums.cost is None else f"estimated cost {sums.cost:.4f}"
    if sums.cost is not None and sums.unpriced:
        cost += f" ({sums.unpriced} answers unpriced)"
    return (
        f"{sums.prompt_tokens} prompt + {sums.completion_tokens} completion tokens over "
        f"{sums.comparisons} answers, {sums.retries} retries, "
        f"mean latency {number(latency, 2)} s, {cost}"
    )


def _indented(label: str, text: str, shown: int = 3) -> list[str]:
    """``text`` under ``label``: its first ``shown`` lines, and how many more there are."""
    lines = text.splitlines() or [""]
    first = [f"  {label:<16} {lines[0]}", *(f"  {'':<16} {line}" for line in lines[1:shown])]
    if len(lines) > shown:
        first.append(f"  {'':<16} ... ({len(lines) - shown} more lines)")
    return first


# ------------------------------------------------------------------------ cost estimate


def cost_estimate(estimate: CostEstimate, judge: LlmJudge) -> str:
    """``submit --dry-run``: what the batch may spend if its whole budget is answered."""
    models = ", ".join(member.model for member in judge.members())

    def cost(value: float | None) -> str:
        return "unknown" if value is None else f"{value:.4f}"

    lines = [
        f"Estimate for {estimate.comparisons} comparisons (the whole budget) with {models}",
        f"  at {judge.base_url}; nothing was sent.",
        f"  prompt tokens      {estimate.prompt_tokens}",
        f"  completion tokens  {estimate.completion_tokens_expected} expected, at most "
        f"{estimate.completion_tokens_max} (max_tokens)",
        f"  cost               {cost(estimate.cost_expected)} expected, at most "
        f"{cost(estimate.cost_max)}",
    ]
    if estimate.unpriced_models:
        lines.append(
            f"  no price for {', '.join(estimate.unpriced_models)}: add it to the judge's "
            "prices (per million tokens) for a cost"
        )
    lines.append(
        "  Tokens are estimated at about 4 characters a token around essays of the batch's "
        "mean length."
    )
    return "\n".join(lines)


# ------------------------------------------------------------------------- other forms


def harness_json(rows: Sequence[SweepRow]) -> str:
    """Per-seed harness rows; a metric that was not measured is null (JSON has no NaN)."""
    records = [{key: _finite(value) for key, value in row.as_dict().items()} for row in rows]
    return json.dumps(records, indent=2, allow_nan=False)


def number(value: float | None, digits: int = 3) -> str:
    """A number for people: ``-`` when there is none."""
    return "-" if value is None else f"{value:.{digits}f}"


def _wrap(sentence: str) -> list[str]:
    """A sentence of the summary wrapped to ``WIDTH``, its continuation lines indented."""
    indent = " " * (len(sentence) - len(sentence.lstrip()) + 2)
    return textwrap.wrap(sentence, WIDTH, subsequent_indent=indent) or [""]


def _finite(value: str | int | float) -> str | int | float | None:
    return None if isinstance(value, float) and not math.isfinite(value) else value
