"""The algorithmic settings: the knobs that decide how a batch is run.

They belong to the core because the core's decisions read them: the pure core takes them as
a plain, validated value and never knows about the environment. A batch carries its own
effective copy (the snapshot stored with it); :class:`cj_worker.config.Settings` reads the
process-wide defaults from the environment (prefix ``CJ_``) and contains these.
"""

from __future__ import annotations

import enum
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "BASELINE_POLICIES",
    "MIN_OFFERED_HYBRID_SHARE",
    "AlgorithmSettings",
    "PairingPolicy",
]


class PairingPolicy(enum.StrEnum):
    """How COVERAGE waves choose among eligible pairs.

    ``random`` (the default) and ``hybrid`` are offered to producers. ``information``
    (expected information from an empirical-Bayes selection fit; see
    ``cj_worker.core.pairing``) and ``proximity`` (the earlier service's count-fairness +
    score-proximity matching) are baselines of the harness and the benchmarks only
    (:data:`BASELINE_POLICIES`).
    """

    INFORMATION = "information"
    RANDOM = "random"
    PROXIMITY = "proximity"
    HYBRID = "hybrid"
    """``information`` with a random share of every COVERAGE wave (``hybrid_random_share``),
    the pairing study's hybrid (d): random pairs keep the design from depending only on
    earlier outcomes, which is what inflates reliability figures under adaptive pairing."""


BASELINE_POLICIES = frozenset({PairingPolicy.INFORMATION, PairingPolicy.PROXIMITY})
"""Policies for the harness and benchmarks only: refused for batches (``unoffered_pairing``)."""
MIN_OFFERED_HYBRID_SHARE = 0.5
"""Smallest ``hybrid_random_share`` offered for batches: the share the honesty benchmark
measured (intervals 0.92-0.96 from 6 comparisons per essay at 500 essays)."""


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
        PairingPolicy.RANDOM, description="How COVERAGE waves pick pairs."
    )
    hybrid_random_share: float = Field(
        0.5,
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

    def unoffered_pairing(self) -> tuple[str, str] | None:
        """(setting, why) if these settings' pairing is not offered for batches, else None.

        A policy is offered only where the numbers a batch reports under it were measured
        honest (``benchmarks/honesty.py``). ``information`` and ``proximity`` match essays
        on their current scores; at 500 essays and 6 comparisons each those designs carry
        so little information about the spread of the abilities that its estimate
        collapses, and 95 % intervals held the truth 27-38 % (``information``) and 73-76 %
        (``proximity``) of the time. ``hybrid`` was measured at a random share of 0.5 only.
        """
        if self.pairing_policy in BASELINE_POLICIES:
            return (
                "pairing_policy",
                f"{self.pairing_policy.value!r} is a benchmark baseline, not offered for"
                " batches: its designs leave the spread of the abilities unidentified, so its"
                " intervals and reliability would not mean what they say (README, Why this"
                " pairing policy); use 'random' or 'hybrid'",
            )
        if (
            self.pairing_policy is PairingPolicy.HYBRID
            and self.hybrid_random_share < MIN_OFFERED_HYBRID_SHARE
        ):
            return (
                "hybrid_random_share",
                f"{self.hybrid_random_share} is below {MIN_OFFERED_HYBRID_SHARE}, the smallest"
                " random share whose intervals and reliability were measured honest",
            )
        return None

    def override(self, values: dict[str, Any]) -> Self:
        """Apply per-batch overrides (case-insensitive keys), validating the result.

        Raises ``pydantic.ValidationError`` naming the field for an unknown key or a bad
        value, so that a bad request changes nothing.
        """
        merged = self.model_dump()
        merged.update({key.lower(): value for key, value in values.items()})
        return type(self).model_validate(merged)
