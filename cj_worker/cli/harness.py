"""``cj-worker harness``: sweep synthetic nets through the production core.

Every combination of net size, pairing policy, judge pool and seed is one run, measured at
each budget against the true abilities; the result is a summary table, per-seed JSON or a
CSV file, and optionally a plot.
"""

from __future__ import annotations

import argparse
import sys

from cj_worker.cli import parsing, rendering
from cj_worker.cli.parsing import UsageError


def run_harness(args: argparse.Namespace, _: list[str]) -> int:
    from tqdm import tqdm

    from cj_worker.core.settings import PairingPolicy
    from cj_worker.harness import JUDGE_PROFILES, run_sweep, write_csv
    from cj_worker.harness.plot import plot_curves
    from cj_worker.harness.report import format_table, summarise

    essays = parsing.numbers(args.essays, int, "--essays", minimum=2)
    budgets = parsing.numbers(args.k, float, "--k", minimum=0.5)
    policies = [
        parsing.choice(p, [str(x) for x in PairingPolicy], "--policies")
        for p in args.policies.split(",")
    ]
    judges = [parsing.choice(j, list(JUDGE_PROFILES), "--judges") for j in args.judges.split(",")]
    if args.seeds < 1:
        raise UsageError("--seeds must be at least 1")
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    runs = len(essays) * len(policies) * len(judges) * len(seeds)
    with tqdm(total=runs, unit="run", desc="harness", file=sys.stderr, disable=args.quiet) as bar:

        def progress(done: int, _total: int) -> None:
            bar.update(done - bar.n)

        rows = run_sweep(
            essays,
            budgets,
            seeds,
            policies,
            judges,
            true_sd=args.true_sd,
            split_half_at=budgets if args.split_half else (),
            processes=args.processes,
            progress=progress,
        )
    if args.plot:
        print(f"plot: {plot_curves(rows, args.plot)}", file=sys.stderr)
    if args.json:
        print(rendering.harness_json(rows))
    elif args.csv:
        write_csv(rows, args.csv)
        print(f"csv: {args.csv}", file=sys.stderr)
    else:
        print(format_table(summarise(rows)))
    return 0
