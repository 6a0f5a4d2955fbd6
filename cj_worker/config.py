"""Settings: the algorithmic knobs a batch may override, and the deployment settings.

Every setting is read from the environment with the prefix ``CJ_`` (``CJ_MAX_ITERATIONS=20``).
The algorithmic ones are :class:`cj_worker.core.settings.AlgorithmSettings` (the core owns
them; a batch carries its own effective copy); :class:`Settings` contains them and adds
where the servers are.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Any, Literal, Self

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from cj_worker.core.settings import AlgorithmSettings, PairingPolicy

__all__ = ["AlgorithmSettings", "PairingPolicy", "Settings", "get_settings", "timing_problems"]


class Settings(AlgorithmSettings, BaseSettings):
    """Process-wide settings: the algorithmic defaults plus where the servers are."""

    model_config = SettingsConfigDict(
        env_prefix="CJ_", frozen=True, extra="ignore", validate_default=True
    )

    database_url: str = Field(
        "sqlite:///cj-worker.sqlite3", description="SQLAlchemy URL of the database."
    )
    broker_url: str = Field(
        "redis://127.0.0.1:6379/0",
        description=(
            "Celery broker URL: RabbitMQ (amqp://, recommended in production) or Redis (redis://)."
        ),
    )
    result_backend: str | None = Field(
        None, description="Celery result backend; none keeps no task results."
    )
    sweep_interval_seconds: int = Field(
        5,
        ge=1,
        description=(
            "How often beat runs the sweep (re-sends, time-outs, lost triggers) and the outbox"
            " relay; a lost message is repaired within about two intervals."
        ),
    )
    resend_simulated_after_seconds: int = Field(
        10,
        ge=1,
        description=(
            "Re-send deadline of the built-in simulated judge: a request it has not answered"
            " this long after it was sent (and while the batch heard nothing) is re-sent."
        ),
    )
    resend_llm_after_seconds: int = Field(
        1200,
        ge=1,
        description=(
            "Re-send deadline of the built-in LLM judge: longer than its hard time limit and"
            " its re-queues for rate limits, so a slow answer is not paid for twice."
        ),
    )
    resend_external_after_seconds: int = Field(
        900,
        ge=1,
        description="Re-send deadline of external judges (a producer's own judge task).",
    )
    judge_max_resends: int = Field(
        1,
        ge=0,
        description=(
            "Re-sends of an unanswered request; silence after the last one (one more"
            " deadline) times the comparison out, which counts as a failed judgement."
        ),
    )
    task_soft_time_limit_seconds: int = Field(
        240, ge=1, description="Soft time limit of every task."
    )
    task_time_limit_seconds: int = Field(300, ge=1, description="Hard time limit of every task.")
    broker_visibility_timeout_seconds: int = Field(
        900,
        ge=1,
        description=(
            "Redis only: a message a worker took but never acknowledged (the worker died) is"
            " handed out again after this long."
        ),
    )
    db_lock_timeout_seconds: int = Field(
        10,
        ge=1,
        description=(
            "Longest a task waits for a batch row lock (PostgreSQL lock_timeout); then it"
            " retries with backoff instead of running into its time limit."
        ),
    )
    sweep_max_retriggers: int = Field(
        10,
        ge=1,
        description=(
            "Triggers the sweep re-sends for one wave (or one finalization) without progress"
            " before it fails the batch as `stalled`; the k-th waits for"
            " sweep_interval_seconds * 2**(k-1) of silence (about 85 minutes in all with"
            " the defaults)."
        ),
    )
    intake_timeout_seconds: int = Field(
        3600,
        ge=1,
        description=(
            "How long a batch submitted in chunks (essay_count) may wait for its next chunk:"
            " the sweep fails a batch that heard no chunk for this long with the reason"
            " `intake_incomplete`. At least broker_visibility_timeout_seconds, after which"
            " Redis hands out again a chunk whose worker died."
        ),
    )
    metrics_port: int = Field(
        9808,
        ge=0,
        le=65535,
        description="Port of a worker's Prometheus metrics endpoint; 0 disables it.",
    )
    log_format: Literal["json", "text"] = Field(
        "json",
        description="Log lines of workers and beat: one JSON object per line, or Celery's text.",
    )
    result_token_secrets: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        description=(
            "Secrets of the per-comparison result tokens, comma-separated: the first signs,"
            " any verifies (add a new one first to rotate). Required by workers; see"
            " cj_worker.tokens."
        ),
    )

    @field_validator("result_token_secrets", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        # An environment variable is one string: "new,old" lists the secrets to accept.
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    def algorithm(self) -> AlgorithmSettings:
        """The algorithmic part, as the value a batch snapshots."""
        return AlgorithmSettings.model_validate(
            {name: getattr(self, name) for name in AlgorithmSettings.model_fields}
        )

    def resend_after_seconds(self, judge_kind: str) -> int:
        """The re-send deadline of a judge kind (``simulated``, ``llm``; any other: external)."""
        if judge_kind == "simulated":
            return self.resend_simulated_after_seconds
        if judge_kind == "llm":
            return self.resend_llm_after_seconds
        return self.resend_external_after_seconds

    @model_validator(mode="after")
    def _timings_fit_together(self) -> Self:
        """Refuse time settings that would lose, duplicate or stall work (see ops/runbook.md).

        Each rule names the settings it relates, so a worker that will not start says which
        ones to change.
        """
        problems = timing_problems(self)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @model_validator(mode="after")
    def _pairing_offered(self) -> Self:
        """Refuse a default pairing whose reported numbers were not measured honest."""
        refused = self.algorithm().unoffered_pairing()
        if refused is not None:
            raise ValueError(f"CJ_{refused[0].upper()}: {refused[1]}")
        return self


RETRY_BACKOFF_MAX_SECONDS = 120
"""Longest countdown of a task retried after a transient error (``tasks.base.cj_task``)."""


def timing_problems(settings: Settings) -> list[str]:
    """What is wrong with how the deployment's time settings relate; empty if nothing.

    - A task ends (soft, then hard limit) before Redis hands its message to another worker;
      a retried task waits in its worker, unacknowledged, for its countdown first.
    - A task waiting for a batch lock gives up (``db_lock_timeout_seconds``) and retries
      before its soft limit cuts it short.
    - The sweep runs at least twice per re-send deadline, so a request is re-sent within
      its deadline and never before half of it.
    - The LLM judge is never re-sent while its task may still run.
    - A chunked batch is not failed for a missing chunk that Redis still holds for a dead
      worker.
    """
    s = settings
    problems = []
    if s.task_soft_time_limit_seconds >= s.task_time_limit_seconds:
        problems.append("task_soft_time_limit_seconds must be below task_time_limit_seconds")
    if s.task_time_limit_seconds + RETRY_BACKOFF_MAX_SECONDS >= s.broker_visibility_timeout_seconds:
        problems.append(
            "task_time_limit_seconds + the longest retry countdown"
            f" ({RETRY_BACKOFF_MAX_SECONDS} s) must be below broker_visibility_timeout_seconds"
        )
    if s.db_lock_timeout_seconds >= s.task_soft_time_limit_seconds:
        problems.append("db_lock_timeout_seconds must be below task_soft_time_limit_seconds")
    for kind in ("simulated", "llm", "external"):
        if 2 * s.sweep_interval_seconds > s.resend_after_seconds(kind):
            problems.append(
                f"resend_{kind}_after_seconds must be at least twice sweep_interval_seconds"
            )
    if s.resend_llm_after_seconds <= s.task_time_limit_seconds:
        problems.append("resend_llm_after_seconds must exceed task_time_limit_seconds")
    if s.intake_timeout_seconds < s.broker_visibility_timeout_seconds:
        problems.append("intake_timeout_seconds must be at least broker_visibility_timeout_seconds")
    return problems


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read once from the environment."""
    return Settings()
