"""Score comparative-judgement decisions made elsewhere: ``cj_worker.score(...)``.

Researchers and schools hold decisions from other tools (No More Marking, RM Compare,
their own studies). :func:`score` gives them what a finished batch reports, from the same
core and in the same shape, with no server: per essay the score, SE, rank, wins, misfit
and (with anchors) grade; per judge the misfit; the engine's reliability; and beside it,
labelled, the CJ literature's own figures (:mod:`cj_worker.core.literature`), so a study
can be compared with published ones.

The result's :attr:`ScoreResults.results` is a
:class:`~cj_worker.db.repositories.reports.BatchResults`, the read model of a batch, so
every renderer of a batch (``export``'s text, JSON and CSV, the HTML report, the plot)
takes it unchanged. What only imported decisions have (the rows that were not decisions,
the literature's figures, the graph's components, never-compared items) is in
:class:`ScoreResults` beside it and in :meth:`ScoreResults.as_dict`.

How the batch's fields read here: ``comparisons_made`` = rows read, ``succeeded`` =
decisions used, ``failed`` = rows excluded (missing winner or loser, self-comparisons,
ties; :mod:`cj_worker.decisions_file` has the rules), ``waves`` = 0; ``ssr`` and
``separation`` are pooled within the graph's components and never count a never-compared
item (:mod:`cj_worker.core.components`), which for a connected net is the batch's SSR;
``split_half`` is the engine's (comparisons split, Spearman-Brown), as for a batch.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import ThreadpoolController

from cj_worker.core.array_types import IntArray
from cj_worker.core.batch_report import BatchReport, report_batch
from cj_worker.core.bt import BTFit, PriorMode, SEMethod, fit_bradley_terry
from cj_worker.core.components import GraphReliability, graph_components, graph_reliability
from cj_worker.core.grade_scales import (
    DEFAULT_GRADE_SCALE,
    GradeScale,
    GradeScaleError,
    built_in_scale,
)
from cj_worker.core.grading import NO_GRADE
from cj_worker.core.judge_screen import fit_setting_aside_noise
from cj_worker.core.judgements import Judgements
from cj_worker.core.literature import (
    JUDGE_SPLITS,
    SIRT_EPSILON,
    SIRT_MAX_ITERATIONS,
    JudgeSplitHalf,
    judge_split_half,
    sirt_btm,
)
from cj_worker.core.reliability import DEFAULT_SPLITS
from cj_worker.db.repositories.reports import BatchResults, BatchStatus
from cj_worker.db.results import EssayResult, essay_result, finite
from cj_worker.decisions_file import (
    DecisionFileError,
    DecisionSet,
    TiePolicy,
    decisions_from_rows,
    read_decisions,
)
from cj_worker.errors import EXIT_USER_ERROR, CJWorkerError
from cj_worker.stop_reasons import EXTERNAL_DECISIONS

__all__ = [
    "SCORED_REASON",
    "LiteratureFigures",
    "ScoreResults",
    "ScoringInputError",
    "read_anchors",
    "score",
]

_BLAS = ThreadpoolController()

SCORED_REASON = EXTERNAL_DECISIONS
"""The stop reason of scored decisions: the decisions were made elsewhere, nothing ran."""
EXACT_SE_MAX_ITEMS = 5_000
"""Largest connected component whose SEs :func:`score` computes exactly (dense inverse;
measured 0.3 s at 2,000 items and about 3 s at 5,000 on two cores). A batch's continuation
refits every wave and approximates above 2,000; a one-off score can afford more."""
SPLIT_HALF_SEED_STREAM = 1
LITERATURE_SEED_STREAM = 2
"""Mixed into ``seed``: the engine's and the literature's splits draw apart."""
DEFAULT_PRIOR_PRECISION = 0.01
"""The floor of the hierarchical prior's precision, as a batch's ``bt_prior_precision``."""


class ScoringInputError(CJWorkerError, ValueError, exit_code=EXIT_USER_ERROR):
    """Anchors, a grade scale or decisions that cannot be scored; the message says why."""


@dataclass(frozen=True)
class LiteratureFigures:
    """The CJ literature's figures (:mod:`cj_worker.core.literature`), for comparison with
    published studies; they are not the engine's estimates."""

    ssr: float
    """sepG^2 / (1 + sepG^2) of ``sirt::btm(eps = 0.3)`` on every decision used."""
    separation: float
    """sirt's ``sepG``."""
    iterations: int
    converged: bool
    split_half: JudgeSplitHalf | None
    """Median r of judge-split halves; None when the decisions name no judges."""

    def as_dict(self) -> dict[str, Any]:
        split = self.split_half
        return {
            "ssr": finite(self.ssr),
            "separation": finite(self.separation),
            "ssr_method": (
                f"sirt::btm(eps={SIRT_EPSILON}, fix.eta=0, ignore.ties=TRUE, "
                f"maxit={SIRT_MAX_ITERATIONS}): sepG^2 / (1 + sepG^2), diagonal SEs"
            ),
            "converged": self.converged,
            "iterations": self.iterations,
            "split_half": None if split is None else finite(split.median),
            "split_half_method": (
                "median Pearson r between sirt::btm scores of random judge halves, "
                "no Spearman-Brown"
            ),
            "split_half_splits": 0 if split is None else int(split.correlations.size),
            "split_half_undefined_splits": (
                0 if split is None else int(np.isnan(split.correlations).sum())
            ),
            "judges": None if split is None else split.judges,
            "source": "Kinnear, Jones & Davies (2025), Behavior Research Methods",
        }


@dataclass(frozen=True)
class ScoreResults:
    """What :func:`score` returns: a batch's results and what only imported decisions have."""

    results: BatchResults
    """Ranks, scores, SEs, grades, misfit, reliability: every batch renderer takes it."""
    decisions: DecisionSet
    items: tuple[str, ...]
    """The compared items' ids, in the order of the fit (first appearance)."""
    never_compared: tuple[str, ...]
    """Ids named by the decisions or the anchors without a usable decision: not scored."""
    headline_reliability: float
    """The engine's reliability (the hierarchical fit's estimate of the squared correlation
    with the truth) over the compared items; NaN below ``MIN_ESSAYS_FOR_RELIABILITY``
    compared essays."""
    literature: LiteratureFigures
    graph: GraphReliability
    fit: BTFit
    report: BatchReport
    judge_ids: tuple[str | None, ...]
    """The judge of each judge index (None: rows without a judge); empty without judges."""
    slots_known: bool
    """Every decision said in which slot its winner was shown (else no position figure)."""

    @property
    def essays(self) -> list[EssayResult]:
        return self.results.essays

    def to_csv(self) -> str:
        """The batch export's CSV: one row per scored essay."""
        return self.results.to_csv()

    def as_dict(self) -> dict[str, Any]:
        """The batch export's JSON plus the figures and facts only imported decisions have."""
        fit = self.fit
        multiple = not self.graph.connected
        return {
            **self.results.as_dict(),
            "headline_reliability": finite(self.headline_reliability),
            "literature": self.literature.as_dict(),
            "components": [
                {
                    "essays": int(part.items.size),
                    "comparisons": part.comparisons,
                    "headline_reliability": finite(part.reliability),
                    "ssr": finite(part.ssr),
                    "literature_ssr": finite(part.sirt_ssr),
                    **({"ids": [self.items[i] for i in part.items]} if multiple else {}),
                }
                for part in self.graph.components
            ],
            "never_compared": list(self.never_compared),
            "decisions": {
                "source": self.decisions.source,
                **self.decisions.counts(),
                "excluded": [
                    {"row": row.row, "reason": row.reason.value, "ids": list(row.items)}
                    for row in self.decisions.excluded
                ],
                "judges_known": self.decisions.has_judges,
                "slots_known": self.slots_known,
                "ignored_fields": list(self.decisions.ignored_fields),
            },
            "fit": {
                "prior_mode": fit.prior_mode.value,
                "prior_sd": finite(fit.prior_sd),
                "se_method": fit.diagnostics.se_method.value,
                "converged": fit.diagnostics.converged,
                "components": fit.diagnostics.n_components,
            },
        }


DecisionsInput = str | PathLike[str] | Iterable[Mapping[str, Any]] | DecisionSet
AnchorsInput = str | PathLike[str] | Mapping[str, str]


def score(
    decisions: DecisionsInput,
    *,
    anchors: AnchorsInput | None = None,
    grade_scale: str | Mapping[str, Any] | GradeScale | None = None,
    ties: TiePolicy = "drop",
    seed: int = 0,
    literature_splits: int = JUDGE_SPLITS,
    split_half_splits: int = DEFAULT_SPLITS,
    prior_precision: float = DEFAULT_PRIOR_PRECISION,
) -> ScoreResults:
    """Score ``decisions`` as a batch would be scored, and add the literature's figures.

    ``decisions``: a decision file's path (``.csv``, ``.tsv``, ``.jsonl``), mappings with
    the same fields, or a :class:`~cj_worker.decisions_file.DecisionSet`. ``anchors``: a
    file with ``id`` and ``grade`` (an essay file's ``is_anchor`` column is honoured) or a
    mapping id -> grade; grades must be in ``grade_scale`` (a built-in name, a JSON-like
    ``{"grades": [...], "priors": [...]}`` or a :class:`GradeScale`; default the batch
    default). ``seed`` makes the random splits repeatable. Raises
    :class:`~cj_worker.decisions_file.DecisionFileError` or :class:`ScoringInputError`
    (both :class:`ValueError`) for input that cannot be scored.
    """
    started = time.perf_counter()
    decision_set = _decision_set(decisions, ties)
    scale = _scale(grade_scale)
    known_grades = _anchors(anchors)
    for essay_id, grade in known_grades.items():
        if grade not in scale.grades:
            raise ScoringInputError(
                f"anchor {essay_id!r}: grade {grade!r} is not in scale {scale.name!r} "
                f"({', '.join(scale.grades)}); choose the scale with grade_scale"
            )
    used = decision_set.decisions
    if not used:
        raise ScoringInputError(
            f"{decision_set.source}: no usable decision among {decision_set.rows} rows "
            f"({_exclusions(decision_set)})"
        )
    index: dict[str, int] = {}
    for decision in used:
        index.setdefault(decision.winner, len(index))
        index.setdefault(decision.loser, len(index))
    items = tuple(index)
    named = [*decision_set.items(), *known_grades]
    never_compared = tuple(dict.fromkeys(item for item in named if item not in index))
    n = len(items)
    winners = np.array([index[d.winner] for d in used], dtype=np.intp)
    losers = np.array([index[d.loser] for d in used], dtype=np.intp)
    judge_ids, judges = _judges(decision_set)
    b_won = np.array([d.winner_slot == "B" for d in used], dtype=bool)
    judgements = Judgements(
        n_essays=n,
        slot_a=np.where(b_won, losers, winners).astype(np.intp),
        slot_b=np.where(b_won, winners, losers).astype(np.intp),
        a_won=~b_won,
        judge=judges,
        n_judges=max(len(judge_ids), 1),
    )
    components, _ = graph_components(n, winners, losers)
    largest = max(part.size for part in components)
    se_method = SEMethod.EXACT if largest <= EXACT_SE_MAX_ITEMS else SEMethod.AUTO
    with _BLAS.limit(limits=1, user_api="blas"):
        # One BLAS thread: the exact SEs' dense inverse ran 4-6x slower with two threads
        # on a busy two-core machine (8.8 s against 1.3 s at 2,150 essays), and gains
        # less than 2x on an idle one.
        # Empirical Bayes (tau from the data) as a batch's default; with the slots known,
        # the order effect is modelled, so a preference for slot A biases no score.
        def fit_of(decisions: Judgements) -> BTFit:
            return fit_bradley_terry(
                n,
                *decisions.outcomes(),
                prior_precision,
                prior_mode=PriorMode.EMPIRICAL_BAYES,
                se_method=se_method,
                winner_in_slot_a=decisions.a_won if decision_set.slots_known else None,
            )

        # Judges whose decisions are noise are set aside (core.judge_screen): every figure
        # below but the judges' own comes from the decisions kept.
        screened = fit_setting_aside_noise(judgements, fit_of)
    fit = screened.fit
    winners, losers = screened.judgements.outcomes()
    judges = screened.judgements.judge
    anchor_grades = np.array(
        [
            scale.grades.index(known_grades[item]) if item in known_grades else NO_GRADE
            for item in items
        ],
        dtype=np.intp,
    )
    report = report_batch(
        fit,
        judgements,
        anchor_grades,
        scale,
        np.random.default_rng([seed, SPLIT_HALF_SEED_STREAM]),
        splits=split_half_splits,
        screened=screened,
    )
    sirt = sirt_btm(n, winners, losers)
    graph = graph_reliability(n, winners, losers, fit, literature=sirt, se_method=se_method)
    split = (
        judge_split_half(
            n,
            winners,
            losers,
            judges,
            np.random.default_rng([seed, LITERATURE_SEED_STREAM]),
            literature_splits,
        )
        if decision_set.has_judges and literature_splits > 0
        else None
    )
    literature = LiteratureFigures(
        sirt.ssr, sirt.separation, sirt.iterations, sirt.converged, split
    )
    slots_known = decision_set.slots_known
    essays = sorted(
        (
            essay_result(
                i,
                item,
                report,
                scale,
                is_anchor=item in known_grades,
                given_grade=known_grades.get(item),
            )
            for i, item in enumerate(items)
        ),
        key=lambda essay: essay.rank,
    )
    results = _batch_results(
        decision_set,
        scale,
        report,
        graph,
        essays,
        judge_ids if decision_set.has_judges else (),
        slots_known,
        time.perf_counter() - started,
        _digest(decision_set, known_grades),
    )
    return ScoreResults(
        results=results,
        decisions=decision_set,
        items=items,
        never_compared=never_compared,
        headline_reliability=graph.reliability,
        literature=literature,
        graph=graph,
        fit=fit,
        report=report,
        judge_ids=judge_ids if decision_set.has_judges else (),
        slots_known=slots_known,
    )


# ----------------------------------------------------------------------------- inputs


def read_anchors(path: str | PathLike[str]) -> dict[str, str]:
    """Anchor id -> grade from a ``.csv`` or ``.jsonl`` file with ``id`` and ``grade``.

    An essay file works too: with an ``is_anchor`` column only rows marked true count.
    """
    file = Path(path)
    source = str(file)
    if not file.is_file():
        raise ScoringInputError(f"{source}: no such file")
    try:
        text = file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise ScoringInputError(f"{source}: cannot read ({error})") from None
    suffix = file.suffix.lower()
    records: list[tuple[int, Mapping[str, Any]]] = []
    if suffix in (".jsonl", ".ndjson"):
        for line_number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise ScoringInputError(
                    f"{source}:{line_number}: invalid JSON ({error.msg})"
                ) from None
            if not isinstance(record, dict):
                raise ScoringInputError(f"{source}:{line_number}: expected a JSON object")
            records.append((line_number, record))
    elif suffix == ".csv":
        reader = csv.DictReader(io.StringIO(text, newline=""))
        names = [name.strip().lower() for name in reader.fieldnames or ()]
        if "id" not in names or "grade" not in names:
            raise ScoringInputError(f"{source}: the header needs 'id' and 'grade' columns")
        records.extend(
            (reader.line_num, {key.strip().lower(): value for key, value in row.items() if key})
            for row in reader
        )
    else:
        raise ScoringInputError(f"{source}: expected a .csv or .jsonl anchor file")
    anchors: dict[str, str] = {}
    for row, record in records:
        essay_id, grade = _text(record.get("id")), _text(record.get("grade"))
        marked = record.get("is_anchor")
        if marked is not None and not _truthy(marked):
            continue
        if essay_id is None:
            raise ScoringInputError(f"{source}:{row}: id: missing")
        if grade is None:
            if marked is None:
                raise ScoringInputError(f"{source}:{row}: grade: missing for anchor {essay_id!r}")
            raise ScoringInputError(f"{source}:{row}: grade: an anchor needs its grade")
        if anchors.get(essay_id, grade) != grade:
            raise ScoringInputError(
                f"{source}:{row}: id: anchor {essay_id!r} has two grades "
                f"({anchors[essay_id]!r} and {grade!r})"
            )
        anchors[essay_id] = grade
    return anchors


def _decision_set(decisions: DecisionsInput, ties: TiePolicy) -> DecisionSet:
    if isinstance(decisions, DecisionSet):
        return decisions
    if isinstance(decisions, str | PathLike):
        return read_decisions(Path(decisions), ties=ties)
    if isinstance(decisions, Mapping):
        raise DecisionFileError("rows", "expected rows (an iterable of mappings), got a mapping")
    return decisions_from_rows(decisions, ties=ties)


def _anchors(anchors: AnchorsInput | None) -> dict[str, str]:
    if anchors is None:
        return {}
    if isinstance(anchors, str | PathLike):
        return read_anchors(anchors)
    result: dict[str, str] = {}
    for essay_id, grade in anchors.items():
        if not isinstance(essay_id, str) or not isinstance(grade, str):
            raise ScoringInputError(
                f"anchors map string ids to string grades, got {essay_id!r}: {grade!r}"
            )
        result[essay_id.strip()] = grade.strip()
    return result


def _scale(grade_scale: str | Mapping[str, Any] | GradeScale | None) -> GradeScale:
    if grade_scale is None:
        return built_in_scale(DEFAULT_GRADE_SCALE)
    if isinstance(grade_scale, GradeScale):
        return grade_scale
    if isinstance(grade_scale, str):
        return built_in_scale(grade_scale)
    grades = grade_scale.get("grades")
    priors = grade_scale.get("priors")
    if not isinstance(grades, list | tuple) or not all(isinstance(g, str) for g in grades):
        raise GradeScaleError("a grade scale needs 'grades': a list of grade labels")
    if priors is not None and not isinstance(priors, list | tuple):
        raise GradeScaleError("a grade scale's 'priors' must be a list of numbers")
    return GradeScale(
        str(grade_scale.get("name", "custom")),
        tuple(grades),
        None if priors is None else tuple(float(p) for p in priors),
    )


def _judges(decision_set: DecisionSet) -> tuple[tuple[str | None, ...], IntArray]:
    """Judge ids in order of first appearance (None for rows without one) and the index of
    each decision's judge; a set without a judge field has one anonymous judge."""
    if not decision_set.has_judges:
        return (), np.zeros(len(decision_set.decisions), dtype=np.intp)
    order: dict[str | None, int] = {}
    indices = [order.setdefault(d.judge, len(order)) for d in decision_set.decisions]
    return tuple(order), np.array(indices, dtype=np.intp)


# ---------------------------------------------------------------------------- results


def _batch_results(
    decision_set: DecisionSet,
    scale: GradeScale,
    report: BatchReport,
    graph: GraphReliability,
    essays: list[EssayResult],
    judge_ids: Sequence[str | None],
    slots_known: bool,
    duration: float,
    digest: str,
) -> BatchResults:
    now = datetime.now(UTC)
    counts = decision_set.counts()
    status = BatchStatus(
        batch_id=uuid.uuid5(uuid.NAMESPACE_URL, f"cj-worker:score:{digest}"),
        state="completed",
        final_reason=SCORED_REASON,
        essays=len(essays),
        total_budget=decision_set.rows,
        current_wave=0,
        submitted=decision_set.rows,
        succeeded=counts["decisions"],
        failed=decision_set.rows - counts["decisions"],
        pending=0,
        processing_metadata={"source": decision_set.source, "decisions": counts},
        created_at=now,
        completed_at=now,
    )
    reliability = report.reliability
    split_half = reliability.split_half
    ssr = finite(graph.ssr)
    projection = report.grades
    calibration = projection.calibration
    stats = report.judges
    return BatchResults(
        status=status,
        stop_reason=SCORED_REASON,
        ssr=ssr,
        split_half=split_half,
        separation=finite(graph.separation),
        duration_seconds=duration,
        grade_scale=scale.as_json(),
        grading={
            "scale": scale.as_json(),
            "status": projection.status.value,
            "explanation": projection.status.explanation,
            "calibration": None if calibration is None else calibration.as_json(),
        },
        judges=[
            {
                "judge_id": judge_id,
                "comparisons": int(stats.comparisons[j]),
                "infit": finite(stats.infit[j]),
                "outfit": finite(stats.outfit[j]),
                "infit_z": finite(stats.infit_z[j]),
                "misfit": bool(stats.misfit[j]),
                "slot_a_share": finite(report.judge_slot_a_share[j]) if slots_known else None,
                "reversed_pairs": int(report.judge_reversal_pairs[j]) if slots_known else 0,
                "reversal_consistency": (
                    finite(report.judge_reversal_consistency[j]) if slots_known else None
                ),
                "set_aside": bool(np.isin(j, report.judges_set_aside)),
            }
            for j, judge_id in enumerate(judge_ids)
        ],
        essays=essays,
        reliability=finite(graph.reliability),
        prior_sd=reliability.prior_sd,
        shows_signal=reliability.shows_signal,
        slot_effect=reliability.slot_effect,
        slot_effect_se=reliability.slot_effect_se,
    )


def _digest(decision_set: DecisionSet, anchors: Mapping[str, str]) -> str:
    """A fingerprint of the input: the same decisions and anchors get the same batch id."""
    content = json.dumps(
        [
            [[d.winner, d.loser, d.judge, d.winner_slot] for d in decision_set.decisions],
            [[e.row, e.reason.value, list(e.items)] for e in decision_set.excluded],
            sorted(anchors.items()),
        ]
    )
    return hashlib.sha256(content.encode()).hexdigest()


def _exclusions(decision_set: DecisionSet) -> str:
    counts = decision_set.counts()
    parts = [
        f"{counts[key]} {key.replace('_', ' ')}"
        for key in ("missing_winner", "missing_loser", "self_comparison", "tie")
        if counts[key]
    ]
    return ", ".join(parts) or "none"


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _truthy(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("1", "true", "yes", "y", "t")
