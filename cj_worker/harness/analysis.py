"""Summaries of sweep rows: K needed to reach a target, and paired differences vs a baseline.

Following the pairing study (section 2): the K needed is the first crossing of the target
on the *mean* curve over seeds, linearly interpolated between grid points; its SE and the
SEs of the differences from the baseline come from a paired bootstrap over seeds (the same
resampled seeds for every policy, since a seed fixes the truth).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy.stats import t as student_t

from cj_worker.core.array_types import FloatArray
from cj_worker.harness.sweep import SweepRow

GroupKey = tuple[int, str]
"""(n, judges)."""


@dataclass(frozen=True)
class Curves:
    """One metric for every policy of a group, on common seeds and a common K grid."""

    ks: FloatArray
    seeds: tuple[int, ...]
    values: dict[str, FloatArray]
    """policy -> array [seed, K]."""


@dataclass(frozen=True)
class KNeeded:
    n: int
    judges: str
    policy: str
    metric: str
    threshold: float
    seeds: int
    k: float
    """First crossing on the mean curve; NaN if the target is not reached on the grid."""
    k_se: float
    difference: float
    """k - k_baseline (negative: fewer comparisons than the baseline)."""
    difference_se: float
    saving: float
    """1 - k / k_baseline (positive: fewer comparisons than the baseline)."""
    saving_se: float
    reached: float
    """Share of bootstrap samples in which both this policy and the baseline reach the target."""

    def as_dict(self) -> dict[str, str | int | float]:
        return asdict(self)


@dataclass(frozen=True)
class PairedDifference:
    n: int
    judges: str
    policy: str
    metric: str
    k: float
    seeds: int
    mean: float
    """Mean over seeds of policy - baseline at the same K on the same truth."""
    se: float
    p_worse: float
    """One-sided paired t-test p-value for "the policy is below the baseline"."""

    def as_dict(self) -> dict[str, str | int | float]:
        return asdict(self)


def curves(rows: Iterable[SweepRow], metric: str) -> dict[GroupKey, Curves]:
    """Arrange ``metric`` per (n, judges) as [seed, K] arrays over the seeds all policies ran."""
    table: dict[GroupKey, dict[str, dict[int, dict[float, float]]]] = {}
    for row in rows:
        by_policy = table.setdefault((row.n, row.judges), {})
        by_policy.setdefault(row.policy, {}).setdefault(row.seed, {})[row.k] = row.metrics.get(
            metric, float("nan")
        )
    out: dict[GroupKey, Curves] = {}
    for key, by_policy in table.items():
        seeds = sorted(set.intersection(*(set(s) for s in by_policy.values())))
        ks = sorted({k for by_seed in by_policy.values() for v in by_seed.values() for k in v})
        values = {
            policy: np.array(
                [[by_seed[s].get(k, float("nan")) for k in ks] for s in seeds], dtype=np.float64
            ).reshape(len(seeds), len(ks))
            for policy, by_seed in by_policy.items()
        }
        out[key] = Curves(np.asarray(ks, dtype=np.float64), tuple(seeds), values)
    return out


def first_crossing(ks: FloatArray, curves_: FloatArray, threshold: float) -> FloatArray:
    """First K at which each curve (rows of ``curves_``) reaches ``threshold``.

    Linear interpolation between the grid points around the crossing; the first grid
    point if the curve starts at or above the threshold; NaN if it never gets there.
    Vectorised over rows, so a bootstrap costs one call.
    """
    values = np.atleast_2d(curves_)
    above = values >= threshold
    reached = above.any(axis=1)
    index = np.argmax(above, axis=1)
    result = np.full(values.shape[0], np.nan)
    at_start = reached & (index == 0)
    result[at_start] = ks[0]
    inner = reached & (index > 0)
    rows = np.flatnonzero(inner)
    hi = index[inner]
    lo = hi - 1
    y0, y1 = values[rows, lo], values[rows, hi]
    fraction = (threshold - y0) / (y1 - y0)
    result[inner] = ks[lo] + fraction * (ks[hi] - ks[lo])
    return result


def k_needed(
    rows: Iterable[SweepRow],
    metric: str,
    threshold: float,
    *,
    baseline: str = "random",
    n_boot: int = 2000,
    rng: np.random.Generator | None = None,
) -> list[KNeeded]:
    """K needed per (n, judges, policy) to reach ``threshold`` on ``metric``, vs ``baseline``."""
    rng = rng if rng is not None else np.random.default_rng(0)
    out: list[KNeeded] = []
    for (n, judges), group in sorted(curves(rows, metric).items()):
        n_seeds = len(group.seeds)
        if n_seeds == 0:
            continue
        samples = rng.integers(n_seeds, size=(n_boot, n_seeds))
        point = {
            p: float(first_crossing(group.ks, _nanmean(v), threshold)[0])
            for p, v in group.values.items()
        }
        boot = {
            p: first_crossing(group.ks, _nanmean(v[samples], axis=1), threshold)
            for p, v in group.values.items()
        }
        base_point = point.get(baseline, float("nan"))
        base_boot = boot.get(baseline, np.full(n_boot, np.nan))
        for policy in sorted(group.values):
            k_boot = boot[policy]
            both = np.isfinite(k_boot) & np.isfinite(base_boot)
            out.append(
                KNeeded(
                    n=n,
                    judges=judges,
                    policy=policy,
                    metric=metric,
                    threshold=threshold,
                    seeds=n_seeds,
                    k=point[policy],
                    k_se=_nanstd(k_boot),
                    difference=point[policy] - base_point,
                    difference_se=_nanstd(np.where(both, k_boot - base_boot, np.nan)),
                    saving=1.0 - point[policy] / base_point,
                    saving_se=_nanstd(np.where(both, 1.0 - k_boot / base_boot, np.nan)),
                    reached=float(both.mean()),
                )
            )
    return out


def paired_differences(
    rows: Iterable[SweepRow], metric: str, *, baseline: str = "random"
) -> list[PairedDifference]:
    """Per (n, judges, policy, K): mean and SE over seeds of policy - baseline."""
    out: list[PairedDifference] = []
    for (n, judges), group in sorted(curves(rows, metric).items()):
        if baseline not in group.values:
            continue
        base = group.values[baseline]
        for policy in sorted(group.values):
            if policy == baseline:
                continue
            differences = group.values[policy] - base
            for column, k in enumerate(group.ks.tolist()):
                d = differences[:, column]
                d = d[np.isfinite(d)]
                mean, se, p = _paired_t(d)
                out.append(PairedDifference(n, judges, policy, metric, k, d.size, mean, se, p))
    return out


def mean_metric(rows: Iterable[SweepRow], metric: str) -> dict[tuple[int, str, str, float], float]:
    """Mean over seeds of ``metric`` per (n, judges, policy, K), NaNs ignored."""
    sums: dict[tuple[int, str, str, float], list[float]] = {}
    for row in rows:
        value = row.metrics.get(metric, float("nan"))
        if np.isfinite(value):
            sums.setdefault((row.n, row.judges, row.policy, row.k), []).append(value)
    return {key: float(np.mean(values)) for key, values in sums.items()}


def _paired_t(differences: Sequence[float] | FloatArray) -> tuple[float, float, float]:
    d = np.asarray(differences, dtype=np.float64)
    if d.size == 0:
        return float("nan"), float("nan"), float("nan")
    mean = float(d.mean())
    if d.size < 2:
        return mean, float("nan"), float("nan")
    se = float(d.std(ddof=1) / np.sqrt(d.size))
    if se == 0.0:
        return mean, se, 0.0 if mean < 0 else 1.0
    return mean, se, float(student_t.cdf(mean / se, df=d.size - 1))


def _nanmean(values: FloatArray, axis: int = 0) -> FloatArray:
    """Mean over seeds ignoring runs that stopped before a K (NaN where none reached it)."""
    finite = np.isfinite(values)
    total = np.where(finite, values, 0.0).sum(axis=axis)
    count = finite.sum(axis=axis)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _nanstd(values: FloatArray) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.std(ddof=1)) if finite.size > 1 else float("nan")
