"""Time the Bradley-Terry fit and measure the approximate SEs against the core issue's targets.

Run from the repository root: ``PYTHONPATH=. python benchmarks/bt_fit.py`` (about a minute),
or ``--quick`` for a seconds-long smoke run at smaller sizes (no targets apply there).

Synthetic data as in the pairing study: true abilities N(0, 1.5^2), pairs of distinct
essays drawn uniformly at random (so repeats occur), outcomes drawn from the BT model
itself, fixed seed. Each timing is the median of several repeats after one warm-up run
(the first call pays for imports, page faults and BLAS thread start-up, which a long-lived
worker does not pay per fit). The header prints the load average: on a busy two-core machine
OpenBLAS threads contend and the dense exact SEs slow down several-fold (measured 7-18x at
load 6); compare with ``OPENBLAS_NUM_THREADS=1`` before reading a MISS as a regression.

Sections:
  (a) MAP fit (PairTable.from_outcomes + map_scores) vs choix.ilsr_pairwise, n=1,000/m=50,000.
  (b) MAP fit alone at n=10,000/m=500,000 (choix there only with --choix-large: it builds a
      dense n x n Markov chain, 800 MB and minutes at that size).
  (c) Exact centred SEs at n=2,000 with 20 comparisons per essay, and the approximate SEs'
      time and error against exact at n=2,000 and 6, 10, 20, 50 comparisons per essay.
  (d) The full fit_bradley_terry (MAP + SEs + diagnostics) at the same sizes, fixed prior.
  (e) The hierarchical fit (the default: tau search + MAP + approximate SEs + signal test)
      at n=1,000/m=50,000 and n=10,000/m=500,000 against the same targets as (a) and (b),
      with the same-run ratio to the fixed-prior fit of (d).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from importlib.metadata import version

import choix
import numpy as np
import scipy
from results_table import Row, render, verdict
from scipy.special import expit
from scipy.stats import spearmanr

from cj_worker.core.array_types import FloatArray, IntArray
from cj_worker.core.bt import (
    PairTable,
    PriorMode,
    SEMethod,
    centred_variances,
    fit_bradley_terry,
    map_scores,
)

PRIOR_PRECISION = 0.01
"""SPEC 7's BT_PRIOR_PRECISION default: the fit every result is reported from."""
TRUE_SD = 1.5
"""True ability spread of the pairing study (section 2)."""


@dataclass(frozen=True)
class Sizes:
    """Problem sizes of one run; the targets only apply to the full sizes."""

    versus_choix: tuple[int, int]
    large: tuple[int, int]
    se_items: int
    exact_per_essay: int
    approximate_per_essay: tuple[int, ...]
    targets_apply: bool


FULL = Sizes(
    versus_choix=(1_000, 50_000),
    large=(10_000, 500_000),
    se_items=2_000,
    exact_per_essay=20,
    approximate_per_essay=(6, 10, 20, 50),
    targets_apply=True,
)
QUICK = Sizes(
    versus_choix=(200, 4_000),
    large=(1_000, 20_000),
    se_items=300,
    exact_per_essay=20,
    approximate_per_essay=(6, 20),
    targets_apply=False,
)

# Targets from the core issue (absolute seconds on the reference two-core machine).
TARGET_FIT_SMALL_S = 0.05
TARGET_SPEEDUP_VS_CHOIX = 15.0
TARGET_FIT_LARGE_S = 1.0
TARGET_EXACT_SE_S = 1.0


def simulate(n: int, m: int, seed: int) -> tuple[IntArray, IntArray]:
    """``m`` BT-exact comparisons between uniformly random distinct pairs of ``n`` essays."""
    rng = np.random.default_rng(seed)
    theta = rng.normal(0.0, TRUE_SD, n)
    a = rng.integers(0, n, m)
    b = rng.integers(0, n - 1, m)
    b = b + (b >= a)
    a_wins = rng.random(m) < expit(theta[a] - theta[b])
    return np.where(a_wins, a, b).astype(np.intp), np.where(a_wins, b, a).astype(np.intp)


def median_seconds(run: Callable[[], object], repeats: int) -> float:
    """Median wall time of ``repeats`` calls after one untimed warm-up call."""
    run()
    times: list[float] = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def few(repeats: int) -> int:
    """Repeats for the second-long measurements, which keep the whole run near a minute."""
    return max(1, min(repeats, 3))


def cj_map_fit(n: int, winners: IntArray, losers: IntArray) -> FloatArray:
    """What a refit costs: aggregate the outcomes, then the MAP."""
    table = PairTable.from_outcomes(n, winners, losers)
    return map_scores(table, PRIOR_PRECISION).scores


def choix_fit(n: int, data: list[tuple[int, int]]) -> FloatArray:
    """choix's I-LSR; its ``alpha`` is a pseudo-rate on every pair of its Markov chain, a
    different regulariser from our Gaussian prior, so the estimates differ at the extremes."""
    params = np.asarray(choix.ilsr_pairwise(n, data, alpha=PRIOR_PRECISION / 2), dtype=float)
    centred: FloatArray = params - params.mean()
    return centred


def section_versus_choix(sizes: Sizes, repeats: int, seed: int) -> list[Row]:
    n, m = sizes.versus_choix
    winners, losers = simulate(n, m, seed)
    data = list(zip(winners.tolist(), losers.tolist(), strict=True))
    ours = median_seconds(lambda: cj_map_fit(n, winners, losers), repeats)
    theirs = median_seconds(lambda: choix_fit(n, data), few(repeats))
    ratio = theirs / ours
    rho = float(spearmanr(cj_map_fit(n, winners, losers), choix_fit(n, data)).statistic)
    case = f"n={n:,} m={m:,}"
    applies = sizes.targets_apply
    return [
        Row(
            "a",
            f"cj-worker MAP fit {case}",
            f"{ours:.4f} s",
            f"<= {TARGET_FIT_SMALL_S} s",
            verdict(ours <= TARGET_FIT_SMALL_S, applies),
        ),
        Row("a", f"choix ilsr_pairwise {case}", f"{theirs:.4f} s"),
        Row(
            "a",
            "speed-up over choix ilsr",
            f"{ratio:.1f}x",
            f">= {TARGET_SPEEDUP_VS_CHOIX:.0f}x",
            verdict(ratio >= TARGET_SPEEDUP_VS_CHOIX, applies),
        ),
        Row("a", "Spearman(cj-worker, choix ilsr)", f"{rho:.4f}"),
    ]


def section_large(sizes: Sizes, repeats: int, seed: int, with_choix: bool) -> list[Row]:
    n, m = sizes.large
    winners, losers = simulate(n, m, seed)
    ours = median_seconds(lambda: cj_map_fit(n, winners, losers), repeats)
    case = f"n={n:,} m={m:,}"
    rows = [
        Row(
            "b",
            f"cj-worker MAP fit {case}",
            f"{ours:.4f} s",
            f"<= {TARGET_FIT_LARGE_S} s",
            verdict(ours <= TARGET_FIT_LARGE_S, sizes.targets_apply),
        )
    ]
    if with_choix:
        data = list(zip(winners.tolist(), losers.tolist(), strict=True))
        start = time.perf_counter()
        choix_fit(n, data)
        theirs = time.perf_counter() - start
        rows.append(Row("b", f"choix ilsr_pairwise {case} (1 run)", f"{theirs:.2f} s"))
        rows.append(Row("b", "speed-up over choix ilsr", f"{theirs / ours:.1f}x"))
    return rows


def exact_variances(table: PairTable, weights: FloatArray) -> FloatArray:
    """diag(P H^-1 P) by dense Cholesky of every component, however large."""
    return centred_variances(table, weights, PRIOR_PRECISION, SEMethod.EXACT)[0]


def approximate_variances(table: PairTable, weights: FloatArray) -> FloatArray:
    """diag(P H^-1 P) by the Neumann approximation for every component of 3+ items."""
    return centred_variances(table, weights, PRIOR_PRECISION, SEMethod.APPROXIMATE)[0]


def section_standard_errors(sizes: Sizes, repeats: int, seed: int) -> list[Row]:
    n = sizes.se_items
    rows: list[Row] = []
    for per_essay in (sizes.exact_per_essay, *sizes.approximate_per_essay):
        winners, losers = simulate(n, n * per_essay // 2, seed)
        table = PairTable.from_outcomes(n, winners, losers)
        weights = map_scores(table, PRIOR_PRECISION).pair_weights
        case = f"n={n:,} {per_essay}/essay"
        if not rows:  # the first pass times the exact computation only
            exact_time = median_seconds(partial(exact_variances, table, weights), repeats)
            rows.append(
                Row(
                    "c",
                    f"exact SEs {case}",
                    f"{exact_time:.4f} s",
                    f"<= {TARGET_EXACT_SE_S} s",
                    verdict(exact_time <= TARGET_EXACT_SE_S, sizes.targets_apply),
                )
            )
            continue
        seconds = median_seconds(partial(approximate_variances, table, weights), repeats)
        relative = np.sqrt(approximate_variances(table, weights) / exact_variances(table, weights))
        relative -= 1.0
        rows.append(
            Row(
                "c",
                f"approx SEs {case}",
                f"{seconds:.4f} s; |err| mean {np.mean(np.abs(relative)):.2%}"
                f" max {np.max(np.abs(relative)):.2%}; bias {np.mean(relative):+.2%}",
            )
        )
    return rows


def section_full_fit(sizes: Sizes, repeats: int, seed: int) -> list[Row]:
    cases: list[tuple[int, int, str]] = [
        (*sizes.versus_choix, ""),
        (*sizes.large, ""),
    ]
    n = sizes.se_items
    cases += [(n, n * k // 2, f" ({k}/essay)") for k in sizes.approximate_per_essay]
    rows: list[Row] = []
    for n_items, m, note in cases:
        winners, losers = simulate(n_items, m, seed)
        run = partial(
            fit_bradley_terry, n_items, winners, losers, PRIOR_PRECISION, prior_mode=PriorMode.FIXED
        )
        seconds = median_seconds(run, few(repeats))
        fit = run()
        rows.append(
            Row(
                "d",
                f"fit_bradley_terry n={n_items:,} m={m:,}{note}",
                f"{seconds:.4f} s; {fit.diagnostics.se_method.value} SEs,"
                f" {fit.diagnostics.iterations} it, SSR {fit.ssr:.3f}",
            )
        )
    return rows


def section_hierarchical(sizes: Sizes, repeats: int, seed: int) -> list[Row]:
    rows: list[Row] = []
    for (n_items, m), target in (
        (sizes.versus_choix, TARGET_FIT_SMALL_S),
        (sizes.large, TARGET_FIT_LARGE_S),
    ):
        winners, losers = simulate(n_items, m, seed)

        def fit(
            mode: PriorMode, n: int = n_items, w: IntArray = winners, lo: IntArray = losers
        ) -> object:
            return fit_bradley_terry(
                n, w, lo, PRIOR_PRECISION, prior_mode=mode, se_method=SEMethod.APPROXIMATE
            )

        hierarchical = median_seconds(partial(fit, PriorMode.EMPIRICAL_BAYES), few(repeats))
        fixed = median_seconds(partial(fit, PriorMode.FIXED), few(repeats))
        result = fit_bradley_terry(n_items, winners, losers, PRIOR_PRECISION)
        rows.append(
            Row(
                "e",
                f"hierarchical fit n={n_items:,} m={m:,}",
                f"{hierarchical:.4f} s ({hierarchical / fixed:.2f}x fixed {fixed:.4f} s);"
                f" tau {result.prior_sd:.3f} (true {TRUE_SD}), {result.prior_evaluations} fits",
                f"<= {target} s",
                verdict(hierarchical <= target, sizes.targets_apply),
            )
        )
    return rows


def environment() -> list[str]:
    """What the timings depend on: library versions, cores and the BLAS core override."""
    lines = [
        f"python {platform.python_version()}  numpy {np.__version__}  scipy {scipy.__version__}"
        f"  choix {version('choix')}",
        f"machine {platform.machine()}  cpus {os.cpu_count()}",
    ]
    if hasattr(os, "getloadavg"):
        # Timings on a shared machine are only as good as its idleness: say how busy it was.
        one, five, fifteen = os.getloadavg()
        lines.append(f"load average {one:.2f} {five:.2f} {fifteen:.2f} (1/5/15 min)")
    for name in ("OPENBLAS_CORETYPE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
        if name in os.environ:
            lines.append(f"{name}={os.environ[name]}")
    return lines


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="small sizes; seconds, no targets")
    parser.add_argument("--repeats", type=int, default=None, help="timed runs per measurement")
    parser.add_argument("--seed", type=int, default=20240601, help="synthetic data seed")
    parser.add_argument(
        "--choix-large",
        action="store_true",
        help="also time choix at the large size (dense n x n chain: slow, ~1 GB)",
    )
    parser.add_argument("--fail-on-miss", action="store_true", help="exit 1 if a target is missed")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    sizes = QUICK if arguments.quick else FULL
    repeats: int = arguments.repeats or (2 if arguments.quick else 5)
    seed: int = arguments.seed
    started = time.perf_counter()
    print(
        "Bradley-Terry fit benchmark" + (" (--quick: no targets apply)" if arguments.quick else "")
    )
    for text in environment():
        print("  " + text)
    print(
        f"  median of {repeats} runs ({few(repeats)} for choix and full fits) after 1 warm-up;"
        f" prior precision {PRIOR_PRECISION}"
    )
    print()
    rows = [
        *section_versus_choix(sizes, repeats, seed),
        *section_large(sizes, repeats, seed, arguments.choix_large),
        *section_standard_errors(sizes, repeats, seed),
        *section_full_fit(sizes, repeats, seed),
        *section_hierarchical(sizes, repeats, seed),
    ]
    print(render(rows))
    misses = sum(row.status == "MISS" for row in rows)
    passes = sum(row.status == "PASS" for row in rows)
    print()
    print(f"targets: {passes} PASS, {misses} MISS; total {time.perf_counter() - started:.1f} s")
    return 1 if arguments.fail_on_miss and misses else 0


if __name__ == "__main__":
    sys.exit(main())
