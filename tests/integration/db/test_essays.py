"""Essay columns read one by one, and the interim scores' bulk upsert, on both databases."""

from __future__ import annotations

import uuid

import numpy as np
import sqlalchemy as sa
from sqlalchemy.orm import Session

from cj_worker.db.models import Essay, EssayScore
from cj_worker.db.repositories import (
    essay_count,
    essay_texts,
    judge_material,
    load_scores,
    store_scores,
    true_scores,
)
from cj_worker.db.states import BatchState, ComparisonRowStatus
from tests.builders.db import add_comparison, make_batch


def _stored(session: Session, batch_id: uuid.UUID) -> list[tuple[int, float | None, int]]:
    rows = session.execute(
        sa.select(EssayScore.position, EssayScore.score, EssayScore.comparison_count)
        .where(EssayScore.batch_id == batch_id)
        .order_by(EssayScore.position)
    )
    return [(position, score, count) for position, score, count in rows]


def test_scores_are_upserted_for_every_essay_and_counts_without_a_fit_keep_them(
    session: Session,
) -> None:
    batch = make_batch(session, 3)
    other = make_batch(session, 3)
    counts = np.array([2, 0, 1], dtype=np.intp)

    store_scores(session, batch.id, counts, None)
    assert _stored(session, batch.id) == [(0, None, 2), (1, None, 0), (2, None, 1)]
    assert load_scores(session, batch.id, 3) is None, "no scores yet"

    fit = (np.array([0.5, -1.0, 0.5]), np.array([0.3, 0.4, 0.5]))
    store_scores(session, batch.id, counts + 1, fit)
    store_scores(session, other.id, counts, (fit[0] * 2, fit[1]))
    assert _stored(session, batch.id) == [(0, 0.5, 3), (1, -1.0, 1), (2, 0.5, 2)]
    loaded = load_scores(session, batch.id, 3)
    assert loaded is not None
    assert loaded.tolist() == [0.5, -1.0, 0.5]

    store_scores(session, batch.id, counts + 5, None)
    assert _stored(session, batch.id) == [(0, 0.5, 7), (1, -1.0, 5), (2, 0.5, 6)]
    assert load_scores(session, batch.id, 4) is None, "not every essay has a score"
    assert _stored(session, other.id)[1] == (1, -2.0, 0), "batches apart"


def test_columns_are_read_without_the_rest_of_the_row(session: Session) -> None:
    batch = make_batch(session, 4)
    for essay in session.scalars(sa.select(Essay).where(Essay.batch_id == batch.id)):
        essay.true_score = None if essay.position == 3 else float(essay.position)
    session.flush()

    assert essay_count(session, batch.id) == 4
    assert essay_count(session, uuid.uuid4()) == 0
    assert essay_texts(session, batch.id, {0, 2}) == {0: "Essay number 0.", 2: "Essay number 2."}
    assert true_scores(session, batch.id, {1, 3}) == {1: 1.0, 3: 0.0}


def test_the_llm_judge_s_material_is_one_read_and_names_only_its_own_batch(
    session: Session,
) -> None:
    batch = make_batch(session, 3)
    batch.judge = {"kind": "llm", "model": "m"}
    row = add_comparison(session, batch, 2, 0, status=ComparisonRowStatus.PENDING)
    done = add_comparison(session, batch, 0, 1)
    session.flush()

    material = judge_material(session, row.id, batch.id)
    assert material is not None
    assert (material.text_a, material.text_b) == ("Essay number 2.", "Essay number 0.")
    assert material.judge == {"kind": "llm", "model": "m"}
    assert (material.answered, material.batch_ended) == (False, False)
    answered = judge_material(session, done.id, batch.id)
    assert answered is not None
    assert answered.answered
    assert judge_material(session, row.id, uuid.uuid4()) is None
    assert judge_material(session, uuid.uuid4(), batch.id) is None
    batch.state = BatchState.COMPLETED
    session.flush()
    ended = judge_material(session, row.id, batch.id)
    assert ended is not None
    assert ended.batch_ended
