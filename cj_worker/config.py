"""Settings: the algorithmic knobs a batch may override, and the deployment settings.

Every setting is read from the environment with the prefix ``CJ_`` (``CJ_MAX_ITERATIONS=20``).
The algorithmic ones live in :class:`AlgorithmSettings` so that a batch can carry its own
effective copy (the snapshot stored with the batch) and the pure core can take them as a
plain, validated value without knowing about the environment.
"""

from __future__ import annotations

import enum
from functools import lru_cache
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class PairingPolicy(enum.StrEnum):
    """How COVERAGE waves choose among eligible pairs.

    ``information`` is the engine's policy (expected information from an empirical-Bayes
    selection fit; see ``cj_worker.core.pairing``). ``random`` and ``proximity`` (the earlier
    service's count-fairness + score-proximity matching) exist as measured baselines.
    """

    INFORMATION = "information"
    RANDOM = "random"
    PROXIMITY = "proximity"
    HYBRID = "hybrid"
    """``information`` with a random share of every COVERAGE wave (``hybrid_random_share``),
    the pairing study's hybrid (d): random pairs keep the design from depending only on
    earlier outcomes, which is what inflates reliability figures under adaptive pairing."""


class AlgorithmSettings(BaseModel):
    """The settings that decide how a batch is run; a batch stores its effective copy."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)

    max_pairwise_comparisons: int = Field(
        300, ge=1, description="Default comparison budget of a batch (a request may set its own)."
    )
    comparisons_per_stability_check_iteration: int | None = Field(
        None, ge=1, description="Optional cap on the size of one wave; none by default."
    )
    min_comparisons_for_stability_check: int = Field(
        12, ge=0, description="Successful comparisons needed before stability may stop a batch."
    )
    score_stability_threshold: float = Field(
        0.05,
        ge=0.0,
        description="Largest score change (logits) between decisions that counts as stable.",
    )
    max_iterations: int = Field(30, ge=1, description="Most waves a batch may dispatch.")
    min_success_rate: float = Field(
        0.8, ge=0.0, le=1.0, description="Success-rate guard: below it a capped batch fails."
    )
    min_resampling_net_size: int = Field(
        10, ge=0, description="Nets with at most this many essays are small nets."
    )
    max_resampling_passes_for_small_net: int = Field(
        2, ge=0, description="Resampling passes a small net may run after coverage is complete."
    )
    max_resampling_passes_for_regular_net: int = Field(
        1, ge=0, description="Resampling passes a regular net may run after coverage is complete."
    )
    max_attempts_per_pair: int = Field(
        3, ge=1, description="Failed attempts after which COVERAGE stops retrying a pair."
    )
    bt_prior_precision: float = Field(
        0.01,
        gt=0.0,
        le=100.0,
        description=(
            "Prior precision of the reported Bradley-Terry fit: its floor under"
            " bt_prior_mode empirical_bayes, its value under fixed."
        ),
    )
    bt_prior_mode: Literal["empirical_bayes", "fixed"] = Field(
        "empirical_bayes",
        description=(
            "How the Bradley-Terry prior is chosen: empirical_bayes estimates the spread of the"
            " abilities from the data, with bt_prior_precision as a floor on the precision;"
            " fixed uses bt_prior_precision exactly."
        ),
    )
    pairing_policy: PairingPolicy = Field(
        PairingPolicy.INFORMATION, description="How COVERAGE waves pick pairs."
    )
    hybrid_random_share: float = Field(
        0.25,
        ge=0.0,
        le=1.0,
        description="Share of each COVERAGE wave chosen at random under the hybrid policy.",
    )
    pair_seed: int | None = Field(
        None,
        ge=0,
        le=2**63 - 1,
        description="Seed of the pairing RNG; none derives one from the batch id.",
    )

    def override(self, values: dict[str, Any]) -> Self:
        """Apply per-batch overrides (case-insensitive keys), validating the result.

        Raises ``pydantic.ValidationError`` naming the field for an unknown key or a bad
        value, so that a bad request changes nothing.
        """
        merged = self.model_dump()
        merged.update({key.lower(): value for key, value in values.items()})
        return type(self).model_validate(merged)


class Settings(AlgorithmSettings, BaseSettings):
    """Process-wide settings: the algorithmic defaults plus where the servers are."""

    model_config = SettingsConfigDict(
        env_prefix="CJ_", frozen=True, extra="ignore", validate_default=True
    )

    database_url: str = Field(
        "sqlite:///cj-worker.sqlite3", description="SQLAlchemy URL of the database."
    )
    broker_url: str = Field("redis://127.0.0.1:6379/0", description="Celery broker URL (Redis).")
    result_backend: str | None = Field(
        None, description="Celery result backend; none keeps no task results."
    )
    comparison_timeout_seconds: int = Field(
        900, ge=1, description="A comparison pending longer than this is timed out by the sweep."
    )
    sweep_interval_seconds: int = Field(60, ge=1, description="How often beat runs the sweep.")
    task_soft_time_limit_seconds: int = Field(
        240, ge=1, description="Soft time limit of every task."
    )
    task_time_limit_seconds: int = Field(300, ge=1, description="Hard time limit of every task.")
    broker_visibility_timeout_seconds: int = Field(
        3600, ge=1, description="Redis visibility timeout: an unacked task is redelivered after it."
    )
    sweep_max_retriggers: int = Field(
        5,
        ge=1,
        description=(
            "Triggers the sweep re-sends for one wave (or one finalization) without progress"
            " before it fails the batch as `stalled`; the k-th waits for"
            " sweep_interval_seconds * 2**(k-1) of silence."
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

    @model_validator(mode="after")
    def _limits_below_visibility_timeout(self) -> Self:
        # With acks_late a task still running when the visibility timeout expires is handed
        # to a second worker: the limits must end it first.
        if self.task_soft_time_limit_seconds >= self.task_time_limit_seconds:
            raise ValueError("task_soft_time_limit_seconds must be below task_time_limit_seconds")
        if self.task_time_limit_seconds >= self.broker_visibility_timeout_seconds:
            raise ValueError(
                "task_time_limit_seconds must be below broker_visibility_timeout_seconds"
            )
        return self


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read once from the environment."""
    return Settings()
