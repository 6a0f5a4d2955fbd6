"""One essay-result shape: stored, read back, sent in the event and written as CSV."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from cj_worker.db.models import Essay
from cj_worker.db.repositories import ScoredEssay, load_essays, store_essay_results
from cj_worker.db.repositories.reports import BatchResults, BatchStatus, batch_results
from cj_worker.db.results import CSV_COLUMNS, EssayResult
from tests.builders.db import make_batch

GRADES = ["C", "B", "A"]


def result(rank: int = 1, essay_id: str = "essay-0", **fields: Any) -> EssayResult:
    values: dict[str, Any] = {
        "rank": rank,
        "essay_id": essay_id,
        "score": 1.25,
        "standard_error": 0.5,
        "comparisons": 4,
        "wins": 3,
        "is_anchor": False,
        "grade": "B",
        "grade_probabilities": {"C": 0.2, "B": 0.7, "A": 0.1},
        "confidence": 0.7,
        "projected_grade": "B",
        "infit": 0.9,
        "outfit": 1.1,
        "misfit": False,
    }
    return EssayResult(**(values | fields))


def test_the_json_form_uses_the_keys_producers_read_and_validates_back() -> None:
    row = result()

    event_entry = row.as_dict()

    assert list(event_entry) == [
        "rank",
        "id",
        "score",
        "se",
        "comparisons",
        "wins",
        "is_anchor",
        "grade",
        "grade_probabilities",
        "confidence",
        "projected_grade",
        "infit",
        "outfit",
        "misfit",
    ]
    assert (event_entry["id"], event_entry["se"]) == ("essay-0", 0.5)
    assert EssayResult.model_validate(event_entry) == row, "a producer can parse the event"


def test_a_csv_row_has_six_decimals_the_interval_and_empty_cells_for_none() -> None:
    graded = result(score=1.0, standard_error=0.5)
    ungraded = result(
        grade=None, grade_probabilities=None, confidence=None, projected_grade=None, infit=None
    )

    assert EssayResult.csv_header(GRADES) == [*CSV_COLUMNS, "p_C", "p_B", "p_A"]
    assert graded.csv_row(GRADES) == [
        1,
        "essay-0",
        "1.000000",
        "0.500000",
        "0.020018",
        "1.979982",
        4,
        3,
        False,
        "B",
        "0.700000",
        "B",
        "0.900000",
        "1.100000",
        False,
        "0.200000",
        "0.700000",
        "0.100000",
    ]
    row = ungraded.csv_row()
    assert len(row) == len(CSV_COLUMNS)
    assert (row[9], row[10], row[11], row[12]) == ("", "", "", "")


def test_stored_results_read_back_as_the_same_contract(session: Session) -> None:
    batch = make_batch(session, 2)
    batch.grade_scale = {"name": "test", "grades": GRADES, "priors": None}
    session.execute(
        sa.update(Essay)
        .where(Essay.batch_id == batch.id, Essay.position == 1)
        .values(is_anchor=True)
    )
    first, second = load_essays(session, batch.id)
    sent = [  # the anchor keeps its known grade; JSONB may reorder the probabilities
        result(1, "essay-1", is_anchor=True, grade_probabilities={"A": 0.1, "C": 0.2, "B": 0.7}),
        result(2, "essay-0", grade="C", projected_grade=None, score=-1.25),
    ]

    store_essay_results(
        session,
        batch.id,
        [ScoredEssay(second, sent[0], 0.1, -0.2), ScoredEssay(first, sent[1], None, None)],
    )
    session.flush()

    results = batch_results(session, batch.id)
    assert results is not None
    assert [essay.as_dict() for essay in results.essays] == [row.as_dict() for row in sent]
    assert list(results.essays[0].grade_probabilities or {}) == GRADES, "the scale's order"


def results_of(essays: list[EssayResult]) -> BatchResults:
    status = BatchStatus(
        batch_id=uuid.uuid4(),
        state="completed",
        final_reason="stable",
        essays=len(essays),
        total_budget=10,
        current_wave=2,
        submitted=4,
        succeeded=4,
        failed=0,
        pending=0,
        processing_metadata={},
        created_at=datetime(2025, 1, 1, tzinfo=UTC),
        completed_at=None,
    )
    return BatchResults(
        status=status,
        stop_reason="stable",
        ssr=0.9,
        split_half=None,
        separation=None,
        duration_seconds=1.0,
        grade_scale={"name": "test", "grades": GRADES, "priors": None},
        grading=None,
        judges=[],
        essays=essays,
    )


@pytest.mark.parametrize(
    ("probabilities", "columns"),
    [
        ({"C": 0.2, "B": 0.7, "A": 0.1}, [*CSV_COLUMNS, "p_C", "p_B", "p_A"]),
        (None, list(CSV_COLUMNS)),
    ],
)
def test_the_csv_export_has_probability_columns_only_with_a_projection(
    probabilities: dict[str, float] | None, columns: list[str]
) -> None:
    essays = [result(1, "a", grade_probabilities=probabilities), result(2, "b")]
    if probabilities is None:
        essays = [essay.model_copy(update={"grade_probabilities": None}) for essay in essays]

    rows = list(csv.reader(io.StringIO(results_of(essays).to_csv())))

    assert rows[0] == columns
    assert [row[1] for row in rows[1:]] == ["a", "b"]
