"""Why a batch stopped (or what it is doing), in one sentence with its numbers.

The reason codes of :class:`cj_worker.core.decision.Reason` are for logs and programs;
``budget_exhausted`` reads like an error to a teacher although it is the normal ending,
and ``max_iterations`` hides that part of the budget was never spent. Every code has a
sentence here (tested against the enum), so the command line, and any other reader of a
batch's status, says the same thing the same way.

Pure: it reads the counters through :class:`RunFigures`, which the status read model
(:class:`~cj_worker.db.repositories.reports.BatchStatus`) satisfies as it is.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from cj_worker.core.decision import Reason


class RunFigures(Protocol):
    """The counters a sentence quotes."""

    @property
    def essays(self) -> int: ...
    @property
    def total_budget(self) -> int: ...
    @property
    def submitted(self) -> int: ...
    @property
    def failed(self) -> int: ...
    @property
    def current_wave(self) -> int: ...


FAILURES = frozenset(
    {
        Reason.LOW_SUCCESS_RATE,
        Reason.JUDGE_FAILED_WAVE,
        Reason.STALLED,
        Reason.JUDGE_UNAUTHORIZED,
        Reason.ESSAYS_DIGEST_MISMATCH,
        Reason.INTAKE_INCOMPLETE,
    }
)
"""Reasons a batch ends ``failed``, without results."""


def _spent(f: RunFigures) -> str:
    return f"{f.submitted} of the budget of {f.total_budget} comparisons used"


_SENTENCES: dict[Reason, Callable[[RunFigures], str]] = {
    Reason.WAVE_IN_FLIGHT: lambda f: f"Wave {f.current_wave} is being judged ({_spent(f)} so far).",
    Reason.COVERAGE_INCOMPLETE: lambda f: (
        f"Comparing pairs of essays that have not met yet ({_spent(f)} so far)."
    ),
    Reason.SMALL_NET_PHASE2: lambda f: (
        f"Every pair of these {f.essays} essays has been judged; judging pairs again "
        f"({_spent(f)} so far)."
    ),
    Reason.REGULAR_RESAMPLING: lambda f: (
        f"Every pair has been judged; judging pairs again ({_spent(f)} so far)."
    ),
    Reason.STABLE: lambda f: (
        "Stopped because the scores stopped moving (stable): the last wave changed no "
        f"score by more than score_stability_threshold ({_spent(f)})."
    ),
    Reason.BUDGET_EXHAUSTED: lambda f: (
        f"Used the whole budget of {f.total_budget} comparisons: the normal ending."
    ),
    Reason.MAX_ITERATIONS: lambda f: (
        f"Stopped at the limit of {f.current_wave} waves (max_iterations) with "
        f"{max(0, f.total_budget - f.submitted)} of the budget of {f.total_budget} "
        "comparisons unspent; raise max_iterations to spend them."
    ),
    Reason.SMALL_NET_RESAMPLING_CAP: lambda f: (
        f"Every pair of these {f.essays} essays was judged, then judged again as often as "
        f"max_resampling_passes_for_small_net allows ({_spent(f)})."
    ),
    Reason.RESAMPLING_CAP: lambda f: (
        "Every pair was judged, then judged again as often as "
        f"max_resampling_passes_for_regular_net allows ({_spent(f)})."
    ),
    Reason.NO_PAIRS_LEFT: lambda f: (
        f"No pair was left to judge: every pair was judged as often as allowed ({_spent(f)})."
    ),
    Reason.LOW_SUCCESS_RATE: lambda f: (
        f"Failed: {f.failed} of {f.submitted} comparisons failed, more than "
        "min_success_rate allows; check the judge."
    ),
    Reason.INSUFFICIENT_ESSAYS: lambda f: (
        "Nothing to compare: the batch has fewer than two essays."
    ),
    Reason.JUDGE_FAILED_WAVE: lambda f: (
        f"Failed: every comparison of wave {f.current_wave} failed, so the judge is down or "
        "broken; check the judge and submit the batch again."
    ),
    Reason.STALLED: lambda f: (
        "Failed: the batch stopped making progress (its next wave or its scoring kept "
        "failing and the sweep gave up); see the workers' logs."
    ),
    Reason.JUDGE_UNAUTHORIZED: lambda f: (
        "Failed at once: the judge's endpoint refused its API key, or the key is missing or "
        "not allowed on the workers (see the comparisons' error_code and error_detail); fix "
        "the key and submit the batch again."
    ),
    Reason.ESSAYS_DIGEST_MISMATCH: lambda f: (
        f"Failed before judging: the {f.essays} essays that arrived do not have the digest "
        "the request declared (essays_sha256), so they are not the essays that were sent; "
        "nothing was judged. Submit the batch again."
    ),
    Reason.INTAKE_INCOMPLETE: lambda f: (
        f"Failed before judging: only {f.essays} essays arrived, fewer than the request "
        "declared (essay_count), and no more came for intake_timeout_seconds; submit the "
        "batch again."
    ),
}


EXTERNAL_DECISIONS = "external_decisions"
"""The stop reason of results that ``cj-worker score`` made from someone else's decisions."""


def explain(reason: str | None, figures: RunFigures) -> str:
    """The sentence for ``reason``; an unknown code is quoted rather than hidden."""
    if reason is None:
        return "Not finished yet."
    if reason == EXTERNAL_DECISIONS:
        return (
            f"Scored from {figures.submitted} judgements made elsewhere "
            "(cj-worker score): no comparisons were asked for."
        )
    try:
        sentence = _SENTENCES[Reason(reason)]
    except ValueError:
        return f"Stopped: {reason}."
    return sentence(figures)


def is_failure(reason: str | None) -> bool:
    return reason in FAILURES
