"""Structured output to a verdict; every unusable answer to a failure, never a guess."""

from __future__ import annotations

from typing import Any

import pytest

from cj_worker.judges.llm.verdict import (
    JUSTIFICATION_LIMIT,
    TokenCounts,
    Unanswered,
    Verdict,
    parse_verdict,
    token_counts,
)
from tests.unit.judges.llm.fakes import completion, verdict_json


def test_a_json_answer_in_the_content_is_a_verdict() -> None:
    assert parse_verdict(completion(verdict_json("B", 0.65, " Better structure. "))) == Verdict(
        "B", "Better structure.", 0.65
    )


def test_a_tool_call_answer_is_read_from_its_arguments() -> None:
    body = completion(None, tool_arguments=verdict_json("A", 1))
    assert parse_verdict(body) == Verdict("A", "Clearer argument.", 1.0)


def test_content_parts_and_a_code_fence_around_exact_json_are_accepted() -> None:
    body = completion(None)
    body["choices"][0]["message"]["content"] = [
        {"type": "text", "text": "```json\n" + verdict_json("b") + "\n```"}
    ]
    assert parse_verdict(body) == Verdict("B", "Clearer argument.", 0.8)


def test_a_long_justification_is_cut() -> None:
    verdict = parse_verdict(completion(verdict_json(why="x" * 5000)))
    assert isinstance(verdict, Verdict)
    assert len(verdict.justification) == JUSTIFICATION_LIMIT


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (completion("The first essay is better, so A."), "judge_output_unparseable"),
        (completion(""), "judge_output_unparseable"),
        (completion('{"winner": "A", "justification": "x"'), "judge_output_unparseable"),
        (
            completion('{"winner": "A", "justif', finish_reason="length"),
            "judge_output_truncated",
        ),
        (completion(None, finish_reason="length"), "judge_output_truncated"),
        (completion(verdict_json("C")), "judge_output_invalid"),
        (completion(verdict_json("A", 1.5)), "judge_output_invalid"),
        (completion(verdict_json("A", -0.1)), "judge_output_invalid"),
        (completion('{"winner": "A", "confidence": 0.5}'), "judge_output_invalid"),
        (
            completion('{"winner": "A", "justification": "x", "confidence": "high"}'),
            "judge_output_invalid",
        ),
        (completion('["A"]'), "judge_output_invalid"),
        (completion(None, refusal="I can't help with that."), "judge_refused"),
        (completion(verdict_json(), finish_reason="content_filter"), "judge_refused"),
        ({"error": "nope"}, "judge_response_malformed"),
        ({"choices": []}, "judge_response_malformed"),
        ({"choices": [{"message": "A"}]}, "judge_response_malformed"),
        ("A", "judge_response_malformed"),
    ],
)
def test_an_unusable_answer_fails_with_a_code_saying_why(body: Any, code: str) -> None:
    verdict = parse_verdict(body)
    assert isinstance(verdict, Unanswered)
    assert verdict.error_code == code
    assert verdict.detail


def test_a_tool_call_to_another_function_is_not_read_as_the_verdict() -> None:
    body = completion("prose", tool_arguments=verdict_json())
    body["choices"][0]["message"]["tool_calls"][0]["function"]["name"] = "other"
    verdict = parse_verdict(body)
    assert isinstance(verdict, Unanswered)
    assert verdict.error_code == "judge_output_unparseable"


def test_token_counts_are_what_the_endpoint_reported_or_unknown() -> None:
    assert token_counts(completion("x", prompt_tokens=11, completion_tokens=7)) == TokenCounts(
        11, 7
    )
    assert token_counts(completion("x", prompt_tokens=None)) == TokenCounts(None, None)
    odd = completion("x")
    odd["usage"] = {"prompt_tokens": -3, "completion_tokens": True}
    assert token_counts(odd) == TokenCounts(None, None)
    assert token_counts("garbage") == TokenCounts(None, None)
