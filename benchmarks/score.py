"""Time ``cj_worker.score`` against choix, measure its misfit flags' false-flag rate, and
(optionally) compare its literature figures with the CJ meta-analysis's published table.

Run from the repository root: ``PYTHONPATH=. python benchmarks/score.py`` (a few minutes
on two busy cores), ``--quick`` for a smoke run at smaller sizes.

Sections:
  (a) ``score`` on 2,000 essays / 35,000 decisions by 35 judges (random pairs, BT-exact
      judges, true SD 1.5; the size of the largest public CJ data set, Ofqual 2015) against
      ``choix.ilsr_pairwise`` on the same decisions in the same run, printing the ratio.
      ``score`` is timed whole (decision rows in, results out: the fit with exact SEs, the
      engine's 8-split split-half, misfit, components and the literature's SSR and
      100-split judge split-half) and without the judge split-half (``--splits 0``), the
      literature figure that costs 200 extra fits. choix gives scores only (no SEs, no
      reliability, no misfit), so the ratio flatters choix.
  (b) The misfit flags' false-flag rate on synthetic panels of well-behaved (BT-exact)
      judges, and the flag rate of coin-flipping judges, through ``score``.
  (c) With ``--meta-analysis DIR`` (a checkout of github.com/georgekinnear/cj-meta-analysis,
      whose ``data/`` holds the 2025 meta-analysis's public decision files and its table
      ``data/01-meta-analysis-data.csv``): per data set the literature SSR against the
      published sepG^2 / (1 + sepG^2), the judge split-half against ``median_split_corr``,
      and the share of real judges and essays the misfit flags mark. No such checkout ships
      with the project; without the option the section is skipped.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import choix
import numpy as np
from scipy.special import expit
from scipy.stats import spearmanr

from cj_worker.core.array_types import FloatArray
from cj_worker.core.misfit import ESSAY_MISFIT_LEVEL, JUDGE_MISFIT_LEVEL, MIN_COMPARISONS_FOR_MISFIT
from cj_worker.scoring import ScoreResults, score

Row = dict[str, Any]

TRUE_SD = 1.5


@dataclass(frozen=True)
class Sizes:
    essays: int
    decisions: int
    judges: int
    panels: tuple[tuple[int, int, int], ...]
    """(essays, comparisons per essay, judges) of the misfit panels."""
    seeds: int


FULL = Sizes(2_000, 35_000, 35, ((100, 10, 10), (100, 20, 10), (100, 20, 30), (300, 12, 20)), 10)
QUICK = Sizes(300, 4_000, 12, ((60, 10, 6),), 2)


def synthetic(
    essays: int, decisions: int, judges: int, seed: int, *, coin_flippers: int = 0
) -> tuple[list[Row], FloatArray]:
    """Random pairs judged BT-exactly (the last ``coin_flippers`` judges flip coins)."""
    rng = np.random.default_rng(seed)
    theta = rng.normal(0.0, TRUE_SD, essays)
    first = rng.integers(0, essays, decisions)
    second = (first + rng.integers(1, essays, decisions)) % essays
    who = rng.integers(0, judges, decisions)
    p = np.where(who >= judges - coin_flippers, 0.5, expit(theta[first] - theta[second]))
    won = rng.random(decisions) < p
    rows = [
        {"winner": f"e{w}", "loser": f"e{lo}", "judge": f"j{j}", "winner_slot": "A" if a else "B"}
        for w, lo, j, a in zip(
            np.where(won, first, second).tolist(),
            np.where(won, second, first).tolist(),
            who.tolist(),
            won.tolist(),
            strict=True,
        )
    ]
    return rows, theta


def timed(call: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def section_versus_choix(sizes: Sizes, repeats: int, seed: int) -> None:
    rows, theta = synthetic(sizes.essays, sizes.decisions, sizes.judges, seed)
    score(rows[:500], literature_splits=2)  # warm-up: imports, caches
    full_time, full = timed(lambda: score(rows), repeats)
    bare_time, _ = timed(lambda: score(rows, literature_splits=0), repeats)
    index = {item: i for i, item in enumerate(full.items)}
    data = [(index[row["winner"]], index[row["loser"]]) for row in rows]

    def with_choix() -> FloatArray:
        return np.asarray(choix.ilsr_pairwise(len(index), data, alpha=0.005), dtype=float)

    choix_time, params = timed(with_choix, repeats)
    ours = np.array([theta[int(item[1:])] for item in full.items])
    print(f"(a) {sizes.essays} essays, {sizes.decisions} decisions, {sizes.judges} judges")
    print(f"    score, everything (100 judge splits)  {full_time:8.2f} s")
    print(f"    score, without the judge split-half   {bare_time:8.2f} s")
    print(f"    choix ilsr_pairwise (scores only)     {choix_time:8.2f} s")
    print(f"    ratio choix / score (everything)      {choix_time / full_time:8.2f}x")
    print(f"    ratio choix / score (no judge split)  {choix_time / bare_time:8.2f}x")
    print(
        f"    Spearman(score, choix) {spearmanr(full.fit.scores, params).statistic:.4f}, "
        f"Spearman(score, truth) {spearmanr(full.fit.scores, ours).statistic:.4f}; "
        f"SEs {full.fit.diagnostics.se_method.value}"
    )
    print(
        f"    reliability {full.headline_reliability:.3f}, literature SSR "
        f"{full.literature.ssr:.3f}, judge split-half "
        f"{_median(full):.3f}"
    )


def section_misfit(sizes: Sizes, seed: int) -> None:
    print(
        f"(b) misfit flags (level {JUDGE_MISFIT_LEVEL:.0%} judges, {ESSAY_MISFIT_LEVEL:.0%} "
        f"essays, >= {MIN_COMPARISONS_FOR_MISFIT} comparisons), {sizes.seeds} seeds per panel"
    )
    print(
        "    essays  K  judges | honest judges flagged | essays flagged | coin flippers "
        "flagged (2 of the judges)"
    )
    for essays, per_essay, judges in sizes.panels:
        honest = [0, 0]
        essay_flags = [0, 0]
        coins = [0, 0]
        for s in range(sizes.seeds):
            decisions = essays * per_essay // 2
            rows, _ = synthetic(essays, decisions, judges, seed + s)
            result = score(rows, literature_splits=0)
            _count(result, honest, lambda judge: True)
            essay_flags[0] += sum(e.misfit for e in result.essays)
            essay_flags[1] += sum(
                e.comparisons >= MIN_COMPARISONS_FOR_MISFIT for e in result.essays
            )
            rows, _ = synthetic(essays, decisions, judges, seed + s, coin_flippers=2)
            flipped = score(rows, literature_splits=0)
            flippers = {f"j{judges - 1}", f"j{judges - 2}"}
            _count(flipped, coins, flippers.__contains__)
        print(
            f"    {essays:6d} {per_essay:2d} {judges:7d} | {_share(honest):>21} | "
            f"{_share(essay_flags):>14} | {_share(coins)}"
        )


def section_meta_analysis(directory: Path, splits: int, seed: int) -> None:
    data = directory / "data"
    table = data / "01-meta-analysis-data.csv"
    if not table.is_file():
        print(f"(c) skipped: {table} not found (a checkout of georgekinnear/cj-meta-analysis)")
        return
    with table.open(newline="", encoding="utf-8") as handle:
        published = {row["judging_session"]: row for row in csv.DictReader(handle)}
    ssr_gaps, split_gaps, ours_minus = [], [], []
    judges, essays = [0, 0], [0, 0]
    print(f"(c) the meta-analysis's data sets ({splits} judge splits each)")
    for name in sorted(published):
        path = data / f"{name}.csv"
        if not path.is_file():
            continue
        try:
            result = score(path, literature_splits=splits, seed=seed)
        except ValueError as error:  # DecisionFileError, ScoringInputError
            print(f"    {name}: not scored ({error})")
            continue
        row = published[name]
        g = _number(row.get("sepG"))
        ssr = g * g / (1 + g * g)
        ssr_gaps.append(abs(result.literature.ssr - ssr))
        shr = _number(row.get("median_split_corr"))
        if np.isfinite(shr) and np.isfinite(_median(result)):
            split_gaps.append(abs(_median(result) - shr))
        ours_minus.append(result.headline_reliability - ssr)
        _count(result, judges, lambda judge: True)
        essays[0] += sum(e.misfit for e in result.essays)
        essays[1] += sum(e.comparisons >= MIN_COMPARISONS_FOR_MISFIT for e in result.essays)
    gaps, shr_gaps = np.array(ssr_gaps), np.array(split_gaps)
    print(f"    data sets                           {gaps.size}")
    print(f"    literature SSR - published: mean |d| {gaps.mean():.2e}, max {gaps.max():.2e}")
    print(
        f"    judge split-half - published: mean |d| {shr_gaps.mean():.3f}, max "
        f"{shr_gaps.max():.3f} ({shr_gaps.size} sets; R's random splits differ from ours)"
    )
    finite = np.array([d for d in ours_minus if np.isfinite(d)])
    print(
        f"    engine reliability - published SSR: median {np.median(finite):+.3f}, "
        f"range {finite.min():+.3f} to {finite.max():+.3f} ({finite.size} sets of >= 20 items)"
    )
    print(f"    real judges flagged                 {_share(judges)}")
    print(f"    real essays flagged                 {_share(essays)}")


def _count(result: ScoreResults, tally: list[int], counted: Callable[[str], bool]) -> None:
    for judge in result.results.judges:
        if judge["comparisons"] >= MIN_COMPARISONS_FOR_MISFIT and counted(str(judge["judge_id"])):
            tally[0] += int(judge["misfit"])
            tally[1] += 1


def _share(tally: list[int]) -> str:
    return f"{tally[0]}/{tally[1]} = {tally[0] / tally[1]:.1%}" if tally[1] else "-"


def _median(result: ScoreResults) -> float:
    split = result.literature.split_half
    return float("nan") if split is None else split.median


def _number(text: str | None) -> float:
    try:
        return float(text) if text not in (None, "", "NA") else float("nan")
    except ValueError:
        return float("nan")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, a smoke run")
    parser.add_argument("--repeats", type=int, default=1, help="timed runs per case (1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--meta-analysis", type=Path, metavar="DIR", help="see section (c)")
    parser.add_argument("--splits", type=int, default=100, help="judge splits in (c) (100)")
    parser.add_argument("--sections", default="abc", help="which sections to run (abc)")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    print(
        f"cj-worker score benchmark: Python {platform.python_version()}, numpy "
        f"{np.__version__}, choix {version('choix')}, {os.cpu_count()} CPUs, load "
        f"{os.getloadavg()[0]:.1f}"
    )
    if "a" in args.sections:
        section_versus_choix(sizes, args.repeats, args.seed)
    if "b" in args.sections:
        section_misfit(sizes, args.seed)
    if "c" in args.sections and args.meta_analysis is not None:
        section_meta_analysis(args.meta_analysis, args.splits, args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
