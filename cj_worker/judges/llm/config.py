"""The LLM judge's worker-side settings: what a batch may not decide for itself.

Where the shared limits live and which environment variables a batch may name at all. The
per-batch spec is :mod:`cj_worker.llm_spec` (part of the producer contract).
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from cj_worker.llm_spec import DEFAULT_KEY_ENV_SUFFIX

__all__ = ["LlmWorkerSettings"]


class LlmWorkerSettings(BaseSettings):
    """Worker-side settings of the LLM judge (environment, prefix ``CJ_LLM_``)."""

    model_config = SettingsConfigDict(env_prefix="CJ_LLM_", extra="ignore", frozen=True)

    limiter_url: str | None = Field(
        None,
        description="Redis URL of the shared rate and concurrency limits; none uses the "
        "broker's URL when it is Redis, 'local' keeps them inside each process.",
    )
    api_key_envs: list[str] | None = Field(
        None,
        description="Environment variables a batch may name as api_key_env (JSON list); "
        f"none allows names ending in {DEFAULT_KEY_ENV_SUFFIX}.",
    )
    max_queue_wait_seconds: float = Field(
        30.0,
        ge=0.0,
        le=600.0,
        description="Longest a task waits for a rate or concurrency permit before it "
        "re-queues itself instead of holding a worker process.",
    )

    def key_env_allowed(self, name: str) -> bool:
        if self.api_key_envs is not None:
            return name in self.api_key_envs
        return name.endswith(DEFAULT_KEY_ENV_SUFFIX)
