"""Settings: SPEC section 9 defaults, the ``CJ_`` environment, per-batch overrides."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import ValidationError

from cj_worker.config import Settings, get_settings, timing_problems
from cj_worker.core.settings import AlgorithmSettings, PairingPolicy

SPEC_DEFAULTS: dict[str, Any] = {
    "max_pairwise_comparisons": 300,
    "comparisons_per_stability_check_iteration": None,
    "min_comparisons_for_stability_check": 12,
    "score_stability_threshold": 0.05,
    "max_iterations": 30,
    "min_success_rate": 0.8,
    "min_resampling_net_size": 10,
    "max_resampling_passes_for_small_net": 2,
    "max_resampling_passes_for_regular_net": 1,
    "max_attempts_per_pair": 3,
    "bt_prior_precision": 0.01,
    "pair_seed": None,
}
"""SPEC section 9, in the settings' own (lower-case) names."""


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No ``CJ_`` variable of the developer's shell leaks into these tests."""
    for name in list(os.environ):
        if name.upper().startswith("CJ_"):
            monkeypatch.delenv(name)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_the_defaults_are_those_of_the_spec() -> None:
    for settings in (AlgorithmSettings(), Settings()):
        actual = {name: getattr(settings, name) for name in SPEC_DEFAULTS}
        assert actual == SPEC_DEFAULTS
    # Chosen by the honesty benchmark (README, "Why this pairing policy"), not by the SPEC.
    assert AlgorithmSettings().pairing_policy is PairingPolicy.RANDOM
    assert AlgorithmSettings().hybrid_random_share == 0.5
    assert AlgorithmSettings().bt_prior_mode == "empirical_bayes"


def test_the_deployment_defaults() -> None:
    settings = Settings()
    assert settings.database_url.startswith("sqlite:///")
    assert settings.broker_url.startswith("redis://")
    assert settings.result_backend is None
    assert timing_problems(settings) == []
    # The recovery budget of the issue: a lost simulated judgement is re-sent within 30 s.
    assert settings.resend_simulated_after_seconds + settings.sweep_interval_seconds <= 30
    soft, hard = settings.task_soft_time_limit_seconds, settings.task_time_limit_seconds
    visibility = settings.broker_visibility_timeout_seconds
    assert settings.db_lock_timeout_seconds < soft < hard < visibility


def test_the_algorithm_part_is_what_a_batch_snapshots() -> None:
    settings = Settings(max_iterations=9, database_url="sqlite:///elsewhere.db")
    algorithm = settings.algorithm()
    assert type(algorithm) is AlgorithmSettings
    assert algorithm.max_iterations == 9
    assert set(algorithm.model_dump()) == set(AlgorithmSettings.model_fields)
    assert "database_url" not in algorithm.model_dump()


def test_settings_are_read_from_cj_prefixed_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CJ_MAX_ITERATIONS", "20")
    monkeypatch.setenv("CJ_SCORE_STABILITY_THRESHOLD", "0.1")
    monkeypatch.setenv("CJ_COMPARISONS_PER_STABILITY_CHECK_ITERATION", "12")
    monkeypatch.setenv("CJ_PAIRING_POLICY", "random")
    monkeypatch.setenv("CJ_DATABASE_URL", "postgresql+psycopg2://db/cj")
    monkeypatch.setenv("MIN_SUCCESS_RATE", "0.1")  # no prefix: not ours

    settings = get_settings()

    assert settings.max_iterations == 20
    assert settings.score_stability_threshold == 0.1
    assert settings.comparisons_per_stability_check_iteration == 12
    assert settings.pairing_policy is PairingPolicy.RANDOM
    assert settings.database_url == "postgresql+psycopg2://db/cj"
    assert settings.min_success_rate == 0.8
    assert settings.algorithm().max_iterations == 20


@pytest.mark.parametrize(
    ("environment", "named"),
    [
        ({"CJ_PAIRING_POLICY": "information"}, "CJ_PAIRING_POLICY: 'information' is a benchmark"),
        ({"CJ_PAIRING_POLICY": "proximity"}, "CJ_PAIRING_POLICY: 'proximity' is a benchmark"),
        (
            {"CJ_PAIRING_POLICY": "hybrid", "CJ_HYBRID_RANDOM_SHARE": "0.3"},
            "CJ_HYBRID_RANDOM_SHARE: 0.3 is below 0.5",
        ),
    ],
)
def test_a_default_pairing_not_measured_honest_is_refused(
    monkeypatch: pytest.MonkeyPatch, environment: dict[str, str], named: str
) -> None:
    """The harness may run the baselines (it builds AlgorithmSettings directly); a worker
    deployment may not make one the batches' default."""
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError, match=named):
        get_settings()
    assert AlgorithmSettings(pairing_policy=PairingPolicy.INFORMATION).unoffered_pairing()


def test_get_settings_reads_the_environment_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CJ_MAX_ITERATIONS", "5")
    first = get_settings()
    monkeypatch.setenv("CJ_MAX_ITERATIONS", "6")
    assert get_settings() is first
    get_settings.cache_clear()
    assert get_settings().max_iterations == 6


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("CJ_MAX_ITERATIONS", "0"),
        ("CJ_MIN_SUCCESS_RATE", "1.5"),
        ("CJ_BT_PRIOR_PRECISION", "0"),
        ("CJ_RESEND_SIMULATED_AFTER_SECONDS", "soon"),
    ],
)
def test_a_bad_environment_value_is_rejected_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError, match=variable.removeprefix("CJ_").lower()):
        Settings()


def test_override_applies_case_insensitive_keys_and_keeps_the_original() -> None:
    defaults = AlgorithmSettings()

    overridden = defaults.override({"MAX_ITERATIONS": 4, "min_success_rate": "0.5"})

    assert (overridden.max_iterations, overridden.min_success_rate) == (4, 0.5)
    assert overridden.max_resampling_passes_for_small_net == 2, "the rest is unchanged"
    assert defaults.max_iterations == 30
    assert defaults.override({}) == defaults


def test_override_keeps_the_environment_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CJ_MAX_ATTEMPTS_PER_PAIR", "5")
    effective = get_settings().algorithm().override({"max_iterations": 3})
    assert (effective.max_attempts_per_pair, effective.max_iterations) == (5, 3)


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"not_a_setting": 1}, "not_a_setting"),
        ({"DATABASE_URL": "sqlite://"}, "database_url"),  # deployment, not per batch
        ({"max_iterations": 0}, "max_iterations"),
        ({"min_success_rate": 1.01}, "min_success_rate"),
        ({"score_stability_threshold": -0.1}, "score_stability_threshold"),
        ({"comparisons_per_stability_check_iteration": 0}, "comparisons_per_stability_check"),
        ({"bt_prior_precision": 0}, "bt_prior_precision"),
        ({"pairing_policy": "greedy"}, "pairing_policy"),
        ({"max_attempts_per_pair": "many"}, "max_attempts_per_pair"),
    ],
)
def test_override_rejects_unknown_keys_and_bad_values_naming_the_field(
    overrides: dict[str, Any], named: str
) -> None:
    with pytest.raises(ValidationError, match=named):
        AlgorithmSettings().override(overrides)


def test_settings_are_immutable() -> None:
    settings = AlgorithmSettings()
    with pytest.raises(ValidationError):
        settings.max_iterations = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    ("limits", "named"),
    [
        ({"task_soft_time_limit_seconds": 300, "task_time_limit_seconds": 300}, "soft"),
        ({"task_soft_time_limit_seconds": 400, "task_time_limit_seconds": 300}, "soft"),
        ({"task_time_limit_seconds": 3600, "broker_visibility_timeout_seconds": 3600}, "visib"),
        ({"task_time_limit_seconds": 4000, "broker_visibility_timeout_seconds": 3600}, "visib"),
        # A retried task waits unacknowledged for its countdown (up to 120 s) first.
        ({"task_time_limit_seconds": 300, "broker_visibility_timeout_seconds": 400}, "visib"),
        ({"db_lock_timeout_seconds": 240}, "db_lock_timeout_seconds"),
        ({"sweep_interval_seconds": 6}, "resend_simulated_after_seconds"),
        ({"resend_external_after_seconds": 9, "sweep_interval_seconds": 5}, "resend_external"),
        ({"resend_llm_after_seconds": 300}, "resend_llm_after_seconds"),
    ],
)
def test_time_settings_that_do_not_fit_together_are_refused_naming_them(
    monkeypatch: pytest.MonkeyPatch, limits: dict[str, int], named: str
) -> None:
    for name, value in limits.items():
        monkeypatch.setenv(f"CJ_{name.upper()}", str(value))
    with pytest.raises(ValidationError, match=named):
        Settings()


def test_time_limits_below_the_visibility_timeout_are_accepted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CJ_TASK_SOFT_TIME_LIMIT_SECONDS", "50")
    monkeypatch.setenv("CJ_TASK_TIME_LIMIT_SECONDS", "60")
    monkeypatch.setenv("CJ_BROKER_VISIBILITY_TIMEOUT_SECONDS", "181")
    settings = Settings()
    assert (settings.task_time_limit_seconds, settings.broker_visibility_timeout_seconds) == (
        60,
        181,
    )


@pytest.mark.parametrize(
    ("kind", "seconds"), [("simulated", 11), ("llm", 1300), ("external", 901), ("other", 901)]
)
def test_each_judge_kind_has_its_re_send_deadline(kind: str, seconds: int) -> None:
    settings = Settings(
        resend_simulated_after_seconds=11,
        resend_llm_after_seconds=1300,
        resend_external_after_seconds=901,
    )
    assert settings.resend_after_seconds(kind) == seconds
