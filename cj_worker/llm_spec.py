"""The LLM judge's per-batch spec (``judge.kind = "llm"``): part of the producer contract.

The spec travels in every judge message, so a judge worker needs no database and a
redelivered message is judged under the same configuration. It names the environment
variable that holds the API key, never the key: the key is read on the worker at call time,
so it is in no row, message or log line. It lives beside :mod:`cj_worker.payloads` (which
validates a batch request against it) rather than in :mod:`cj_worker.judges`, so that the
contract layer imports nothing of the judges that implement it.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Annotated, Literal, Self
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = ["DEFAULT_KEY_ENV_SUFFIX", "JudgeMember", "LlmJudge", "PanelMember", "TokenPrice"]

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
DEFAULT_KEY_ENV_SUFFIX = "_API_KEY"
"""Without an operator's list, a batch may name only variables ending in this."""


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class TokenPrice(_Spec):
    """Price of a model per million tokens, in whatever currency the table is kept in."""

    prompt: Annotated[float, Field(ge=0.0, le=1e6)]
    completion: Annotated[float, Field(ge=0.0, le=1e6)]

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens * self.prompt + completion_tokens * self.completion) / 1e6


class PanelMember(_Spec):
    """One model of a panel; its answers are recorded under its own ``judge_id``."""

    model: Annotated[str, Field(min_length=1, max_length=200)]
    judge_id: Annotated[str | None, Field(min_length=1, max_length=255)] = None
    """Defaults to ``llm:<model>``."""
    temperature: Annotated[float | None, Field(ge=0.0, le=2.0)] = None
    """Overrides the judge's temperature for this model."""
    max_tokens: Annotated[int | None, Field(ge=16, le=32_768)] = None


@dataclass(frozen=True)
class JudgeMember:
    """A resolved model to call: the panel member's values or the judge's own."""

    judge_id: str
    model: str
    temperature: float
    max_tokens: int


class LlmJudge(_Spec):
    """The built-in LLM judge over an OpenAI-compatible chat-completions endpoint."""

    kind: Literal["llm"] = "llm"
    base_url: Annotated[str, Field(min_length=1, max_length=2048)]
    """Endpoint root, e.g. ``https://api.openai.com/v1`` or ``http://127.0.0.1:11434/v1``;
    requests go to ``<base_url>/chat/completions``."""
    model: Annotated[str | None, Field(min_length=1, max_length=200)] = None
    """The one model, unless ``panel`` names several."""
    judge_id: Annotated[str | None, Field(min_length=1, max_length=255)] = None
    """Judge id of the one model's answers; defaults to ``llm:<model>``."""
    panel: Annotated[list[PanelMember], Field(max_length=16)] = Field(default_factory=list)
    """Several models; each comparison goes to one of them, chosen by its id."""
    temperature: Annotated[float, Field(ge=0.0, le=2.0)] = 0.0
    max_tokens: Annotated[int, Field(ge=16, le=32_768)] = 300
    api_key_env: Annotated[str | None, Field(max_length=128)] = None
    """Name of the worker's environment variable holding the API key (none: no key sent)."""
    concurrency: Annotated[int, Field(ge=1, le=1_000)] = 4
    """Requests in flight at once to this endpoint and model, across all worker processes."""
    requests_per_minute: Annotated[float | None, Field(gt=0.0, le=1_000_000.0)] = 60.0
    """Requests started per minute to this endpoint and model, across all worker
    processes (none: no limit)."""
    timeout_seconds: Annotated[float, Field(ge=1.0, le=600.0)] = 60.0
    """Timeout of one HTTP request."""
    max_retries: Annotated[int, Field(ge=0, le=10)] = 4
    """Retries of a request after a 429, a 5xx, a timeout or a connection error."""
    output_mode: Literal["json_schema", "tool_call"] = "json_schema"
    """How structured output is asked for: ``response_format`` with a JSON schema, or a
    forced tool call (for servers without JSON-schema output). A server that rejects the
    schema is asked again with a tool call once."""
    instructions: Annotated[str | None, Field(min_length=1, max_length=20_000)] = None
    """Replaces the default judging instructions; the data fences and the answer format
    are always added."""
    prices: dict[str, TokenPrice] = Field(default_factory=dict)
    """Price table: model name to price per million tokens; gives each answer a cost."""
    assignment: Annotated[str | None, Field(max_length=50_000)] = None
    """The task the essays answer; filled from ``BatchRequest.assignment``."""
    rubric: Annotated[str | None, Field(max_length=50_000)] = None
    """How to judge them; filled from ``BatchRequest.rubric``."""

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http(s) URL with a host, e.g. https://api.openai.com/v1")
        if parts.username or parts.password:
            raise ValueError("must not carry credentials: name them with api_key_env")
        if parts.query or parts.fragment:
            raise ValueError("must not have a query or fragment")
        return value.rstrip("/")

    @field_validator("api_key_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not _ENV_NAME.match(value):
            raise ValueError("must be the NAME of an environment variable, e.g. OPENAI_API_KEY")
        if value.upper().startswith("CJ_"):
            # The worker's own settings (database URL, broker URL) must never be sendable
            # to an endpoint a producer chose.
            raise ValueError("must not name one of cj-worker's own CJ_ settings")
        return value

    @model_validator(mode="after")
    def _models(self) -> Self:
        if (self.model is None) == (not self.panel):
            raise ValueError("model: give either one model or a panel of models")
        if self.panel and self.judge_id is not None:
            raise ValueError("judge_id: a panel's judge ids are given per member")
        ids = [member.judge_id for member in self.members()]
        if len(set(ids)) != len(ids):
            raise ValueError("panel: two members have the same judge_id")
        return self

    def members(self) -> tuple[JudgeMember, ...]:
        """The models this judge calls, each with its judge id and sampling settings."""
        if self.model is not None:
            return (
                JudgeMember(
                    self.judge_id or f"llm:{self.model}",
                    self.model,
                    self.temperature,
                    self.max_tokens,
                ),
            )
        return tuple(
            JudgeMember(
                member.judge_id or f"llm:{member.model}",
                member.model,
                self.temperature if member.temperature is None else member.temperature,
                self.max_tokens if member.max_tokens is None else member.max_tokens,
            )
            for member in self.panel
        )

    def member_for(self, comparison_id: uuid.UUID) -> JudgeMember:
        """The member that judges this comparison: a function of its id, so a redelivered
        request goes to the same model, and a panel's load is spread evenly."""
        members = self.members()
        return members[comparison_id.int % len(members)]

    def price(self, model: str) -> TokenPrice | None:
        return self.prices.get(model)
