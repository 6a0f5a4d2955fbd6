"""The adapter from the repositories' results to the report's model, and the model's helpers."""

from __future__ import annotations

import dataclasses

import pytest

from cj_worker.report.model import report_data
from tests.builders.results import SWEDISH, batch_results


def test_the_adapter_carries_every_essay_in_rank_order_with_its_figures() -> None:
    results = batch_results(12)
    shuffled = dataclasses.replace(results, essays=list(reversed(results.essays)))

    data = report_data(shuffled)

    assert [essay.rank for essay in data.essays] == list(range(1, 13))
    for essay, source in zip(data.essays, results.essays, strict=True):
        assert essay.essay_id == source.essay_id
        assert essay.score == source.score
        assert essay.interval_95 == pytest.approx(source.interval_95)
        assert (essay.grade, essay.confidence, essay.projected_grade) == (
            source.grade,
            source.confidence,
            source.projected_grade,
        )
    assert data.grades == SWEDISH
    assert data.boundaries == tuple(results.boundaries)
    assert data.comparisons_made == results.status.submitted
    assert [judge.judge_id for judge in data.judges] == [j["judge_id"] for j in results.judges]


def test_the_stop_reason_falls_back_to_the_batch_final_reason() -> None:
    results = batch_results(6, stop_reason="stable")

    data = report_data(dataclasses.replace(results, stop_reason=None))

    assert data.stop_reason == "stable"


def test_a_score_on_a_boundary_belongs_to_the_band_above() -> None:
    data = report_data(batch_results(12))
    boundary = data.boundaries[3]

    assert data.band_of(boundary) == SWEDISH[4]
    assert data.band_of(boundary - 1e-9) == SWEDISH[3]
    assert data.band_of(-100.0) == SWEDISH[0]
    assert data.band_of(100.0) == SWEDISH[-1]


def test_without_a_calibration_there_are_no_bands() -> None:
    data = report_data(batch_results(8, grades=None))

    assert not data.graded
    assert data.band_of(0.0) is None


def test_comparisons_per_essay_counts_both_essays_of_each_comparison() -> None:
    data = report_data(batch_results(10, comparisons_per_essay=9.0))

    assert data.comparisons_succeeded == 45
    assert data.comparisons_per_essay == pytest.approx(9.0)


def test_anchor_counts_name_every_grade_of_the_scale() -> None:
    data = report_data(batch_results(24))

    counts = data.anchor_counts

    assert list(counts) == list(SWEDISH)
    assert counts["D+"] == 0
    assert counts["B"] == 0
    assert counts["C"] == 1
    assert sum(counts.values()) == sum(1 for essay in data.essays if essay.is_anchor)
