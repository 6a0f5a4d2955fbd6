"""Grade scales: the built-in ones, producers' own, and what makes a scale unusable."""

from __future__ import annotations

import pytest

from cj_worker.core.grade_scales import (
    BUILT_IN_SCALES,
    DEFAULT_GRADE_SCALE,
    GradeScale,
    GradeScaleError,
    built_in_scale,
)


def test_the_built_in_scales_are_those_of_the_earlier_service() -> None:
    swedish = built_in_scale("swedish_8_anchor")
    assert swedish.grades == ("F", "E", "D", "D+", "C", "C+", "B", "A")
    assert swedish.priors == pytest.approx((0.02, 0.08, 0.15, 0.20, 0.25, 0.15, 0.10, 0.05))
    legacy = built_in_scale("eng5_np_legacy_9_step")
    assert legacy.grades == ("F", "F+", "E-", "E+", "D-", "D+", "C-", "C+", "B", "A")
    national = built_in_scale("eng5_np_national_9_step")
    assert national.grades == tuple(str(grade) for grade in range(10))
    assert legacy.priors is None
    assert national.priors is None
    assert DEFAULT_GRADE_SCALE == "swedish_8_anchor"
    assert set(BUILT_IN_SCALES) == {
        "swedish_8_anchor",
        "eng5_np_legacy_9_step",
        "eng5_np_national_9_step",
    }


def test_an_unknown_scale_is_an_error_not_a_fallback() -> None:
    with pytest.raises(GradeScaleError, match=r"unknown grade scale 'ib_7'; built-in scales: "):
        built_in_scale("ib_7")


def test_priors_are_normalised() -> None:
    scale = GradeScale("pass-fail", ("fail", "pass"), (1.0, 3.0))
    assert scale.priors == (0.25, 0.75)


@pytest.mark.parametrize(
    ("grades", "priors", "message"),
    [
        pytest.param(("only",), None, "2 to 64 grades", id="one-grade"),
        pytest.param(("a", "b", "a"), None, "unique", id="duplicate"),
        pytest.param(("a", ""), None, "1-32 characters", id="empty-label"),
        pytest.param(("a", " b"), None, "surrounding spaces", id="padded-label"),
        pytest.param(("a", "b" * 33), None, "1-32 characters", id="long-label"),
        pytest.param(("a", "b"), (1.0,), "one value per grade", id="short-priors"),
        pytest.param(("a", "b"), (1.0, -1.0), "positive", id="negative-prior"),
        pytest.param(("a", "b"), (1.0, float("nan")), "positive", id="nan-prior"),
    ],
)
def test_an_unusable_scale_is_refused(
    grades: tuple[str, ...], priors: tuple[float, ...] | None, message: str
) -> None:
    with pytest.raises(GradeScaleError, match=message):
        GradeScale("mine", grades, priors)


def test_index_names_the_scale_when_a_grade_is_missing() -> None:
    scale = built_in_scale("swedish_8_anchor")
    assert scale.index("D+") == 3
    with pytest.raises(GradeScaleError, match=r"'A\+' is not in scale 'swedish_8_anchor'"):
        scale.index("A+")


@pytest.mark.parametrize("name", sorted(BUILT_IN_SCALES))
def test_a_scale_survives_its_stored_form(name: str) -> None:
    scale = BUILT_IN_SCALES[name]
    assert GradeScale.from_json(scale.as_json()) == scale
