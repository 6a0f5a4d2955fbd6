"""Tokens and money: the cost of one answer, and an estimate for a batch before it runs.

An answer's cost uses the tokens the endpoint reported and the batch's price table
(per million tokens, per model); without a price the cost is unknown, never zero. The
estimate for ``submit --dry-run`` counts no tokens with a real tokenizer (each model has
its own, and none is installed): it builds the real prompt around essays of the batch's
mean length and counts about four characters a token, which is close for English prose
with GPT-style tokenizers and errs high for code-like text. Completion tokens are given as
an expected figure (a verdict with a sentence or two) and as the ``max_tokens`` bound.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from typing import Any

from cj_worker.config import get_settings
from cj_worker.judges.llm.prompt import VERDICT_SCHEMA, build_messages
from cj_worker.llm_spec import LlmJudge
from cj_worker.payloads import BatchRequest

CHARS_PER_TOKEN = 4.0
EXPECTED_COMPLETION_TOKENS = 80
"""A verdict object with a one- or two-sentence justification."""
TOKENS_PER_MESSAGE = 4
"""Chat formatting around each message (role, separators)."""


def estimate_tokens(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def answer_cost(
    spec: LlmJudge, model: str, prompt_tokens: int | None, completion_tokens: int | None
) -> float | None:
    """Cost of one answer from the price table; none without a price or token counts."""
    price = spec.price(model)
    if price is None or prompt_tokens is None or completion_tokens is None:
        return None
    return price.cost(prompt_tokens, completion_tokens)


@dataclass(frozen=True)
class CostEstimate:
    """What a batch may spend at most (its budget of comparisons, all answered)."""

    comparisons: int
    prompt_tokens: int
    completion_tokens_expected: int
    completion_tokens_max: int
    cost_expected: float | None
    """None unless every model of the judge has a price."""
    cost_max: float | None
    unpriced_models: tuple[str, ...]

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "unpriced_models": list(self.unpriced_models)}


def prompt_tokens_per_comparison(spec: LlmJudge, mean_essay_chars: float) -> int:
    """Estimated prompt tokens of one request with two essays of the given length."""
    essay = "x" * round(mean_essay_chars)
    messages = build_messages(spec, essay, essay, nonce=lambda: "0" * 24)
    text_tokens = sum(estimate_tokens(message["content"]) for message in messages)
    schema_tokens = estimate_tokens(json.dumps(VERDICT_SCHEMA))
    return text_tokens + schema_tokens + TOKENS_PER_MESSAGE * len(messages) + 3


def estimate_batch(request: BatchRequest, comparisons: int | None = None) -> CostEstimate:
    """Tokens and cost of ``request`` if all ``comparisons`` (default: its budget) run.

    A panel's comparisons are spread evenly over its models, as the judge spreads them.
    """
    spec = request.judge
    if not isinstance(spec, LlmJudge):
        raise ValueError("judge: only an LLM judge has a token cost to estimate")
    if comparisons is None:
        comparisons = (
            request.budget
            or get_settings().algorithm().override(request.settings).max_pairwise_comparisons
        )
    mean_chars = sum(len(essay.text) for essay in request.essays) / len(request.essays)
    per_prompt = prompt_tokens_per_comparison(spec, mean_chars)
    members = spec.members()
    share = comparisons / len(members)
    completion_expected = completion_max = 0.0
    cost_expected = cost_max = 0.0
    unpriced: list[str] = []
    for member in members:
        expected = min(EXPECTED_COMPLETION_TOKENS, member.max_tokens)
        completion_expected += share * expected
        completion_max += share * member.max_tokens
        price = spec.price(member.model)
        if price is None:
            unpriced.append(member.model)
            continue
        cost_expected += share * price.cost(per_prompt, expected)
        cost_max += share * price.cost(per_prompt, member.max_tokens)
    return CostEstimate(
        comparisons=comparisons,
        prompt_tokens=per_prompt * comparisons,
        completion_tokens_expected=round(completion_expected),
        completion_tokens_max=round(completion_max),
        cost_expected=None if unpriced else cost_expected,
        cost_max=None if unpriced else cost_max,
        unpriced_models=tuple(dict.fromkeys(unpriced)),
    )
