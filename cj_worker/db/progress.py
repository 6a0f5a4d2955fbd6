"""A batch's progress between tasks: the typed form of ``Batch.processing_metadata``.

Continuation, the sweep and the read models used to share an untyped dict whose keys
each module spelled on its own. :class:`BatchProgress` names every key once, and
:func:`load_progress` / :func:`save_progress` are the only readers and writer of the
column, so a key cannot be misspelled or written in two shapes.

Each fact is stored once, with one exception SPEC section 5 imposes: the four coverage
keys must appear in ``processing_metadata``, and one of them, ``resampling_pass_count``,
is also the batch column the decision reads. The column is the source of truth: loading
takes the count from the column and ignores the copy in the JSON, and
:func:`save_progress` writes the column and its copy together, so they cannot disagree.
``unique_coverage_complete`` is derived from the two pair counts, never read back.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from cj_worker.core.coverage import CoverageMetrics, unique_coverage_complete
from cj_worker.db.models import Batch

MAX_POSSIBLE_PAIRS = "max_possible_pairs"
SUCCESSFUL_PAIRS_COUNT = "successful_pairs_count"
UNIQUE_COVERAGE_COMPLETE = "unique_coverage_complete"
RESAMPLING_PASS_COUNT = "resampling_pass_count"
COVERAGE_KEYS = (
    MAX_POSSIBLE_PAIRS,
    SUCCESSFUL_PAIRS_COUNT,
    UNIQUE_COVERAGE_COMPLETE,
    RESAMPLING_PASS_COUNT,
)
"""The four keys SPEC section 5 requires in ``processing_metadata``, in its order."""
SELECTION_PRIOR_PRECISION = "selection_prior_precision"
SWEEP_RETRIGGERS = "sweep_retriggers"
COUNTED_AT_DECISION = "counted_at_decision"
PRIOR_SD = "prior_sd"


class SweepRetriggers(BaseModel):
    """How often the sweep re-sent the trigger of one (state, wave) of the batch."""

    model_config = ConfigDict(frozen=True)

    state: str
    wave: int
    count: int


class DecisionCounts(BaseModel):
    """History totals at the last decision; the next decision subtracts them to know what
    the wave just judged added (only a wave with enough new successes shows stability)."""

    model_config = ConfigDict(frozen=True)

    submitted: int = 0
    succeeded: int = 0
    failed: int = 0


class BatchProgress(BaseModel):
    """What a batch carries from one task to the next besides its columns.

    ``max_possible_pairs`` and ``successful_pairs_count`` are None until the first
    continuation measured coverage: a sweep that touches the batch before then must not
    write a count of zero pairs that was never measured.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    max_possible_pairs: int | None = None
    successful_pairs_count: int | None = None
    resampling_pass_count: int = 0
    """Loaded from, and saved to, ``Batch.resampling_pass_count`` (the source of truth)."""
    selection_prior_precision: float | None = None
    """The pairing selection fit's prior between COVERAGE waves; None before the first."""
    sweep_retriggers: SweepRetriggers | None = None
    counted_at_decision: DecisionCounts | None = None
    prior_sd: float | None = None
    """tau of the last reported fit: the warm start of the next empirical-Bayes search."""

    @property
    def coverage(self) -> CoverageMetrics | None:
        """The measured coverage, or None before the first continuation measured it."""
        if self.max_possible_pairs is None or self.successful_pairs_count is None:
            return None
        return CoverageMetrics(self.max_possible_pairs, self.successful_pairs_count)

    @property
    def unique_coverage_complete(self) -> bool:
        coverage = self.coverage
        return coverage is not None and unique_coverage_complete(
            coverage.max_possible_pairs, coverage.successful_pairs_count
        )

    def with_coverage(self, coverage: CoverageMetrics) -> BatchProgress:
        """A copy carrying ``coverage`` (the caller merges it so counts never go back)."""
        return self.model_copy(
            update={
                MAX_POSSIBLE_PAIRS: coverage.max_possible_pairs,
                SUCCESSFUL_PAIRS_COUNT: coverage.successful_pairs_count,
            }
        )

    def retriggers_of(self, state: str, wave: int) -> int:
        """Re-sends already made for ``state`` and ``wave`` (0 once the batch moved on)."""
        record = self.sweep_retriggers
        if record is not None and (record.state, record.wave) == (state, wave):
            return record.count
        return 0

    def as_metadata(self) -> dict[str, Any]:
        """The JSON of ``processing_metadata``: the coverage keys once measured, then the rest."""
        metadata: dict[str, Any] = {}
        coverage = self.coverage
        if coverage is not None:
            metadata |= {
                MAX_POSSIBLE_PAIRS: coverage.max_possible_pairs,
                SUCCESSFUL_PAIRS_COUNT: coverage.successful_pairs_count,
                UNIQUE_COVERAGE_COMPLETE: self.unique_coverage_complete,
                RESAMPLING_PASS_COUNT: self.resampling_pass_count,
            }
        if self.selection_prior_precision is not None:
            metadata[SELECTION_PRIOR_PRECISION] = self.selection_prior_precision
        if self.sweep_retriggers is not None:
            metadata[SWEEP_RETRIGGERS] = self.sweep_retriggers.model_dump(mode="json")
        if self.counted_at_decision is not None:
            metadata[COUNTED_AT_DECISION] = self.counted_at_decision.model_dump(mode="json")
        if self.prior_sd is not None:
            metadata[PRIOR_SD] = self.prior_sd
        return metadata


def load_progress(batch: Batch) -> BatchProgress:
    """The batch's progress; the pass count comes from its column, not the JSON copy."""
    stored = dict(batch.processing_metadata or {})
    stored[RESAMPLING_PASS_COUNT] = batch.resampling_pass_count
    return BatchProgress.model_validate(stored)


def save_progress(batch: Batch, progress: BatchProgress) -> None:
    """The one writer of ``processing_metadata`` and ``resampling_pass_count``.

    Both are set here from the same model, so the JSON copy of the pass count always
    equals the column. Call it under the batch row lock, in the transaction that made
    the progress.
    """
    batch.resampling_pass_count = progress.resampling_pass_count
    batch.processing_metadata = progress.as_metadata()
