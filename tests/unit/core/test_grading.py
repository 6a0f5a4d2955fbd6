"""Grade projection from anchors on hand-made score vectors: each step of the model.

The statistical checks (agreement with the true band, calibration) run whole synthetic
nets through the engine and live in ``test_grading_statistics.py``.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from cj_worker.core.grade_scales import GradeScale, built_in_scale
from cj_worker.core.grading import (
    MAX_SE_SCALE,
    NO_GRADE,
    ProjectionStatus,
    calibrate,
    grade_probabilities,
    isotonic_increasing,
    locate_grades,
    population_prior,
    project_grades,
)

FIVE = GradeScale("five", ("F", "E", "D", "C", "B"))
SE = 0.3


def net(
    anchors: dict[int, list[float]], students: list[float], se: float = SE
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(scores, SEs, anchor grades): anchors of grade g at the given scores, then students."""
    scores = [score for grade in sorted(anchors) for score in anchors[grade]] + students
    grades = [grade for grade in sorted(anchors) for _ in anchors[grade]]
    grades += [NO_GRADE] * len(students)
    return (
        np.asarray(scores, dtype=np.float64),
        np.full(len(scores), se),
        np.asarray(grades, dtype=np.intp),
    )


EVEN = {0: [-4.1, -3.9], 1: [-2.1, -1.9], 2: [-0.1, 0.1], 3: [1.9, 2.1], 4: [3.9, 4.1]}
"""Two anchors per grade, centres two logits apart."""


def measured_anchors(error: float, per_grade: int = 20, seed: int = 0) -> dict[int, list[float]]:
    """Anchors spread evenly over bands two logits wide (centres -4..4), each scored with
    a normal error of SD ``error``: what a net measured with that real error would give."""
    rng = np.random.default_rng(seed)
    return {
        grade: list(
            2.0 * grade - 4.0 + rng.uniform(-1, 1, per_grade) + rng.normal(0, error, per_grade)
        )
        for grade in range(5)
    }


def test_without_anchors_there_is_no_projection() -> None:
    scores, ses, grades = net({}, [0.0, 1.0])

    projection = project_grades(scores, ses, grades, FIVE)

    assert projection.status is ProjectionStatus.NO_ANCHORS
    assert projection.probabilities is None
    assert projection.calibration is None
    assert list(projection.grades) == [NO_GRADE, NO_GRADE]
    assert np.isnan(projection.confidence).all()


def test_anchors_of_one_grade_keep_it_but_project_nothing() -> None:
    scores, ses, grades = net({2: [0.0, 0.5]}, [1.0])

    projection = project_grades(scores, ses, grades, FIVE)

    assert projection.status is ProjectionStatus.ONE_ANCHOR_GRADE
    assert "fewer than two distinct grades" in projection.status.explanation
    assert list(projection.grades) == [2, 2, NO_GRADE]
    assert list(projection.confidence[:2]) == [1.0, 1.0]
    assert np.isnan(projection.confidence[2])


def test_anchors_that_contradict_their_grades_cannot_calibrate() -> None:
    scores, ses, grades = net({1: [2.0, 2.5], 3: [-1.0, 0.0]}, [0.0])

    assert project_grades(scores, ses, grades, FIVE).status is (
        ProjectionStatus.ANCHORS_NOT_SEPARATED
    )


def test_centres_are_anchor_means_and_boundaries_lie_between_them() -> None:
    scores, ses, grades = net(EVEN, [])

    geometry = locate_grades(scores, ses, grades, 5)

    assert not isinstance(geometry, ProjectionStatus)
    assert geometry.centres == pytest.approx([-4.0, -2.0, 0.0, 2.0, 4.0])
    assert geometry.boundaries == pytest.approx([-3.0, -1.0, 1.0, 3.0]), "equal spreads"
    assert list(geometry.anchor_counts) == [2, 2, 2, 2, 2]
    assert (geometry.boundary_sds > 0).all()


def test_a_wider_grade_moves_its_boundary_away_from_its_centre() -> None:
    wide_top = {**EVEN, 4: [3.0, 5.0, 4.0, 6.0, 2.0]}  # mean 4, spread far beyond the others
    scores, ses, grades = net(wide_top, [])

    geometry = locate_grades(scores, ses, grades, 5)

    assert not isinstance(geometry, ProjectionStatus)
    assert 2.0 < geometry.boundaries[3] < 3.0, "closer to the tight C centre than midway"


def test_an_inverted_grade_is_pooled_so_centres_never_decrease() -> None:
    inverted = {0: [-4.0], 1: [-2.0], 2: [1.0], 3: [0.0], 4: [4.0]}
    scores, ses, grades = net(inverted, [])

    geometry = locate_grades(scores, ses, grades, 5)

    assert not isinstance(geometry, ProjectionStatus)
    assert geometry.centres == pytest.approx([-4.0, -2.0, 0.5, 0.5, 4.0])
    assert np.all(np.diff(geometry.boundaries) >= 0)


def test_grades_without_anchors_are_interpolated_and_extrapolated() -> None:
    sparse = {1: [-2.1, -1.9], 3: [1.9, 2.1]}  # F, D and B have no anchors
    scores, ses, grades = net(sparse, [])

    geometry = locate_grades(scores, ses, grades, 5)

    assert not isinstance(geometry, ProjectionStatus)
    assert geometry.centres == pytest.approx([-4.0, -2.0, 0.0, 2.0, 4.0])
    anchored = geometry.centre_sds[[1, 3]]
    guessed = geometry.centre_sds[[0, 2, 4]]
    assert (guessed > anchored.max()).all(), "a guessed centre is less certain"


def test_isotonic_regression_pools_adjacent_violators_by_weight() -> None:
    fitted = isotonic_increasing(np.array([1.0, 3.0, 2.0, 0.0, 5.0]), np.array([1, 1, 1, 2, 1.0]))
    assert fitted == pytest.approx([1.0, 1.25, 1.25, 1.25, 5.0])


def test_probabilities_are_distributions_that_move_up_with_the_score() -> None:
    scores, ses, grades = net(EVEN, list(np.linspace(-6, 6, 49)))

    projection = project_grades(scores, ses, grades, FIVE)

    probabilities = projection.probabilities
    assert probabilities is not None
    assert (probabilities >= 0).all()
    assert probabilities.sum(axis=1) == pytest.approx(np.ones(scores.size))
    students = probabilities[grades == NO_GRADE]
    at_least = np.cumsum(students[:, ::-1], axis=1)[:, ::-1]  # P(grade >= g)
    assert (np.diff(at_least, axis=0) >= -1e-12).all(), "a higher score never lowers P(>= g)"


def test_an_essay_on_a_boundary_with_a_large_se_is_split_between_grades() -> None:
    scores, ses, grades = net(measured_anchors(error=SE), [1.0, 2.0])
    ses[-2] = 1.0  # on the D/C boundary, uncertain
    ses[-1] = 0.05  # at the C centre, precise

    projection = project_grades(scores, ses, grades, FIVE)

    assert projection.probabilities is not None
    on_boundary, centred = projection.probabilities[-2], projection.probabilities[-1]
    assert on_boundary[2] > 0.35
    assert on_boundary[3] > 0.35
    assert on_boundary[2] + on_boundary[3] > 0.9, "split between D and C, not spread wide"
    assert centred[3] > 0.97
    assert projection.confidence[-1] == centred.max()
    assert projection.grades[-1] == 3


def test_anchors_keep_their_known_grade_and_show_what_the_net_says() -> None:
    misplaced = {**EVEN, 1: [-2.1, -1.9, 1.8]}  # the third E anchor scored like a C
    scores, ses, grades = net(misplaced, [0.0])

    projection = project_grades(scores, ses, grades, FIVE)

    assert projection.probabilities is not None
    anchors = grades != NO_GRADE
    assert list(projection.grades[anchors]) == list(grades[anchors])
    assert (projection.confidence[anchors] == 1.0).all()
    assert (projection.probabilities[anchors].max(axis=1) == 1.0).all()
    assert projection.projected[4] == 3, "the misplaced anchor projects to C"
    assert projection.status is ProjectionStatus.PROJECTED


def test_only_anchors_is_a_calibration_with_nothing_to_project() -> None:
    scores, ses, grades = net(EVEN, [])

    projection = project_grades(scores, ses, grades, FIVE)

    assert projection.status is ProjectionStatus.ONLY_ANCHORS
    assert projection.calibration is not None


def test_an_unmeasured_essay_gets_the_batch_mix_not_an_extreme_grade() -> None:
    scores, ses, grades = net(EVEN, [*np.linspace(-4.5, 4.5, 40), 0.0])
    ses[-1] = 10.0  # an essay nobody compared: the prior's SE

    projection = project_grades(scores, ses, grades, FIVE)

    assert projection.probabilities is not None
    isolated = projection.probabilities[-1]
    assert isolated.max() < 0.4, "no grade is likely"
    assert isolated[0] + isolated[4] < 0.6, "not half F, half B"
    assert projection.grades[-1] == 2


def test_priors_shift_an_undecided_essay_towards_the_commoner_grade() -> None:
    scores, ses, grades = net(EVEN, [*np.linspace(-4.5, 4.5, 40), 1.0])
    ses[-1] = 0.8
    flat = project_grades(scores, ses, grades, FIVE)
    common_c = GradeScale("five", FIVE.grades, (0.1, 0.1, 0.1, 0.6, 0.1))

    weighted = project_grades(scores, ses, grades, common_c)

    assert flat.probabilities is not None
    assert weighted.probabilities is not None
    assert weighted.probabilities[-1, 3] > flat.probabilities[-1, 3] + 0.1
    assert weighted.probabilities[-1, 2] < flat.probabilities[-1, 2]


def test_anchors_scattered_as_their_ses_say_leave_the_ses_as_they_are() -> None:
    scores, ses, grades = net(measured_anchors(error=SE), [1.0])

    calibration = calibrate(scores, ses, grades, FIVE)

    assert not isinstance(calibration, ProjectionStatus)
    assert calibration.se_scale < 1.3
    assert calibration.se_scale_weights.sum() == pytest.approx(1.0)


def test_anchors_scattered_beyond_their_ses_widen_every_essays_uncertainty() -> None:
    scores, ses, grades = net(measured_anchors(error=3 * SE), [1.0])

    calibration = calibrate(scores, ses, grades, FIVE)

    assert not isinstance(calibration, ProjectionStatus)
    assert 2.3 < calibration.se_scale <= MAX_SE_SCALE
    mean, sd = population_prior(scores, ses)
    as_reported = dataclasses.replace(
        calibration,
        se_scales=np.ones(1),
        se_scale_weights=np.ones(1),
        population_means=np.array([mean]),
        population_sds=np.array([sd]),
    )
    student = scores[-1:], ses[-1:]
    widened = grade_probabilities(*student, calibration)[0]
    assert widened.max() < grade_probabilities(*student, as_reported)[0].max() - 0.05


def test_the_population_prior_recovers_the_true_spread() -> None:
    rng = np.random.default_rng(0)
    ses = rng.uniform(0.3, 1.0, 2000)
    scores = 1.0 + rng.normal(0, 1.5, 2000) + rng.normal(0, ses)
    ses[:20] = 10.0  # barely measured essays must not swamp the estimate

    mean, sd = population_prior(scores, ses)

    assert mean == pytest.approx(1.0, abs=0.1)
    assert sd == pytest.approx(1.5, abs=0.1)


def test_the_built_in_scale_works_with_anchors_of_a_few_grades() -> None:
    swedish = built_in_scale("swedish_8_anchor")
    scores, ses, grades = net({1: [-2.0, -1.8], 4: [0.0, 0.3], 6: [2.0, 2.2]}, [3.5, -3.5, 0.1])

    projection = project_grades(scores, ses, grades, swedish)

    assert projection.status is ProjectionStatus.PROJECTED
    assert [swedish.grades[g] for g in projection.grades[-3:]] == ["A", "F", "C"]


def test_mismatched_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="same shape"):
        project_grades(np.zeros(2), np.ones(3), np.full(2, NO_GRADE), FIVE)
    with pytest.raises(ValueError, match=r"scale indices 0\.\.4"):
        project_grades(np.zeros(2), np.ones(2), np.array([0, 5]), FIVE)
