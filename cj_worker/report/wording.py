"""Every figure of a batch's results said in words, each with the threshold it is read against.

The report is read by teachers, not statisticians: a number without a sentence is either
ignored or misread (``budget_exhausted`` reads like an error, an anchor in another grade's
band like a contradiction). Each function here returns plain sentences from the
:class:`~cj_worker.report.model.ReportData`; the page escapes them.

Reliability bands: 0.9 / 0.8 / 0.7 / 0.5 are the cut-offs in common use for reliability
coefficients (0.7 for low-stakes use, 0.9 for decisions with consequences). For comparative
judgement, the meta-analysis of Verhavert, Bouwer, Donche & De Maeyer (2019, Assessment in
Education 26(5)) found that about 10-14 comparisons per essay reach 0.70 and 26-37 reach
0.90; ``FEW_COMPARISONS_PER_ESSAY`` is the lower end of the first range.
"""

from __future__ import annotations

from dataclasses import dataclass

from cj_worker import stop_reasons
from cj_worker.budget import MIN_USEFUL_COMPARISONS_PER_ESSAY
from cj_worker.core.bt import MIN_ESSAYS_FOR_RELIABILITY
from cj_worker.core.misfit import (
    ESSAY_MISFIT_LEVEL,
    INFIT_LIMIT,
    JUDGE_MISFIT_LEVEL,
    MIN_COMPARISONS_FOR_MISFIT,
)
from cj_worker.report.model import ReportData, ReportEssay

RELIABILITY_BANDS: tuple[tuple[float, str], ...] = (
    (0.90, "high: the order is dependable, also for decisions with consequences"),
    (0.80, "consistent enough to rank; essays close together may still swap places"),
    (0.70, "enough for a rough ranking; neighbours often swap, so trust only larger gaps"),
    (0.50, "low: only the top, middle and bottom groups can be told apart"),
    (0.00, "too low to rank: the order is mostly chance; more comparisons are needed"),
)
"""(lowest value of the band, what it means), highest band first."""

FEW_COMPARISONS_PER_ESSAY = MIN_USEFUL_COMPARISONS_PER_ESSAY
"""Below this many comparisons per essay the report warns (Verhavert et al. 2019: about
10-14 per essay for a reliability of 0.70)."""

OUTFIT_NOTE_LIMIT = 2.0
"""An outfit above this is mentioned even when the essay is not flagged: a mean square
above 2 is the conventional sign that surprises distort the measure (Linacre), and outfit,
unweighted, is where a single upset against a much weaker or stronger essay shows."""

RELIABILITY_SOURCE = (
    "Bands: 0.9 and above high, 0.8 consistent, 0.7 rough, 0.5 low, below 0.5 too low "
    "(cut-offs in common use for reliability coefficients). For comparative judgement, "
    "Verhavert et al. (2019) found about 10-14 comparisons per essay reach 0.70 and 26-37 "
    "reach 0.90."
)


def reliability_words(value: float) -> str:
    """``value`` and what it means, e.g. ``0.85: consistent enough to rank; ...``."""
    meaning = next(words for floor, words in RELIABILITY_BANDS if value >= floor)
    return f"{value:.2f}: {meaning}"


ORDER_EFFECT_Z = 1.959963984540054
"""An order effect is mentioned when its 95 % interval excludes 0."""


def headline_reliability(data: ReportData) -> tuple[str, float] | None:
    """(name, value) of the figure to lead with: the hierarchical fit's reliability, which
    stays honest under adaptive pairing (split-half and SSR do not: issue 10 measured them
    up to 0.20 and 0.31 above the truth); None below ``MIN_ESSAYS_FOR_RELIABILITY`` essays
    or for results stored before it existed."""
    if data.reliability is None:
        return None
    return "reliability", data.reliability


def reliability_sentences(data: ReportData) -> list[str]:
    """The headline reliability in words, then the secondary figures and their caveats."""
    headline = headline_reliability(data)
    if headline is None:
        sentences = [
            "Reliability was not estimated: it needs at least "
            f"{MIN_ESSAYS_FOR_RELIABILITY} essays with comparisons."
        ]
    else:
        sentences = [
            f"Reliability {reliability_words(headline[1])}. It estimates how closely this "
            "order follows the true one (the squared correlation), allowing for how the "
            "pairs were chosen."
        ]
        if data.shows_signal is False:
            sentences.append(
                "The judges' decisions cannot be told apart from coin flips, so the order "
                "is chance."
            )
    order = order_effect_sentence(data.slot_effect, data.slot_effect_se)
    if order is not None:
        sentences.append(order)
    if data.separation is not None:
        strata = (4.0 * data.separation + 1.0) / 3.0
        sentences.append(
            f"Separation {data.separation:.1f}: the judges tell about {strata:.1f} levels "
            "of quality apart."
        )
    secondary = [
        f"{name} {value:.2f}"
        for name, value in (("split-half", data.split_half), ("SSR", data.ssr))
        if value is not None
    ]
    if secondary:
        sentences.append(
            f"As other comparative-judgement tools report it: {' and '.join(secondary)}; "
            "these overstate the truth when pairs are chosen adaptively, as here, so they "
            "are not the headline."
        )
    return sentences


def order_effect_sentence(slot_effect: float | None, standard_error: float | None) -> str | None:
    """One sentence on the judges' preference for the essay shown first, when its 95 %
    interval excludes 0; None otherwise (no preference worth a word, or not measured)."""
    if slot_effect is None or standard_error is None:
        return None
    if abs(slot_effect) <= ORDER_EFFECT_Z * standard_error:
        return None
    shown = "first" if slot_effect > 0 else "second"
    return (
        f"Judges favoured the essay shown {shown} by {abs(slot_effect):.2f} logits "
        f"± {standard_error:.2f}; the scores allow for it."
    )


def comparisons_sentence(data: ReportData) -> str:
    """Comparisons per essay, with a warning below ``FEW_COMPARISONS_PER_ESSAY``."""
    per_essay = data.comparisons_per_essay
    sentence = f"Each essay was compared {per_essay:.1f} times on average."
    if data.essays and per_essay < FEW_COMPARISONS_PER_ESSAY:
        sentence += (
            f" That is few: below {FEW_COMPARISONS_PER_ESSAY:.0f} per essay a ranking is "
            "rarely reliable (Verhavert et al. 2019: about 10-14 per essay for 0.70); "
            "a larger budget would help."
        )
    return sentence


@dataclass(frozen=True)
class _Figures:
    """The report's counters under the names :mod:`cj_worker.stop_reasons` quotes."""

    essays: int
    total_budget: int
    submitted: int
    failed: int
    current_wave: int


def stop_reason_sentence(data: ReportData) -> str:
    """Why the batch ended, in words and with its numbers: the CLI's sentence, shared."""
    if data.stop_reason is None:
        return f"Not finished yet (state: {data.state})."
    figures = _Figures(
        essays=len(data.essays),
        total_budget=data.total_budget,
        submitted=data.comparisons_made,
        failed=data.comparisons_failed,
        current_wave=data.waves,
    )
    return stop_reasons.explain(data.stop_reason, figures)


def interpolated_grades(data: ReportData) -> list[str]:
    """Grades without anchors, whose bands are interpolated or extrapolated."""
    if not data.graded:
        return []
    return [grade for grade, count in data.anchor_counts.items() if count == 0]


def grading_sentences(data: ReportData) -> list[str]:
    """Where the grades come from, or why there are none."""
    if not data.graded:
        reason = data.grading_explanation or "the batch has no grade calibration"
        sentences = [f"No grades: {reason}."]
        if data.grading_status in (None, "no_anchors", "one_anchor_grade"):
            sentences.append(
                "To get grades, include anchors: essays with a known grade, of at least "
                "two different grades."
            )
        return sentences
    anchors = sum(1 for essay in data.essays if essay.is_anchor)
    sentences = [
        f"Grades come from the {anchors} anchors (essays with a known grade): the anchors' "
        "scores fix where each grade's band lies, and every other essay gets the grade it "
        "most probably belongs to, with that probability as its confidence. Anchors keep "
        "their known grade."
    ]
    missing = interpolated_grades(data)
    if missing:
        sentences.append(
            f"No anchor has grade {_join(missing)}: "
            + ("that band is" if len(missing) == 1 else "those bands are")
            + " interpolated between the anchored grades (or extended beyond them), so "
            "grades there rest on fewer facts."
        )
    return sentences


def anchor_outside_band(data: ReportData, essay: ReportEssay) -> str | None:
    """The band an anchor's score falls in, when that is not its known grade's."""
    if not essay.is_anchor or essay.grade is None:
        return None
    band = data.band_of(essay.score)
    return band if band is not None and band != essay.grade else None


def anchor_sentences(data: ReportData) -> list[str]:
    """One sentence per anchor the fit places outside its own grade's band."""
    sentences = []
    for essay in data.essays:
        band = anchor_outside_band(data, essay)
        if band is None or essay.grade is None:
            continue
        direction = (
            "weaker" if data.grades.index(band) < data.grades.index(essay.grade) else "stronger"
        )
        sentence = (
            f"Anchor {essay.essay_id} (known grade {essay.grade}) scored {essay.score:+.2f}, "
            f"inside the {band} band: the judges found it {direction} than its grade "
            f"suggests. It keeps its known grade {essay.grade}; the bands are fitted to all "
            "anchors together, so a single anchor can fall outside its own."
        )
        if essay.projected_grade not in (None, band, essay.grade):
            sentence += (
                " Taking its uncertainty into account, the fit would grade it "
                f"{essay.projected_grade}."
            )
        sentences.append(sentence)
    return sentences


def judge_sentences(data: ReportData) -> list[str]:
    """The judges' misfit in words."""
    if not data.judges:
        return ["No judge information was recorded."]
    rule = misfit_rule("judge", JUDGE_MISFIT_LEVEL)
    flagged = [judge for judge in data.judges if judge.misfit]
    total = len(data.judges)
    if flagged:
        names = ", ".join(
            f"{_judge_name(judge.judge_id)} (infit {_number(judge.infit)}, "
            f"{judge.comparisons} comparisons)"
            for judge in flagged
        )
        sentences = [
            f"{len(flagged)} of {total} judges disagree with the others more than chance "
            f"explains: {names} {rule}. Read a sample of their decisions; their comparisons "
            "still count in the scores."
        ]
    else:
        sentences = [
            f"No judge disagrees with the others more than chance explains ({total} "
            f"{'judge' if total == 1 else 'judges'}) {rule}."
        ]
    few = sum(1 for judge in data.judges if judge.comparisons < MIN_COMPARISONS_FOR_MISFIT)
    if few:
        sentences.append(
            f"{few} {'judge' if few == 1 else 'judges'} made fewer than "
            f"{MIN_COMPARISONS_FOR_MISFIT} comparisons: too few to tell."
        )
    return sentences


def misfit_rule(group: str, level: float) -> str:
    """How a judge's or an essay's flag is decided, in a parenthesis for the sentences."""
    article = "an" if group[0] in "aeiou" else "a"
    return (
        f"({article} {group} with at least {MIN_COMPARISONS_FOR_MISFIT} comparisons is flagged "
        f"when its results are less predictable than the scores predict, in a test at the "
        f"{level:.0%} level: about 1 in {round(1 / level)} consistent {group}s is flagged by "
        "chance)"
    )


def essay_fit_words(essay: ReportEssay) -> str:
    """One essay's fit, in a few words for the table."""
    if essay.misfit:
        return "inconsistent judgements"
    if essay.outfit is not None and essay.outfit > OUTFIT_NOTE_LIMIT:
        return "a surprising result"
    if essay.infit is None or essay.comparisons < MIN_COMPARISONS_FOR_MISFIT:
        return "too few comparisons to tell"
    return "consistent"


def essay_sentences(data: ReportData) -> list[str]:
    """The essays' misfit in words: flagged essays, then unflagged surprises."""
    rule = misfit_rule("essay", ESSAY_MISFIT_LEVEL)
    flagged = [essay for essay in data.essays if essay.misfit]
    if flagged:
        sentences = [
            f"{len(flagged)} {'essay' if len(flagged) == 1 else 'essays'} drew inconsistent "
            f"judgements, more than chance explains: {_ids(flagged)} {rule}. They may be "
            "unusual, off-topic or hard to compare; a second read is worthwhile."
        ]
    else:
        sentences = [f"No essay drew more inconsistent judgements than chance explains {rule}."]
    surprises = [
        essay
        for essay in data.essays
        if not essay.misfit and essay.outfit is not None and essay.outfit > OUTFIT_NOTE_LIMIT
    ]
    if surprises:
        listed = ", ".join(f"{e.essay_id} (outfit {e.outfit:.1f})" for e in surprises)
        sentences.append(
            f"Not flagged but worth a look, with an outfit above {OUTFIT_NOTE_LIMIT:.0f}: "
            f"{listed}. At least one result went strongly against the rest (for example "
            "a loss to a much weaker essay); the flag tests all of an essay's results "
            "together, so one upset seldom raises it."
        )
    return sentences


def legend(data: ReportData) -> list[tuple[str, str]]:
    """(term, explanation) for every figure the page shows."""
    return [
        ("Rank", "1 is the best essay in the judges' view."),
        (
            "Score",
            "How strongly the judges preferred the essay, on a logit scale centred at 0 "
            "(higher = better). A difference of 1 means the higher essay wins a comparison "
            "about 73 % of the time, 2 about 88 %.",
        ),
        (
            "95 % interval",
            "Score plus or minus 1.96 standard errors: the range the essay's true score "
            "most likely lies in. Essays whose intervals overlap a lot may swap places. In "
            "the table, the strip spans the whole batch: the dot is the score, the grey bar "
            "the interval.",
        ),
        ("Comparisons (wins)", "How often the essay was judged, and how often it won."),
        (
            "Grade",
            "For an anchor its known grade; for any other essay the grade whose band its "
            "score most probably lies in. Colours run from dark (lowest grade) to light "
            "(highest).",
        ),
        (
            "Confidence bar",
            "The probability of the grade shown: a full bar is certain; a short bar means "
            "the essay sits near a boundary and a neighbouring grade is almost as likely.",
        ),
        (
            "Anchor",
            "An essay whose grade was known beforehand; anchors place the grade bands. "
            "One the judges placed in another grade's band is marked, with a sentence.",
        ),
        (
            "Interpolated grade",
            "A grade no anchor has: its band is placed between (or beyond) the anchored "
            "grades, so grades there are less certain.",
        ),
        (
            "Reliability",
            "How closely the order follows the true one (an estimate of the squared "
            "correlation), from a model that also estimates how widely quality varies; "
            "0 when the decisions look like coin flips; not given below "
            f"{MIN_ESSAYS_FOR_RELIABILITY} essays. " + RELIABILITY_SOURCE,
        ),
        (
            "Split-half reliability",
            "Secondary. The judgements are split in two, each half scored on its own, and "
            "the two rankings correlated (stepped up to the full number of judgements); "
            "averaged over 8 random splits. Adaptive pairing inflates it.",
        ),
        (
            "SSR",
            "Secondary. Scale separation reliability: the share of the scores' spread "
            "that is not measurement error, as other tools report it. Adaptive pairing "
            "inflates it.",
        ),
        (
            "Order effect",
            "Judges may favour the essay shown first (or second); the scores allow for "
            "it, and the summary mentions it when it is larger than chance.",
        ),
        (
            "Separation",
            "The spread of true quality in standard errors; (4 x separation + 1) / 3 is "
            "the number of levels the judges can tell apart.",
        ),
        (
            "Fit (infit, outfit)",
            "Whether the essay's or judge's results agree with the ranking: 1 is as "
            f"expected. Infit weighs close pairs (above {INFIT_LIMIT}: more surprises than "
            "expected); outfit counts every result equally (above "
            f"{OUTFIT_NOTE_LIMIT:.0f}: at least one big upset). They describe; the flag "
            "decides.",
        ),
        (
            "Misfit flag",
            "A test of whether the essay's or judge's results are less predictable than "
            "the scores predict, allowing for the scores' own uncertainty (a posterior-"
            f"predictive test at the {ESSAY_MISFIT_LEVEL:.0%} level, from "
            f"{MIN_COMPARISONS_FOR_MISFIT} comparisons): about 1 in "
            f"{round(1 / ESSAY_MISFIT_LEVEL)} consistent essays or judges is flagged by "
            "chance, so a flag is a reason to look, not a verdict.",
        ),
        (
            "Stop reason",
            "Why the engine stopped asking for comparisons; the budget is the most it may use.",
        ),
    ]


def _ids(essays: list[ReportEssay]) -> str:
    return ", ".join(essay.essay_id for essay in essays)


def _judge_name(judge_id: str | None) -> str:
    return "the unnamed judge" if judge_id is None else judge_id


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _join(words: list[str]) -> str:
    if len(words) == 1:
        return words[0]
    return ", ".join(words[:-1]) + " or " + words[-1]
