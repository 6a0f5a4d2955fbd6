"""From a chat-completions response to a verdict, or to a failure that says why.

The rule is: no guessing. The answer must be the structured object asked for (in the
message content or in the verdict tool call's arguments), with winner ``A`` or ``B`` and a
confidence in [0, 1]; anything else is an :class:`Unanswered` with an ``error_code``, and
the comparison fails (the engine may ask again) rather than being scored from prose.
The one leniency is a Markdown code fence around otherwise exact JSON, which local models
add although told not to: stripping it changes no character of the object.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from cj_worker.judges.llm.prompt import VERDICT_NAME

JUSTIFICATION_LIMIT = 2_000
"""A justification is asked to be a sentence or two; a longer one is cut here."""
_EXCERPT = 200


@dataclass(frozen=True)
class Verdict:
    winner: Literal["A", "B"]
    justification: str
    confidence: float


@dataclass(frozen=True)
class Unanswered:
    """The model's answer could not be used; ``error_code`` says which way it failed."""

    error_code: str
    detail: str


@dataclass(frozen=True)
class TokenCounts:
    prompt: int | None
    completion: int | None


class _VerdictObject(BaseModel):
    model_config = ConfigDict(extra="ignore")

    winner: Literal["A", "B"]
    justification: Annotated[str, Field(strict=True)]
    confidence: Annotated[float, Field(ge=0.0, le=1.0, strict=True)]

    @field_validator("winner", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value


def token_counts(body: Any) -> TokenCounts:
    """The ``usage`` the endpoint reported; missing or odd values are none, not zero."""
    usage = body.get("usage") if isinstance(body, dict) else None
    if not isinstance(usage, dict):
        return TokenCounts(None, None)

    def count(key: str) -> int | None:
        value = usage.get(key)
        return (
            value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None
        )

    return TokenCounts(count("prompt_tokens"), count("completion_tokens"))


def parse_verdict(body: Any) -> Verdict | Unanswered:
    """The verdict in a decoded chat-completions response body."""
    choice = _first_choice(body)
    if choice is None:
        return Unanswered("judge_response_malformed", "the response has no choices[0].message")
    message, finish_reason = choice
    refusal = message.get("refusal")
    if refusal:
        return Unanswered("judge_refused", f"the model refused: {_excerpt(str(refusal))}")
    if finish_reason == "content_filter":
        return Unanswered("judge_refused", "the endpoint's content filter stopped the answer")
    text = _answer_text(message)
    if text is None or not text.strip():
        if finish_reason == "length":
            return Unanswered("judge_output_truncated", "max_tokens ran out before any answer")
        return Unanswered("judge_output_unparseable", "the answer is empty")
    try:
        decoded = json.loads(_without_code_fence(text))
    except json.JSONDecodeError as error:
        code = "judge_output_truncated" if finish_reason == "length" else "judge_output_unparseable"
        return Unanswered(code, f"not JSON ({error.msg}): {_excerpt(text)}")
    try:
        parsed = _VerdictObject.model_validate(decoded)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in item['loc']) or '(answer)'}: {item['msg']}"
            for item in error.errors()
        )
        return Unanswered("judge_output_invalid", f"{problems}: {_excerpt(text)}")
    return Verdict(
        parsed.winner, parsed.justification.strip()[:JUSTIFICATION_LIMIT], parsed.confidence
    )


def _first_choice(body: Any) -> tuple[dict[str, Any], Any] | None:
    if not isinstance(body, dict):
        return None
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return None
    message = choices[0].get("message")
    if not isinstance(message, dict):
        return None
    return message, choices[0].get("finish_reason")


def _answer_text(message: dict[str, Any]) -> str | None:
    """The verdict tool call's arguments if the model called it, else the content."""
    calls = message.get("tool_calls")
    if isinstance(calls, list):
        for call in calls:
            function = call.get("function") if isinstance(call, dict) else None
            if isinstance(function, dict) and function.get("name") == VERDICT_NAME:
                arguments = function.get("arguments")
                if isinstance(arguments, dict):
                    return json.dumps(arguments)
                return arguments if isinstance(arguments, str) else None
    content = message.get("content")
    if isinstance(content, list):  # content parts: [{"type": "text", "text": ...}]
        texts = [
            str(part["text"])
            for part in content
            if isinstance(part, dict) and isinstance(part.get("text"), str)
        ]
        return "".join(texts) if texts else None
    return content if isinstance(content, str) else None


def _without_code_fence(text: str) -> str:
    stripped = text.strip()
    if stripped.startswith("```") and stripped.endswith("```") and "\n" in stripped:
        return stripped[stripped.index("\n") + 1 : -3]
    return stripped


def _excerpt(text: str) -> str:
    return text if len(text) <= _EXCERPT else text[:_EXCERPT] + "..."
