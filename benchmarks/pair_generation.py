"""How long one COVERAGE wave takes to plan, per policy, against random pairing.

Issue #2 target: one COVERAGE wave for 2,000 essays in <= 0.5 s. The baseline is the
``random`` policy on the same history in the same run (it skips the selection fit), so the
ratio shows what the information policy's fit and weights cost. Histories are built by
running the engine's own waves with a BT-exact judge to K comparisons per essay.

    python benchmarks/pair_generation.py            # n = 2,000 and 5,000 at K = 2, 10, 20
    python benchmarks/pair_generation.py --quick    # small sizes, for the test suite
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Sequence

import numpy as np

from cj_worker.core.history import ComparisonHistory, ComparisonStatus
from cj_worker.core.pairing import INITIAL_SELECTION_PRECISION, PairGenerationMode, plan_wave
from cj_worker.core.settings import AlgorithmSettings, PairingPolicy

TARGET_SECONDS = 0.5
TARGET_ESSAYS = 2000


def build_history(n: int, k: int, seed: int) -> tuple[ComparisonHistory, float]:
    """A history of about k comparisons per essay from the engine's own (random) waves."""
    rng = np.random.default_rng(seed)
    truth = rng.normal(0.0, 1.5, n)
    history = ComparisonHistory.empty(n)
    settings = AlgorithmSettings(pairing_policy=PairingPolicy.RANDOM)
    while 2 * history.size < k * n:
        wave = plan_wave(PairGenerationMode.COVERAGE, history, n, rng, settings).comparisons
        a = np.array([p.slot_a for p in wave], dtype=np.intp)
        b = np.array([p.slot_b for p in wave], dtype=np.intp)
        a_won = rng.random(a.size) < 1.0 / (1.0 + np.exp(-(truth[a] - truth[b])))
        status = np.full(a.size, ComparisonStatus.SUCCEEDED, dtype=np.int8)
        history = history.extended(a, b, status, a_won)
    return history, INITIAL_SELECTION_PRECISION


def time_wave(
    history: ComparisonHistory, policy: PairingPolicy, repeats: int, seed: int
) -> tuple[float, int]:
    settings = AlgorithmSettings(pairing_policy=policy)
    times = []
    size = 0
    for repeat in range(repeats + 1):
        rng = np.random.default_rng([seed, repeat])
        start = time.perf_counter()
        plan = plan_wave(PairGenerationMode.COVERAGE, history, history.n_essays, rng, settings)
        elapsed = time.perf_counter() - start
        size = len(plan.comparisons)
        if repeat:  # the first run is a warm-up
            times.append(elapsed)
    return statistics.median(times), size


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (for tests)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    sizes = (200, 1200) if args.quick else (TARGET_ESSAYS, 5000)
    ks = (2, 10) if args.quick else (2, 10, 20)
    print(f"{'n':>6} {'K':>3} {'policy':<12} {'wave':>6} {'seconds':>8} {'vs random':>9}  target")
    for n in sizes:
        for k in ks:
            history, _ = build_history(n, k, args.seed)
            baseline, _ = time_wave(history, PairingPolicy.RANDOM, args.repeats, args.seed)
            for policy in PairingPolicy:
                seconds, size = time_wave(history, policy, args.repeats, args.seed)
                target = ""
                if n == TARGET_ESSAYS and not args.quick:
                    verdict = "PASS" if seconds <= TARGET_SECONDS else "MISS"
                    target = f"<= {TARGET_SECONDS} s {verdict}"
                print(
                    f"{n:>6} {k:>3} {policy.value:<12} {size:>6} {seconds:>8.3f} "
                    f"{seconds / baseline:>8.1f}x  {target}"
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
