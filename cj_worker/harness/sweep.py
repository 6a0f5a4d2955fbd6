"""Sweeps: many harness runs over net sizes, budgets, seeds, pairing policies and judges.

Budgets are given as comparisons per essay K (a budget B on n essays is K = 2B / n), so
rows of different net sizes line up. Each (n, judges, policy, seed) is run once, to the
largest K, with stability stopping off (:func:`trajectory_settings`), and every requested
K is read from the per-wave trajectory: one run gives the whole accuracy-vs-K curve, and
every policy is measured at the same K on the same truth (same seed), so differences
between policies are paired. This is the design of the pairing study.
"""

from __future__ import annotations

import csv
import multiprocessing
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import ThreadpoolController

from cj_worker.core.settings import AlgorithmSettings, PairingPolicy
from cj_worker.harness.config import HarnessConfig, budget_for, trajectory_settings
from cj_worker.harness.judges import JUDGE_PROFILES, SimulatedJudge
from cj_worker.harness.result import TrajectoryPoint
from cj_worker.harness.runner import run_harness

TRAJECTORY_METRICS = (
    "spearman",
    "kendall",
    "true_reliability",
    "reliability",
    "coverage",
    "prior_sd",
    "rmse",
    "ssr",
)
"""Metrics read from every trajectory point (linearly interpolated between waves)."""

ProgressCallback = Callable[[int, int], None]
"""Called as ``progress(done, total)`` after each run."""


@dataclass(frozen=True)
class SweepRow:
    """The state of one run at K comparisons per essay."""

    policy: str
    judges: str
    n: int
    k: float
    seed: int
    metrics: Mapping[str, float] = field(default_factory=dict)
    """``TRAJECTORY_METRICS``, ``split_half`` (NaN where not measured), ``comparisons``."""

    def as_dict(self) -> dict[str, str | int | float]:
        """Flat record for tables, JSON and CSV."""
        flat: dict[str, str | int | float] = {
            "policy": self.policy,
            "judges": self.judges,
            "n": self.n,
            "k": self.k,
            "seed": self.seed,
        }
        flat.update(self.metrics)
        return flat


@dataclass(frozen=True)
class SweepUnit:
    """One harness run of a sweep (picklable, so it can go to a worker process)."""

    n: int
    judges_name: str
    judges: tuple[SimulatedJudge, ...]
    policy: PairingPolicy
    seed: int
    ks: tuple[float, ...]
    split_half_at: tuple[float, ...]
    settings: AlgorithmSettings
    true_sd: float


def run_sweep(
    essay_counts: Sequence[int],
    comparisons_per_essay: Sequence[float],
    seeds: Sequence[int] | Mapping[int, Sequence[int]],
    policies: Sequence[PairingPolicy | str],
    judge_profiles: Mapping[str, tuple[SimulatedJudge, ...]] | Sequence[str] = ("exact",),
    *,
    settings: AlgorithmSettings | None = None,
    true_sd: float = 1.5,
    split_half_at: Sequence[float] = (),
    processes: int = 1,
    progress: ProgressCallback | None = None,
) -> list[SweepRow]:
    """Run every (n, judges, policy, seed) once and return a row per requested K.

    ``comparisons_per_essay`` are the budgets as K; each run's budget is K_max * n / 2.
    ``seeds`` is one list for all sizes or a list per size (large nets are expensive).
    ``judge_profiles`` maps a name to a judge pool, or names entries of ``JUDGE_PROFILES``.
    ``settings`` is the base the policy and the trajectory overrides are applied to.
    ``split_half_at`` lists the K at which split-half reliability is also measured.
    With ``processes`` > 1 runs are spread over a process pool (one BLAS thread each).
    Rows are sorted by (n, judges, policy, seed, K) whatever the completion order.
    """
    units = sweep_units(
        essay_counts,
        comparisons_per_essay,
        seeds,
        policies,
        judge_profiles,
        settings=settings,
        true_sd=true_sd,
        split_half_at=split_half_at,
    )
    rows: list[SweepRow] = []
    total = len(units)
    if processes <= 1 or total <= 1:
        for done, unit in enumerate(units, start=1):
            rows.extend(run_unit(unit))
            if progress is not None:
                progress(done, total)
    else:
        context = multiprocessing.get_context("spawn")
        with context.Pool(min(processes, total), initializer=_single_blas_thread) as pool:
            # Largest nets first, so a slow run does not start last and leave a core idle.
            order = sorted(units, key=lambda u: -u.n)
            for done, unit_rows in enumerate(pool.imap_unordered(run_unit, order), start=1):
                rows.extend(unit_rows)
                if progress is not None:
                    progress(done, total)
    rows.sort(key=lambda r: (r.n, r.judges, r.policy, r.seed, r.k))
    return rows


def sweep_units(
    essay_counts: Sequence[int],
    comparisons_per_essay: Sequence[float],
    seeds: Sequence[int] | Mapping[int, Sequence[int]],
    policies: Sequence[PairingPolicy | str],
    judge_profiles: Mapping[str, tuple[SimulatedJudge, ...]] | Sequence[str] = ("exact",),
    *,
    settings: AlgorithmSettings | None = None,
    true_sd: float = 1.5,
    split_half_at: Sequence[float] = (),
) -> list[SweepUnit]:
    """The runs :func:`run_sweep` makes, in a deterministic order."""
    if not comparisons_per_essay:
        raise ValueError("at least one K is needed")
    ks = tuple(sorted(float(k) for k in comparisons_per_essay))
    profiles = _profiles(judge_profiles)
    base = settings if settings is not None else AlgorithmSettings()
    return [
        SweepUnit(
            n=n,
            judges_name=name,
            judges=judges,
            policy=PairingPolicy(policy),
            seed=seed,
            ks=ks,
            split_half_at=tuple(sorted(float(k) for k in split_half_at)),
            settings=base,
            true_sd=true_sd,
        )
        for n in essay_counts
        for name, judges in profiles.items()
        for policy in policies
        for seed in (seeds[n] if isinstance(seeds, Mapping) else seeds)
    ]


def run_unit(unit: SweepUnit) -> list[SweepRow]:
    """Run one unit to its largest K and read each requested K off the trajectory."""
    k_max = max(unit.ks)
    settings = trajectory_settings(unit.settings.override({"pairing_policy": unit.policy}), k_max)
    result = run_harness(
        HarnessConfig(
            essay_count=unit.n,
            true_sd=unit.true_sd,
            budget=budget_for(unit.n, k_max),
            settings=settings,
            seed=unit.seed,
            judges=unit.judges,
            split_half_at=unit.split_half_at,
        )
    )
    return [
        SweepRow(
            policy=unit.policy.value,
            judges=unit.judges_name,
            n=unit.n,
            k=k,
            seed=unit.seed,
            metrics=metrics_at(result.trajectory, k),
        )
        for k in unit.ks
    ]


def metrics_at(trajectory: Sequence[TrajectoryPoint], k: float) -> dict[str, float]:
    """Trajectory metrics at K comparisons per essay.

    Between two waves the metrics are interpolated linearly in K (waves are about n/2
    comparisons, so K lands on a wave whenever n is even and no wave was cut short). Beyond
    the last wave they are NaN: a run that stopped early says nothing about larger K.
    Split-half is only measured at checkpoints, so it is read from the first point at or
    beyond K (the wave that reached K), never interpolated; NaN if that wave did not measure it.
    """
    nan = float("nan")
    xs = np.array([p.comparisons_per_essay for p in trajectory])
    out: dict[str, float] = {}
    reachable = xs.size > 0 and xs[0] - 1e-9 <= k <= xs[-1] + 1e-9
    for name in TRAJECTORY_METRICS:
        if not reachable:
            out[name] = nan
            continue
        ys = np.array([getattr(p, name) for p in trajectory])
        out[name] = float(np.interp(k, xs, ys))
    out["comparisons"] = (
        float(np.interp(k, xs, [p.comparisons for p in trajectory])) if reachable else nan
    )
    out["split_half"] = next(
        (p.split_half for p in trajectory if p.comparisons_per_essay >= k - 1e-9), nan
    )
    return out


def write_csv(rows: Iterable[SweepRow], path: str | Path) -> None:
    """One line per row, the metrics as columns."""
    records = [row.as_dict() for row in rows]
    if not records:
        Path(path).write_text("")
        return
    columns = list(dict.fromkeys(key for record in records for key in record))
    with Path(path).open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(records)


def _profiles(
    judge_profiles: Mapping[str, tuple[SimulatedJudge, ...]] | Sequence[str],
) -> dict[str, tuple[SimulatedJudge, ...]]:
    if isinstance(judge_profiles, Mapping):
        return dict(judge_profiles)
    unknown = [name for name in judge_profiles if name not in JUDGE_PROFILES]
    if unknown:
        raise ValueError(f"unknown judge profiles {unknown}; known: {sorted(JUDGE_PROFILES)}")
    return {name: JUDGE_PROFILES[name] for name in judge_profiles}


_BLAS_LIMIT: list[Any] = []


def _single_blas_thread() -> None:
    """Pool initializer: one BLAS thread per process, so two processes fit two cores."""
    _BLAS_LIMIT.append(ThreadpoolController().limit(limits=1, user_api="blas"))
