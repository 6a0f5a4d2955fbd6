"""Cost of an answer from the price table, and the dry-run estimate of a batch."""

from __future__ import annotations

from typing import Any

import pytest

from cj_worker.judges.llm.cost import (
    EXPECTED_COMPLETION_TOKENS,
    answer_cost,
    estimate_batch,
    estimate_tokens,
    prompt_tokens_per_comparison,
)
from cj_worker.llm_spec import LlmJudge, PanelMember, TokenPrice
from cj_worker.payloads import BatchRequest, EssayIn

PRICES = {
    "m1": TokenPrice(prompt=1.0, completion=4.0),
    "m2": TokenPrice(prompt=3.0, completion=6.0),
}


def judge(**fields: Any) -> LlmJudge:
    values: dict[str, Any] = {"base_url": "http://llm.test/v1", "model": "m1", "prices": PRICES}
    values.update(fields)
    return LlmJudge.model_validate(values)


def request(spec: LlmJudge, essay_chars: int = 2000, budget: int | None = 100) -> BatchRequest:
    return BatchRequest(
        essays=[EssayIn(id=f"e{i}", text="w" * essay_chars) for i in range(10)],
        budget=budget,
        judge=spec,
    )


def test_an_answer_costs_its_tokens_at_the_models_price() -> None:
    assert answer_cost(judge(), "m1", 1000, 100) == pytest.approx((1000 * 1 + 100 * 4) / 1e6)
    assert answer_cost(judge(), "unpriced", 1000, 100) is None
    assert answer_cost(judge(), "m1", None, 100) is None, "unknown tokens: unknown cost"


def test_tokens_are_estimated_at_four_characters_each() -> None:
    assert estimate_tokens("") == 0
    assert estimate_tokens("abcd") == 1
    assert estimate_tokens("abcde") == 2


def test_a_prompt_grows_by_the_two_essays_and_the_assignment() -> None:
    short = prompt_tokens_per_comparison(judge(), 400)
    long = prompt_tokens_per_comparison(judge(), 4400)
    assert long - short == 2 * 4000 / 4
    briefed = prompt_tokens_per_comparison(judge(assignment="x" * 800), 400)
    assert briefed - short == pytest.approx(200 + 10, abs=2), "800 characters and a heading"


def test_the_estimate_for_a_batch_covers_its_whole_budget() -> None:
    estimate = estimate_batch(request(judge(max_tokens=300)))
    per_prompt = prompt_tokens_per_comparison(judge(), 2000)
    assert estimate.comparisons == 100
    assert estimate.prompt_tokens == 100 * per_prompt
    assert estimate.completion_tokens_expected == 100 * EXPECTED_COMPLETION_TOKENS
    assert estimate.completion_tokens_max == 100 * 300
    assert estimate.cost_expected == pytest.approx(
        100 * (per_prompt * 1.0 + EXPECTED_COMPLETION_TOKENS * 4.0) / 1e6
    )
    assert estimate.cost_max == pytest.approx(100 * (per_prompt * 1.0 + 300 * 4.0) / 1e6)
    assert estimate.as_json()["unpriced_models"] == []
    assert estimate_batch(request(judge()), comparisons=10).comparisons == 10


def test_a_panel_splits_the_comparisons_evenly_and_an_unpriced_model_leaves_cost_unknown() -> None:
    panel = judge(model=None, panel=[PanelMember(model="m1"), PanelMember(model="m2")])
    estimate = estimate_batch(request(panel))
    per_prompt = prompt_tokens_per_comparison(panel, 2000)
    expected = 50 * (per_prompt * 1 + 80 * 4) / 1e6 + 50 * (per_prompt * 3 + 80 * 6) / 1e6
    assert estimate.cost_expected == pytest.approx(expected)
    unpriced = judge(model=None, panel=[PanelMember(model="m1"), PanelMember(model="m9")])
    partial = estimate_batch(request(unpriced))
    assert partial.cost_expected is None
    assert partial.cost_max is None
    assert partial.unpriced_models == ("m9",)


def test_without_a_budget_the_default_budget_is_estimated() -> None:
    assert estimate_batch(request(judge(), budget=None)).comparisons == 300


def test_only_an_llm_judge_has_a_cost() -> None:
    with pytest.raises(ValueError, match="only an LLM judge"):
        estimate_batch(BatchRequest(essays=[EssayIn(id="e", text="t", true_score=0.0)]))
