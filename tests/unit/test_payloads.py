"""The message contracts: valid messages parse, bad ones fail naming the field, on one line."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from cj_worker.payloads import (
    MAX_ESSAYS_PER_BATCH,
    BatchRequest,
    ComparisonRequest,
    ComparisonResult,
    EssayIn,
    ExternalJudge,
    GradeScaleIn,
    PayloadError,
    SimulatedJudge,
    parse,
)


def essays(n: int, **fields: Any) -> list[dict[str, Any]]:
    return [
        {"id": f"s{i}", "text": f"essay {i}", "true_score": float(i), **fields} for i in range(n)
    ]


def request(**fields: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {"essays": essays(3)}
    payload.update(fields)
    return payload


def rejected(model: type[Any], payload: Any) -> str:
    """The message of the :class:`PayloadError` that ``payload`` must raise."""
    with pytest.raises(PayloadError) as raised:
        parse(model, payload)
    message = str(raised.value)
    assert message.startswith(f"invalid {model.__name__}: ")
    assert "\n" not in message
    return message


# ---------------------------------------------------------------------- BatchRequest


def test_a_minimal_batch_request_gets_the_documented_defaults() -> None:
    parsed = parse(BatchRequest, request())

    assert isinstance(parsed.batch_id, uuid.UUID)
    assert parsed.judge == SimulatedJudge()
    assert (parsed.budget, parsed.settings, parsed.result_task) == (None, {}, None)
    assert [e.id for e in parsed.essays] == ["s0", "s1", "s2"]
    assert parse(BatchRequest, request()).batch_id != parsed.batch_id


def test_a_batch_request_survives_a_json_round_trip() -> None:
    original = parse(
        BatchRequest,
        request(
            budget=50,
            tenant="t",
            settings={"MAX_ITERATIONS": 4},
            judge={"kind": "external", "task": "app.judge", "queue": "app.q"},
        ),
    )
    again = parse(BatchRequest, original.model_dump(mode="json"))
    assert again == original
    assert again.judge == ExternalJudge(task="app.judge", queue="app.q")


def test_anchors_with_a_grade_are_accepted_and_text_is_stripped() -> None:
    parsed = parse(
        BatchRequest,
        request(
            essays=[*essays(2), {"id": " a1 ", "is_anchor": True, "grade": "B", "true_score": 0}]
        ),
    )
    anchor = parsed.essays[2]
    assert (anchor.id, anchor.is_anchor, anchor.grade) == ("a1", True, "B")


def test_the_grade_scale_defaults_to_swedish_8_anchor() -> None:
    parsed = parse(BatchRequest, request())

    assert parsed.grade_scale == "swedish_8_anchor"
    assert parsed.scale().grades == ("F", "E", "D", "D+", "C", "C+", "B", "A")


def test_a_producer_scale_is_resolved_with_normalised_priors() -> None:
    anchor = {"id": "x", "is_anchor": True, "grade": "merit", "true_score": 0}
    parsed = parse(
        BatchRequest,
        request(
            essays=[*essays(2), anchor],
            grade_scale={
                "name": "btec",
                "grades": ["pass", "merit", "distinction"],
                "priors": [2, 1, 1],
            },
        ),
    )

    assert isinstance(parsed.grade_scale, GradeScaleIn)
    scale = parsed.scale()
    assert (scale.name, scale.grades, scale.priors) == (
        "btec",
        ("pass", "merit", "distinction"),
        (0.5, 0.25, 0.25),
    )
    assert parse(BatchRequest, parsed.model_dump(mode="json")).scale() == scale


def test_an_external_judge_needs_no_true_scores() -> None:
    parsed = parse(
        BatchRequest,
        request(essays=[{"id": "x"}, {"id": "y"}], judge={"kind": "external", "task": "a.b"}),
    )
    assert [e.true_score for e in parsed.essays] == [None, None]


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"essays": [*essays(2), {"id": "s0", "true_score": 1}]}, "duplicate essay id 's0'"),
        ({"essays": essays(2, is_anchor=True)}, "essays.0: Value error, anchor essay 's0'"),
        ({"essays": essays(2, is_anchor=True, grade="  ")}, "needs a grade"),
        ({"essays": [{"id": "a", "true_score": 0}, {"id": "b"}]}, "true_score"),
        ({"essays": []}, "essays: List should have at least 1 item"),
        ({"essays": [{"id": ""}]}, "essays.0.id"),
        ({"essays": [{"id": "a", "colour": "red"}]}, "essays.0.colour"),
        ({"budget": 0}, "budget: Input should be greater than or equal to 1"),
        ({"settings": {"NOT_A_SETTING": 1}}, "not_a_setting: Extra inputs are not permitted"),
        ({"settings": {"max_iterations": 0}}, "max_iterations"),
        ({"judge": {"kind": "oracle"}}, "judge"),
        ({"judge": {"kind": "simulated", "error_rate": 1.5}}, "judge.simulated.error_rate"),
        ({"judge": {"kind": "external"}}, "judge.external.task"),
        ({"batch_id": "not-a-uuid"}, "batch_id"),
        ({"priority": "high"}, "priority: Extra inputs are not permitted"),
        ({"grade_scale": "ib_7"}, "grade_scale: Value error, unknown grade scale 'ib_7'"),
        ({"grade_scale": ""}, "grade_scale.name: String should have at least 1 character"),
        ({"grade_scale": 7}, "grade_scale.definition: Input should be a valid dictionary"),
        ({"grade_scale": {"grades": ["pass"]}}, "grade_scale.definition.grades"),
        ({"grade_scale": {"grades": ["a", "b", "a"]}}, "grade labels must be unique"),
        ({"grade_scale": {"grades": ["a", "b"], "priors": [1.0]}}, "one value per grade"),
        ({"grade_scale": {"grades": ["a", "b"], "priors": [1.0, 0.0]}}, "must be positive"),
        (
            {"grade_scale": {"name": "swedish_8_anchor", "grades": ["a", "b"]}},
            "'swedish_8_anchor' is a built-in scale",
        ),
        (
            {"essays": [*essays(1), {"id": "x", "is_anchor": True, "grade": "B+"}]},
            "essays.1.grade: anchor 'x' has grade 'B+', which is not in grade scale "
            "'swedish_8_anchor' (F, E, D, D+, C, C+, B, A)",
        ),
        (
            {
                "grade_scale": "eng5_np_national_9_step",
                "essays": [{"id": "x", "is_anchor": True, "grade": "B", "true_score": 0}],
            },
            "essays.0.grade: anchor 'x' has grade 'B', which is not in grade scale "
            "'eng5_np_national_9_step'",
        ),
    ],
)
def test_a_bad_batch_request_names_the_field(fields: dict[str, Any], named: str) -> None:
    assert named in rejected(BatchRequest, request(**fields))


def test_the_missing_true_scores_are_listed_and_truncated() -> None:
    message = rejected(BatchRequest, {"essays": [{"id": f"e{i}"} for i in range(8)]})
    assert "missing for e0, e1, e2, e3, e4 ..." in message


def test_the_net_size_is_bounded() -> None:
    too_many = [{"id": str(i), "true_score": 0.0} for i in range(MAX_ESSAYS_PER_BATCH + 1)]
    assert "essays" in rejected(BatchRequest, {"essays": too_many})


def test_a_payload_that_is_not_an_object_is_rejected() -> None:
    assert "(payload)" in rejected(BatchRequest, ["not", "a", "dict"])


def test_messages_are_immutable() -> None:
    essay = EssayIn(id="a")
    with pytest.raises(ValueError, match="frozen"):
        essay.id = "b"  # type: ignore[misc]


# ------------------------------------------------------------------ judge messages


def test_a_comparison_request_carries_texts_and_the_callback() -> None:
    comparison_id, batch_id = uuid.uuid4(), uuid.uuid4()
    parsed = parse(
        ComparisonRequest,
        {
            "comparison_id": str(comparison_id),
            "batch_id": str(batch_id),
            "essay_a": {"text": "first"},
            "essay_b": {"text": "second"},
        },
    )
    assert (parsed.comparison_id, parsed.essay_a.text, parsed.essay_b.text) == (
        comparison_id,
        "first",
        "second",
    )
    assert (parsed.callback_task, parsed.callback_queue) == (
        "cj.record_comparison_result",
        "cj.callbacks",
    )
    assert parsed.simulation is None
    assert parse(ComparisonRequest, parsed.model_dump(mode="json")) == parsed


def test_a_judge_never_gets_an_essay_id() -> None:
    message = rejected(
        ComparisonRequest,
        {
            "comparison_id": str(uuid.uuid4()),
            "batch_id": str(uuid.uuid4()),
            "essay_a": {"text": "a", "id": "s1"},
            "essay_b": {"text": "b"},
        },
    )
    assert "essay_a.id" in message


@pytest.mark.parametrize(
    "fields",
    [
        {"status": "succeeded", "winner": "A", "confidence": 0.9, "judge_id": "j"},
        {"status": "succeeded", "winner": "B"},
        {"status": "failed", "error_code": "rate_limited", "error_detail": "429"},
    ],
)
def test_valid_comparison_results(fields: dict[str, Any]) -> None:
    comparison_id = uuid.uuid4()
    parsed = parse(ComparisonResult, {"comparison_id": str(comparison_id), **fields})
    assert parsed.comparison_id == comparison_id
    assert parse(ComparisonResult, parsed.model_dump(mode="json")) == parsed


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"status": "succeeded"}, "winner"),
        ({"status": "failed", "winner": "A"}, "winner"),
        ({"status": "succeeded", "winner": "C"}, "winner"),
        ({"status": "maybe"}, "status"),
        ({"status": "succeeded", "winner": "A", "confidence": 1.2}, "confidence"),
        ({"status": "failed", "error_code": "x" * 65}, "error_code"),
        ({"status": "succeeded", "winner": "A", "cost": 3}, "cost"),
    ],
)
def test_a_bad_comparison_result_names_the_field(fields: dict[str, Any], named: str) -> None:
    message = rejected(ComparisonResult, {"comparison_id": str(uuid.uuid4()), **fields})
    assert named in message


def test_a_comparison_result_needs_its_comparison_id() -> None:
    assert "comparison_id" in rejected(ComparisonResult, {"status": "succeeded", "winner": "A"})


def test_payload_error_lists_every_bad_field() -> None:
    message = rejected(
        ComparisonResult, {"comparison_id": "x", "status": "succeeded", "winner": "Z"}
    )
    assert "comparison_id" in message
    assert "winner" in message
    assert issubclass(PayloadError, ValueError), "callers may catch ValueError"
