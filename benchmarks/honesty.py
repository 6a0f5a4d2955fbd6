"""Are the numbers cj-worker reports honest under its own pairing? (issue 10; not a timed test)

Run from the repository root: ``PYTHONPATH=. python benchmarks/honesty.py`` (the full grid
takes about an hour on one core; ``--processes 2`` halves it), or ``--quick`` for a
few-minute development run (fewer seeds and cells, same columns).

For every pairing policy x judge model x net size N x comparisons per essay K it runs
synthetic nets through the production engine (``cj_worker.harness.run_harness``: the
engine's pairing, Bradley-Terry fit and decision function; only the judges are simulated)
and reports, as mean +- standard error over seeds:

- ``coverage``: share of the 95 % intervals (score +- 1.96 SE) that contain the true
  ability, both mean-centred, the truth taken on the judges' logit scale (the abilities
  times the pool's mean discrimination; coin-flip judges count as discrimination 0, so a
  pool of coin flippers has a flat truth);
- ``reported``: the headline reliability the engine reports (``BTFit.reliability``), and
  ``true``: the squared correlation of the scores with the truth; ``rep-true`` is their
  paired difference;
- ``ssr-true``: the classic SSR (a secondary figure) minus the truth, for comparison;
- ``spearman`` and its paired difference from ``random`` on the same truth (same seed);
- ``tau``: the estimated SD of the abilities (``BTFit.prior_sd``).

With ``--misfit`` it measures the misfit flags instead (section 4 of the issue): 100 essays,
K = 20 (50 comparisons per judge with 20 judges), each wave planned by the production
``plan_wave`` (COVERAGE), the final fit and ``judge_fit`` / ``essay_fit`` as finalization
calls them; (a) 2 of 20 judges answer by coin flip: share of coin flippers and of
reliable judges flagged; (b) exact judges, 5 erratic essays (each of their outcomes
reversed with probability 1/2, i.e. a coin decides): share of erratic and of other
essays flagged. This loop is the benchmark's own (the harness does not record which
judge answered), kept to the production pairing, fit and fit statistics.

A second table gives the comparisons per essay each policy needs for Spearman 0.90 (the
first crossing of the mean curve, as in the pairing study) and its saving against random,
with paired-bootstrap SEs.

Design: one run per (policy, judges, N, seed) to the largest K with stability stopping off
(``trajectory_settings``); the figures at each K come from refitting the run's first
K * N / 2 comparisons with the production fit and settings, which is the fit the engine
would have reported had the budget ended there. Seeds are paired across policies: a seed
fixes the truth (``HarnessConfig.streams``).
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import expit
from scipy.stats import spearmanr

from cj_worker.core.array_types import FloatArray
from cj_worker.core.bt import BTFit, fit_bradley_terry
from cj_worker.core.history import ComparisonHistory, ComparisonStatus
from cj_worker.core.judge_screen import fit_setting_aside_noise
from cj_worker.core.judgements import Judgements
from cj_worker.core.misfit import ESSAY_MISFIT_LEVEL, JUDGE_MISFIT_LEVEL, essay_fit, judge_fit
from cj_worker.core.pairing import INITIAL_SELECTION_PRECISION, PairGenerationMode, plan_wave
from cj_worker.core.settings import AlgorithmSettings, PairingPolicy
from cj_worker.core.simulated_judge import logit_scale
from cj_worker.harness import (
    HarnessConfig,
    SimulatedJudge,
    SweepRow,
    budget_for,
    k_needed,
    run_harness,
    trajectory_settings,
)
from cj_worker.harness.metrics import interval_coverage
from cj_worker.harness.sweep import metrics_at

EXACT = SimulatedJudge()
COIN = SimulatedJudge(name="coin", random=True)
JUDGE_MODELS: dict[str, tuple[SimulatedJudge, ...]] = {
    "exact": (EXACT,),
    "disc0.7": (SimulatedJudge(name="disc0.7", discrimination=0.7),),
    "2coin/20": (EXACT,) * 18 + (COIN,) * 2,
    "allcoin": (COIN,),
}
"""The issue's judge models: exact BT judges, judges of discrimination 0.7, a pool of 20 of
which 2 answer by coin flip, and a pool in which every judge flips a coin."""

SPEARMAN_TARGET = 0.90
CURVE_STEP = 1.0
"""K grid of the Spearman curves read from the run's per-wave trajectory."""


@dataclass(frozen=True)
class Grid:
    policies: tuple[str, ...]
    judges: tuple[str, ...]
    sizes: tuple[int, ...]
    ks: tuple[float, ...]
    seeds: int
    true_sd: float
    curve_k_max: float


def default_policies() -> tuple[str, ...]:
    """information and random, plus hybrid when the engine offers it."""
    names = ["information", "random"]
    if "hybrid" in {p.value for p in PairingPolicy}:
        names.insert(1, "hybrid")
    return tuple(names)


FULL = Grid(
    policies=default_policies(),
    judges=tuple(JUDGE_MODELS),
    sizes=(30, 100, 500),
    ks=(6.0, 10.0, 20.0),
    seeds=20,
    true_sd=1.5,
    curve_k_max=20.0,
)
QUICK = Grid(
    policies=default_policies(),
    judges=("exact", "allcoin"),
    sizes=(30, 100),
    ks=(6.0, 10.0, 20.0),
    seeds=4,
    true_sd=1.5,
    curve_k_max=20.0,
)


@dataclass(frozen=True)
class Unit:
    policy: str
    judges: str
    n: int
    seed: int
    grid: Grid


@dataclass(frozen=True)
class Cell:
    """The figures of one run at one K."""

    policy: str
    judges: str
    n: int
    k: float
    seed: int
    coverage: float
    reported: float
    true: float
    ssr: float
    spearman: float
    tau: float
    extreme: float
    """The farthest score from the mean, in units of the fit's prior SD (tau hat): the
    target is that no score lies beyond 4 tau hat in classes of 20+ at K >= 6. NaN when
    tau hat is 0 (every score is then the mean)."""


def extreme_in_taus(scores: FloatArray, tau: float) -> float:
    """max |score - mean| / tau, NaN for tau 0."""
    if not tau > 0:
        return math.nan
    return float(np.max(np.abs(scores - scores.mean())) / tau) if scores.size else math.nan


def run_unit(unit: Unit) -> tuple[list[Cell], list[SweepRow]]:
    """One harness run to the largest K; figures at every K of the grid and the curve."""
    grid = unit.grid
    pool = JUDGE_MODELS[unit.judges]
    k_max = max(max(grid.ks), grid.curve_k_max)
    base = AlgorithmSettings().override({"pairing_policy": unit.policy})
    settings = trajectory_settings(base, k_max)
    result = run_harness(
        HarnessConfig(
            essay_count=unit.n,
            true_sd=grid.true_sd,
            budget=budget_for(unit.n, k_max),
            settings=settings,
            seed=unit.seed,
            judges=pool,
        )
    )
    truth = result.true_abilities
    history = result.history

    def fit_of(decisions: Judgements) -> BTFit:
        winners, losers = decisions.outcomes()
        return fit_bradley_terry(
            unit.n,
            winners,
            losers,
            settings.bt_prior_precision,
            prior_mode=settings.bt_prior_mode,
        )

    cells: list[Cell] = []
    for k in grid.ks:
        rows = min(budget_for(unit.n, k), history.size)
        ok = history.succeeded[:rows]
        decided = Judgements(
            unit.n,
            history.slot_a[:rows][ok],
            history.slot_b[:rows][ok],
            history.a_won[:rows][ok],
            result.judges[:rows][ok],
            len(pool),
        )
        # As finalization fits: judges whose decisions are noise are set aside. The truth
        # is on the scale of the decisions kept (their judges' mean discrimination).
        screened = fit_setting_aside_noise(decided, fit_of)
        fit = screened.fit
        kept = screened.judgements.judge
        scaled = logit_scale(pool, kept) * truth
        spread = float(np.ptp(fit.scores)) > 0 and float(np.ptp(truth)) > 0
        true = float(np.corrcoef(fit.scores, truth)[0, 1] ** 2) if spread else 0.0
        if not np.any(scaled):
            true = 0.0  # the judges carry no information: nothing is reliable
        cells.append(
            Cell(
                policy=unit.policy,
                judges=unit.judges,
                n=unit.n,
                k=k,
                seed=unit.seed,
                coverage=interval_coverage(fit.scores, fit.standard_errors, scaled),
                reported=fit.reliability,
                true=true,
                ssr=fit.ssr,
                spearman=float(spearmanr(fit.scores, truth).statistic) if spread else 0.0,
                tau=fit.prior_sd,
                extreme=extreme_in_taus(fit.scores, fit.prior_sd),
            )
        )
    curve_ks = np.arange(CURVE_STEP, grid.curve_k_max + 1e-9, CURVE_STEP)
    curve = [
        SweepRow(
            policy=unit.policy,
            judges=unit.judges,
            n=unit.n,
            k=float(k),
            seed=unit.seed,
            metrics={"spearman": metrics_at(result.trajectory, float(k))["spearman"]},
        )
        for k in curve_ks
    ]
    return cells, curve


def units(grid: Grid, seed_offset: int) -> list[Unit]:
    return [
        Unit(policy, judges, n, seed_offset + s, grid)
        for n in grid.sizes
        for judges in grid.judges
        for policy in grid.policies
        for s in range(grid.seeds)
    ]


def mean_se(values: Sequence[float]) -> tuple[float, float]:
    array = np.asarray([v for v in values if math.isfinite(v)], dtype=np.float64)
    if array.size == 0:
        return math.nan, math.nan
    se = float(array.std(ddof=1) / math.sqrt(array.size)) if array.size > 1 else math.nan
    return float(array.mean()), se


def cell_text(values: Sequence[float], signed: bool = False) -> str:
    mean, se = mean_se(values)
    if math.isnan(mean):
        return "-"
    text = f"{mean:+.3f}" if signed else f"{mean:.3f}"
    return text if math.isnan(se) else f"{text}+-{se:.3f}"


def worst(values: Sequence[float]) -> str:
    """The largest finite value (over seeds), for a bound that must hold in every run."""
    finite = [v for v in values if math.isfinite(v)]
    return f"{max(finite):.2f}" if finite else "-"


def honesty_table(cells: Sequence[Cell]) -> str:
    groups: dict[tuple[str, int, float, str], list[Cell]] = defaultdict(list)
    for cell in cells:
        groups[(cell.judges, cell.n, cell.k, cell.policy)].append(cell)
    random_by_seed = {
        (c.judges, c.n, c.k, c.seed): c for c in cells if c.policy == PairingPolicy.RANDOM.value
    }
    header = (
        f"{'judges':<9} {'N':>4} {'K':>4} {'policy':<12} {'seeds':>5} {'coverage':>13}"
        f" {'reported':>13} {'true':>13} {'rep-true':>14} {'ssr-true':>14}"
        f" {'spearman':>13} {'d_spearman':>14} {'tau':>6} {'max|z|/tau':>10}"
    )
    lines = [header, "-" * len(header)]
    for (judges, n, k, policy), members in sorted(groups.items()):
        differences = [
            c.spearman - random_by_seed[(judges, n, k, c.seed)].spearman
            for c in members
            if (judges, n, k, c.seed) in random_by_seed and policy != PairingPolicy.RANDOM.value
        ]
        lines.append(
            f"{judges:<9} {n:>4} {k:>4g} {policy:<12} {len(members):>5}"
            f" {cell_text([c.coverage for c in members]):>13}"
            f" {cell_text([c.reported for c in members]):>13}"
            f" {cell_text([c.true for c in members]):>13}"
            f" {cell_text([c.reported - c.true for c in members], signed=True):>14}"
            f" {cell_text([c.ssr - c.true for c in members], signed=True):>14}"
            f" {cell_text([c.spearman for c in members]):>13}"
            f" {cell_text(differences, signed=True) if differences else '-':>14}"
            f" {mean_se([c.tau for c in members])[0]:>6.2f}"
            f" {worst([c.extreme for c in members]):>10}"
        )
    return "\n".join(lines)


def savings_table(curve: Sequence[SweepRow]) -> str:
    needed = k_needed(curve, "spearman", SPEARMAN_TARGET, baseline=PairingPolicy.RANDOM.value)
    header = (
        f"{'judges':<9} {'N':>4} {'policy':<12} {'seeds':>5} {'K for 0.90':>14}"
        f" {'saving vs random':>18}"
    )
    lines = [header, "-" * len(header)]
    for row in sorted(needed, key=lambda r: (r.judges, r.n, r.policy)):
        k_text = "not reached" if math.isnan(row.k) else f"{row.k:.1f}+-{row.k_se:.1f}"
        saving = (
            "-"
            if math.isnan(row.saving) or row.policy == PairingPolicy.RANDOM.value
            else f"{row.saving:+.0%}+-{row.saving_se:.0%}"
        )
        lines.append(
            f"{row.judges:<9} {row.n:>4} {row.policy:<12} {row.seeds:>5} {k_text:>14} {saving:>18}"
        )
    return "\n".join(lines)


MISFIT_ESSAYS = 100
MISFIT_K = 20.0
MISFIT_JUDGES = 20
MISFIT_COIN_JUDGES = 2
MISFIT_ERRATIC_ESSAYS = 5


@dataclass(frozen=True)
class MisfitRun:
    policy: str
    seed: int
    coin_flagged: float
    judges_flagged: float
    """Share of the reliable judges flagged."""
    erratic_flagged: float
    essays_flagged: float
    """Share of the other essays flagged."""


def misfit_run(policy: str, seed: int, true_sd: float) -> MisfitRun:
    """Both misfit scenarios on one truth (see the module docstring)."""
    shares = []
    for scenario in ("judges", "essays"):
        n = MISFIT_ESSAYS
        rng = np.random.default_rng([seed, 1 if scenario == "judges" else 2])
        pairing_rng = np.random.default_rng([seed, 3])
        truth = rng.normal(0.0, true_sd, n)
        settings = AlgorithmSettings().override({"pairing_policy": policy})
        history = ComparisonHistory.empty(n)
        judges = np.zeros(0, dtype=np.intp)
        precision = INITIAL_SELECTION_PRECISION
        erratic = np.arange(n) < (MISFIT_ERRATIC_ESSAYS if scenario == "essays" else 0)
        budget = budget_for(n, MISFIT_K)
        while history.size < budget:
            plan = plan_wave(
                PairGenerationMode.COVERAGE,
                history,
                min(n // 2, budget - history.size),
                pairing_rng,
                settings,
                precision,
            )
            precision = plan.selection_precision
            a = np.array([c.slot_a for c in plan.comparisons], dtype=np.intp)
            b = np.array([c.slot_b for c in plan.comparisons], dtype=np.intp)
            who = rng.integers(MISFIT_JUDGES, size=a.size).astype(np.intp)
            coin = (scenario == "judges") & (who < MISFIT_COIN_JUDGES) | erratic[a] | erratic[b]
            p_a = np.where(coin, 0.5, expit(truth[a] - truth[b]))
            won = rng.random(a.size) < p_a
            status = np.full(a.size, ComparisonStatus.SUCCEEDED, dtype=np.int8)
            history = history.extended(a, b, status, won)
            judges = np.concatenate((judges, who))
        winners, losers = history.outcomes()
        fit = fit_bradley_terry(n, winners, losers, settings.bt_prior_precision)
        slots = (fit.scores, history.slot_a, history.slot_b, history.a_won)
        if scenario == "judges":
            flags = judge_fit(*slots, judges, MISFIT_JUDGES, fit.standard_errors).misfit
            shares += [
                float(flags[:MISFIT_COIN_JUDGES].mean()),
                float(flags[MISFIT_COIN_JUDGES:].mean()),
            ]
        else:
            flags = essay_fit(*slots, fit.standard_errors).misfit
            shares += [float(flags[erratic].mean()), float(flags[~erratic].mean())]
    return MisfitRun(policy, seed, *shares)


def misfit_table(runs: Sequence[MisfitRun]) -> str:
    header = (
        f"{'policy':<12} {'seeds':>5} {'coin judges':>13} {'other judges':>13}"
        f" {'erratic essays':>15} {'other essays':>13}"
    )
    lines = [header, "-" * len(header)]
    by_policy: dict[str, list[MisfitRun]] = defaultdict(list)
    for run in runs:
        by_policy[run.policy].append(run)
    for policy, members in sorted(by_policy.items()):
        lines.append(
            f"{policy:<12} {len(members):>5}"
            f" {cell_text([r.coin_flagged for r in members]):>13}"
            f" {cell_text([r.judges_flagged for r in members]):>13}"
            f" {cell_text([r.erratic_flagged for r in members]):>15}"
            f" {cell_text([r.essays_flagged for r in members]):>13}"
        )
    return "\n".join(lines)


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="a few-minute development run")
    parser.add_argument("--seeds", type=int, help="seeds per cell")
    parser.add_argument("--seed-offset", type=int, default=1000, help="first seed")
    parser.add_argument("--sizes", type=lambda s: tuple(int(x) for x in s.split(",")))
    parser.add_argument("--ks", type=lambda s: tuple(float(x) for x in s.split(",")))
    parser.add_argument("--policies", type=lambda s: tuple(s.split(",")))
    parser.add_argument(
        "--judges", type=lambda s: tuple(s.split(",")), help=str(list(JUDGE_MODELS))
    )
    parser.add_argument("--true-sd", type=float)
    parser.add_argument("--curve-k-max", type=float, help="K up to which Spearman curves run")
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--misfit", action="store_true", help="measure the misfit flags instead")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    grid = QUICK if arguments.quick else FULL
    grid = Grid(
        policies=arguments.policies or grid.policies,
        judges=arguments.judges or grid.judges,
        sizes=arguments.sizes or grid.sizes,
        ks=arguments.ks or grid.ks,
        seeds=arguments.seeds or grid.seeds,
        true_sd=arguments.true_sd or grid.true_sd,
        curve_k_max=arguments.curve_k_max or grid.curve_k_max,
    )
    unknown = [j for j in grid.judges if j not in JUDGE_MODELS]
    if unknown:
        print(f"unknown judge models {unknown}; known: {list(JUDGE_MODELS)}", file=sys.stderr)
        return 2
    if arguments.misfit:
        started = time.perf_counter()
        runs = [
            misfit_run(policy, arguments.seed_offset + s, grid.true_sd)
            for policy in grid.policies
            for s in range(grid.seeds)
        ]
        print(
            f"misfit flags: {MISFIT_ESSAYS} essays, K {MISFIT_K:g}, {MISFIT_JUDGES} judges"
            f" ({MISFIT_COIN_JUDGES} coin), {MISFIT_ERRATIC_ESSAYS} erratic essays; true SD"
            f" {grid.true_sd}; levels: judges {JUDGE_MISFIT_LEVEL}, essays {ESSAY_MISFIT_LEVEL}"
        )
        print(misfit_table(runs))
        print(f"total {time.perf_counter() - started:.0f} s")
        return 0
    work = units(grid, arguments.seed_offset)
    print(
        f"honesty: policies {','.join(grid.policies)}; judges {','.join(grid.judges)};"
        f" N {grid.sizes}; K {grid.ks}; {grid.seeds} seeds from {arguments.seed_offset};"
        f" true SD {grid.true_sd}; {len(work)} runs"
    )
    started = time.perf_counter()
    cells: list[Cell] = []
    curve: list[SweepRow] = []
    if arguments.processes > 1:
        context = multiprocessing.get_context("spawn")
        with context.Pool(arguments.processes) as pool:
            for unit_cells, unit_curve in pool.imap_unordered(
                run_unit, sorted(work, key=lambda u: -u.n)
            ):
                cells.extend(unit_cells)
                curve.extend(unit_curve)
    else:
        for unit in work:
            unit_cells, unit_curve = run_unit(unit)
            cells.extend(unit_cells)
            curve.extend(unit_curve)
    print()
    print(honesty_table(cells))
    print()
    print(
        f"comparisons per essay for Spearman {SPEARMAN_TARGET} (curves to K {grid.curve_k_max:g})"
    )
    print(savings_table(curve))
    print()
    print(f"total {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
