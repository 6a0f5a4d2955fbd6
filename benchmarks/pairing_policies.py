"""Issue #4 report: comparisons per essay each pairing policy needs, through the real engine.

For 30, 100 and 1,000 essays (true SD 1.5 logits) and three judge pools (BT-exact, noisy
d=0.7, position-biased +0.3 for slot A) every policy (information, random, proximity) runs
to K comparisons per essay with stability stopping off, using the production
``plan_wave`` / ``fit_bradley_terry`` / ``decide``. The script prints markdown tables:

1. K needed for Spearman >= 0.90 and true reliability >= 0.80 (first crossing of the mean
   curve over seeds), savings vs random with paired-bootstrap SEs;
2. Spearman difference vs random per K (paired over seeds), and where a policy is
   significantly worse;
3. SSR inflation (SSR - true reliability) and split-half - true reliability at K = 8, 12, 20;
4. the issue's targets, met or missed.

It writes everything (rows included) as JSON to ``--out``. ``--quick`` is a smoke run
(< 1 minute). Usage: ``PYTHONPATH=. python benchmarks/pairing_policies.py --out report.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from cj_worker.core.settings import PairingPolicy
from cj_worker.harness.analysis import (
    KNeeded,
    PairedDifference,
    k_needed,
    paired_differences,
)
from cj_worker.harness.judges import JUDGE_PROFILES
from cj_worker.harness.sweep import SweepRow, run_sweep, write_csv

POLICIES = (PairingPolicy.INFORMATION, PairingPolicy.RANDOM, PairingPolicy.PROXIMITY)
BASELINE = PairingPolicy.RANDOM.value
TARGET_POLICY = PairingPolicy.INFORMATION.value
RELIABILITY_KS = (8.0, 12.0, 20.0)
SPEARMAN_TABLE_KS = (4.0, 6.0, 8.0, 10.0, 13.0, 16.0, 20.0, 30.0)
SIGNIFICANCE = 0.025
"""One-sided p below which a policy counts as significantly worse (about 2 paired SEs)."""


@dataclass(frozen=True)
class Plan:
    seeds: dict[int, list[int]]
    k_max: int
    judges: tuple[str, ...]
    n_boot: int


def full_plan(seeds_30: int, seeds_100: int, seeds_1000: int, k_max: int, n_boot: int) -> Plan:
    return Plan(
        seeds={
            30: list(range(seeds_30)),
            100: list(range(seeds_100)),
            1000: list(range(seeds_1000)),
        },
        k_max=k_max,
        judges=("exact", "noisy", "posbias"),
        n_boot=n_boot,
    )


def quick_plan() -> Plan:
    return Plan(
        seeds={30: list(range(3)), 100: list(range(2))},
        k_max=12,
        judges=("exact", "posbias"),
        n_boot=200,
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    plan = (
        quick_plan()
        if args.quick
        else full_plan(args.seeds_30, args.seeds_100, args.seeds_1000, args.k_max, args.n_boot)
    )
    ks = [float(k) for k in range(1, plan.k_max + 1)]
    split_half_ks = tuple(k for k in RELIABILITY_KS if k <= plan.k_max)
    started = time.perf_counter()
    units = sum(len(s) for s in plan.seeds.values()) * len(plan.judges) * len(POLICIES)
    with tqdm(
        total=units, desc="harness runs", file=sys.stderr, disable=not _show_progress(args)
    ) as bar:
        rows = run_sweep(
            sorted(plan.seeds),
            ks,
            plan.seeds,
            POLICIES,
            plan.judges,
            split_half_at=split_half_ks,
            processes=args.processes,
            progress=lambda done, _total: _advance(bar, done),
        )
    elapsed = time.perf_counter() - started

    rng = np.random.default_rng(20240604)
    spearman_needed = k_needed(
        rows, "spearman", 0.90, baseline=BASELINE, n_boot=plan.n_boot, rng=rng
    )
    reliability_needed = k_needed(
        rows, "true_reliability", 0.80, baseline=BASELINE, n_boot=plan.n_boot, rng=rng
    )
    differences = paired_differences(rows, "spearman", baseline=BASELINE)
    reliability = reliability_table(rows, split_half_ks)
    targets = evaluate_targets(spearman_needed, reliability_needed, differences, reliability)

    lines = [
        "# Pairing policies through the engine (issue #4)" + (" - QUICK run" if args.quick else ""),
        "",
        f"Seeds per n: {', '.join(f'{n}: {len(s)}' for n, s in sorted(plan.seeds.items()))}; "
        f"K = 1..{plan.k_max}; judges: {', '.join(plan.judges)}; true SD 1.5; "
        f"{units} runs in {elapsed / 60:.1f} min on {args.processes} process(es).",
        "",
        "## K needed (comparisons per essay) for Spearman >= 0.90 and true reliability >= 0.80",
        "",
        "K from the first crossing of the mean curve over seeds; (bootstrap SE); saving = "
        "1 - K/K_random with its paired-bootstrap SE (positive = fewer comparisons than random).",
        "",
        *k_needed_table(spearman_needed, reliability_needed),
        "",
        "## Spearman: policy - random, paired over seeds (mean +- SE)",
        "",
        *difference_table(differences, [k for k in SPEARMAN_TABLE_KS if k <= plan.k_max]),
        "",
        "## Reliability honesty at K = 8, 12, 20: SSR - true and split-half - true (mean +- SE)",
        "",
        *reliability_markdown(reliability),
        "",
        "## Targets",
        "",
        *[f"- {'MET' if t['met'] else 'MISSED'}: {t['target']} -- {t['detail']}" for t in targets],
    ]
    print("\n".join(lines))
    if args.out is not None:
        payload = {
            "plan": {
                "seeds": {str(n): s for n, s in plan.seeds.items()},
                "k_max": plan.k_max,
                "judges": {name: [vars(j) for j in JUDGE_PROFILES[name]] for name in plan.judges},
                "policies": [p.value for p in POLICIES],
                "true_sd": 1.5,
                "n_boot": plan.n_boot,
                "quick": args.quick,
                "elapsed_seconds": elapsed,
            },
            "k_needed_spearman_0.90": [k.as_dict() for k in spearman_needed],
            "k_needed_true_reliability_0.80": [k.as_dict() for k in reliability_needed],
            "spearman_differences": [d.as_dict() for d in differences],
            "reliability": reliability,
            "targets": targets,
            "markdown": "\n".join(lines),
            "rows": [r.as_dict() for r in rows],
        }
        Path(args.out).write_text(json.dumps(_finite(payload), indent=1))
    if args.csv is not None:
        write_csv(rows, args.csv)
    if args.plot is not None:
        from cj_worker.harness.plot import plot_curves

        plot_curves(rows, args.plot)
    return 0


def _show_progress(args: argparse.Namespace) -> bool:
    """A bar only on a terminal: redirected to a report file it is just noise."""
    return not args.no_progress and (args.progress or sys.stderr.isatty())


def _advance(bar: tqdm[Any], done: int) -> None:
    bar.update(done - bar.n)


def k_needed_table(spearman: list[KNeeded], reliability: list[KNeeded]) -> list[str]:
    by_key = {(k.n, k.judges, k.policy): k for k in reliability}
    out = [
        "| n | judges | policy | seeds | K sp0.90 | saving vs random "
        "| K rel0.80 | saving vs random |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for s in spearman:
        r = by_key[(s.n, s.judges, s.policy)]
        out.append(
            f"| {s.n} | {s.judges} | {s.policy} | {s.seeds} | {_k(s)} | {_saving(s)} "
            f"| {_k(r)} | {_saving(r)} |"
        )
    return out


def difference_table(differences: list[PairedDifference], ks: Sequence[float]) -> list[str]:
    header = (
        "| n | judges | policy | "
        + " | ".join(f"K={k:g}" for k in ks)
        + " | worse at K (p<0.025) |"
    )
    out = [header, "|" + "---|" * (len(ks) + 4)]
    groups = sorted({(d.n, d.judges, d.policy) for d in differences})
    for n, judges, policy in groups:
        cells = {d.k: d for d in differences if (d.n, d.judges, d.policy) == (n, judges, policy)}
        worse = [f"{k:g}" for k, d in sorted(cells.items()) if k >= 4 and d.p_worse < SIGNIFICANCE]
        out.append(
            f"| {n} | {judges} | {policy} | "
            + " | ".join(_signed(cells[k].mean, cells[k].se) if k in cells else "" for k in ks)
            + f" | {', '.join(worse) or 'none'} |"
        )
    return out


def reliability_table(rows: list[SweepRow], ks: Sequence[float]) -> list[dict[str, Any]]:
    """Per (n, judges, policy, K): mean true reliability, SSR and split-half, and the gaps."""
    groups: dict[tuple[int, str, str, float], list[SweepRow]] = {}
    for row in rows:
        if row.k in ks:
            groups.setdefault((row.n, row.judges, row.policy, row.k), []).append(row)
    out = []
    for (n, judges, policy, k), members in sorted(groups.items()):
        true = np.array([m.metrics["true_reliability"] for m in members])
        ssr = np.array([m.metrics["ssr"] for m in members])
        split = np.array([m.metrics["split_half"] for m in members])
        ssr_gap, split_gap = ssr - true, split - true
        out.append(
            {
                "n": n,
                "judges": judges,
                "policy": policy,
                "k": k,
                "seeds": len(members),
                "true_reliability": _mean(true),
                "ssr": _mean(ssr),
                "split_half": _mean(split),
                "ssr_minus_true": _mean(ssr_gap),
                "ssr_minus_true_se": _se(ssr_gap),
                "split_half_minus_true": _mean(split_gap),
                "split_half_minus_true_se": _se(split_gap),
            }
        )
    return out


def reliability_markdown(table: list[dict[str, Any]]) -> list[str]:
    ks = sorted({r["k"] for r in table})
    out = [
        "| n | judges | policy | "
        + " | ".join(f"K={k:g} true / SSR-true / split-true" for k in ks)
        + " |",
        "|" + "---|" * (len(ks) + 3),
    ]
    groups = sorted({(r["n"], r["judges"], r["policy"]) for r in table})
    for n, judges, policy in groups:
        cells = {
            r["k"]: r for r in table if (r["n"], r["judges"], r["policy"]) == (n, judges, policy)
        }
        out.append(
            f"| {n} | {judges} | {policy} | "
            + " | ".join(
                f"{cells[k]['true_reliability']:.3f} / "
                f"{_signed(cells[k]['ssr_minus_true'], cells[k]['ssr_minus_true_se'])} / "
                + _signed(cells[k]["split_half_minus_true"], cells[k]["split_half_minus_true_se"])
                for k in ks
            )
            + " |"
        )
    return out


def evaluate_targets(
    spearman: list[KNeeded],
    reliability: list[KNeeded],
    differences: list[PairedDifference],
    honesty: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    """The issue's targets for the information policy, each with what was measured."""
    return [
        _never_worse_target(differences),
        _saving_target(spearman, 0.15, "Spearman 0.90"),
        _saving_target(reliability, 0.30, "true rel 0.80"),
        _split_half_target(honesty),
    ]


def _never_worse_target(differences: list[PairedDifference]) -> dict[str, Any]:
    worse = [
        f"n={d.n} {d.judges} K={d.k:g}: {d.mean:+.3f}+-{d.se:.3f} (p={d.p_worse:.3g})"
        for d in differences
        if d.policy == TARGET_POLICY and 4 <= d.k <= 30 and d.p_worse < SIGNIFICANCE
    ]
    return {
        "target": "information never significantly worse than random on Spearman, K 4..30",
        "met": not worse,
        "detail": "; ".join(worse) if worse else "no K with one-sided paired p < 0.025",
    }


def _saving_target(needed: list[KNeeded], goal: float, label: str) -> dict[str, Any]:
    cells = [k for k in needed if k.policy == TARGET_POLICY and k.n in (100, 1000)]
    misses = [k for k in cells if not k.saving >= goal]
    return {
        "target": f">= {goal:.0%} fewer comparisons than random for {label} at n=100, 1000",
        "met": bool(cells) and not misses,
        "detail": "; ".join(f"n={k.n} {k.judges}: {_saving(k)}" for k in cells)
        or "no n=100/1000 rows",
    }


def _split_half_target(honesty: list[dict[str, Any]]) -> dict[str, Any]:
    cells = [
        r for r in honesty if r["policy"] == TARGET_POLICY and r["n"] in (100, 1000) and r["k"] >= 8
    ]
    off = [r for r in cells if not abs(r["split_half_minus_true"]) <= 0.05]
    return {
        "target": "split-half within +-0.05 of true reliability (information, n=100/1000, K>=8)",
        "met": bool(cells) and not off,
        "detail": "; ".join(
            f"n={r['n']} {r['judges']} K={r['k']:g}: {r['split_half_minus_true']:+.3f}"
            for r in cells
        )
        or "no n=100/1000 rows",
    }


def _k(k: KNeeded) -> str:
    return "not reached" if math.isnan(k.k) else f"{k.k:.1f} ({k.k_se:.1f})"


def _saving(k: KNeeded) -> str:
    if k.policy == BASELINE:
        return "-"
    if math.isnan(k.saving):
        return "n/a"
    return f"{k.saving:+.0%} ({k.saving_se:.0%})"


def _signed(mean: float, se: float) -> str:
    return f"{mean:+.3f}+-{se:.3f}"


def _mean(values: np.ndarray[Any, np.dtype[np.float64]]) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else float("nan")


def _se(values: np.ndarray[Any, np.dtype[np.float64]]) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.std(ddof=1) / np.sqrt(finite.size)) if finite.size > 1 else float("nan")


def _finite(value: Any) -> Any:
    """JSON has no NaN: write null instead."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=None, help="write the JSON report here")
    parser.add_argument("--csv", type=Path, default=None, help="also write the rows as CSV")
    parser.add_argument(
        "--plot", type=Path, default=None, help="also save accuracy/reliability curves (PNG)"
    )
    parser.add_argument("--quick", action="store_true", help="smoke run (< 1 minute)")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--seeds-30", type=int, default=50)
    parser.add_argument("--seeds-100", type=int, default=30)
    parser.add_argument("--seeds-1000", type=int, default=6)
    parser.add_argument("--k-max", type=int, default=30)
    parser.add_argument("--n-boot", type=int, default=2000)
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    parser.add_argument(
        "--progress", action="store_true", help="progress bar even when stderr is not a terminal"
    )
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(main())
