"""``processing_metadata`` through its typed model: one writer, the column as the truth."""

from __future__ import annotations

from sqlalchemy.orm import Session

from cj_worker.core.coverage import CoverageMetrics
from cj_worker.db.progress import (
    COVERAGE_KEYS,
    BatchProgress,
    SweepRetriggers,
    load_progress,
    save_progress,
)
from tests.builders.db import make_batch


def test_a_new_batch_has_no_progress_and_writes_no_unmeasured_coverage(session: Session) -> None:
    batch = make_batch(session, 4)

    progress = load_progress(batch)

    assert progress == BatchProgress()
    assert (progress.coverage, progress.unique_coverage_complete) == (None, False)
    retriggered = progress.model_copy(
        update={"sweep_retriggers": SweepRetriggers(state="created", wave=0, count=1)}
    )
    save_progress(batch, retriggered)
    assert batch.processing_metadata == {
        "sweep_retriggers": {"state": "created", "wave": 0, "count": 1}
    }, "no coverage key before a continuation measured coverage"


def test_progress_round_trips_through_the_database(session: Session) -> None:
    batch = make_batch(session, 4)
    progress = BatchProgress(
        resampling_pass_count=2,
        selection_prior_precision=0.7,
        sweep_retriggers=SweepRetriggers(state="collecting", wave=3, count=2),
    ).with_coverage(CoverageMetrics(6, 6))

    save_progress(batch, progress)
    session.flush()
    session.expire(batch)

    assert load_progress(batch) == progress
    assert batch.resampling_pass_count == 2
    assert batch.processing_metadata == {
        "max_possible_pairs": 6,
        "successful_pairs_count": 6,
        "unique_coverage_complete": True,
        "resampling_pass_count": 2,
        "selection_prior_precision": 0.7,
        "sweep_retriggers": {"state": "collecting", "wave": 3, "count": 2},
    }
    assert set(COVERAGE_KEYS) <= set(batch.processing_metadata), "SPEC section 5's four keys"


def test_the_pass_count_column_is_the_truth_and_derived_keys_are_not_read(
    session: Session,
) -> None:
    batch = make_batch(session, 4)
    batch.resampling_pass_count = 1
    batch.processing_metadata = {
        "max_possible_pairs": 6,
        "successful_pairs_count": 2,
        "unique_coverage_complete": True,  # stale and wrong: 2 of 6 is not complete
        "resampling_pass_count": 5,  # a stale copy
        "a_key_of_an_older_version": "ignored",
    }

    progress = load_progress(batch)

    assert progress.resampling_pass_count == 1
    assert progress.unique_coverage_complete is False
    save_progress(batch, progress)
    assert batch.processing_metadata == {
        "max_possible_pairs": 6,
        "successful_pairs_count": 2,
        "unique_coverage_complete": False,
        "resampling_pass_count": 1,
    }


def test_retriggers_count_for_the_state_and_wave_they_were_made_in() -> None:
    progress = BatchProgress(sweep_retriggers=SweepRetriggers(state="scoring", wave=4, count=3))

    assert progress.retriggers_of("scoring", 4) == 3
    assert progress.retriggers_of("scoring", 5) == 0
    assert progress.retriggers_of("collecting", 4) == 0
    assert BatchProgress().retriggers_of("collecting", 0) == 0
