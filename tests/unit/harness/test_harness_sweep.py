"""Sweeps, trajectories, K-needed and paired differences, CSV and plotting."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest

from cj_worker.harness.analysis import first_crossing, k_needed, paired_differences
from cj_worker.harness.result import TrajectoryPoint
from cj_worker.harness.sweep import SweepRow, metrics_at, run_sweep, write_csv


def _point(wave: int, k: float, spearman: float, split_half: float = math.nan) -> TrajectoryPoint:
    return TrajectoryPoint(
        wave=wave,
        comparisons=int(k * 5),
        succeeded=int(k * 5),
        comparisons_per_essay=k,
        spearman=spearman,
        kendall=spearman,
        true_reliability=spearman,
        rmse=1.0,
        ssr=spearman,
        split_half=split_half,
        max_score_change=0.1,
    )


def test_metrics_are_interpolated_between_waves_and_nan_beyond() -> None:
    trajectory = [_point(1, 1.0, 0.5), _point(2, 2.0, 0.7, split_half=0.6), _point(3, 3.0, 0.8)]
    assert metrics_at(trajectory, 2.0)["spearman"] == pytest.approx(0.7)
    assert metrics_at(trajectory, 1.5)["spearman"] == pytest.approx(0.6)
    assert metrics_at(trajectory, 2.0)["split_half"] == 0.6
    assert math.isnan(metrics_at(trajectory, 3.0)["split_half"])
    assert math.isnan(metrics_at(trajectory, 3.5)["spearman"])


def test_first_crossing_interpolates() -> None:
    ks = np.array([1.0, 2.0, 3.0, 4.0])
    curves = np.array([[0.5, 0.8, 0.9, 0.95], [0.95, 0.96, 0.97, 0.98], [0.1, 0.2, 0.3, 0.4]])
    result = first_crossing(ks, curves, 0.85)
    assert result[0] == pytest.approx(2.5)
    assert result[1] == 1.0
    assert math.isnan(result[2])


def _rows(policy: str, slope: float, seeds: int = 8) -> list[SweepRow]:
    rng = np.random.default_rng(0)
    rows = []
    for seed in range(seeds):
        noise = rng.normal(0.0, 0.01)
        for k in range(1, 11):
            value = min(1.0, slope * k + noise)
            rows.append(SweepRow(policy, "exact", 50, float(k), seed, {"spearman": value}))
    return rows


def test_k_needed_and_paired_differences_against_random() -> None:
    rows = _rows("random", 0.1) + _rows("information", 0.125)
    needed = {k.policy: k for k in k_needed(rows, "spearman", 0.9, n_boot=200)}
    assert needed["random"].k == pytest.approx(9.0, abs=0.2)
    assert needed["information"].k == pytest.approx(7.2, abs=0.2)
    assert needed["information"].saving == pytest.approx(0.2, abs=0.03)
    assert needed["information"].reached == 1.0
    assert needed["random"].saving == 0.0

    differences = paired_differences(rows, "spearman")
    assert {d.policy for d in differences} == {"information"}
    at_4 = next(d for d in differences if d.k == 4.0)
    assert at_4.mean == pytest.approx(0.1, abs=1e-9)
    assert at_4.p_worse > 0.99


def test_run_sweep_rows_progress_and_csv(tmp_path: Path) -> None:
    seen: list[tuple[int, int]] = []
    rows = run_sweep(
        [20],
        [2, 4],
        [0, 1],
        ["random", "information"],
        ["exact"],
        split_half_at=[4],
        progress=lambda done, total: seen.append((done, total)),
    )
    assert seen[-1] == (4, 4)
    assert len(rows) == 2 * 2 * 2
    assert {(r.policy, r.seed, r.k) for r in rows} == {
        (p, s, k) for p in ("random", "information") for s in (0, 1) for k in (2.0, 4.0)
    }
    for row in rows:
        assert row.metrics["comparisons"] == row.k * 10
        assert math.isnan(row.metrics["split_half"]) == (row.k == 2.0)

    path = tmp_path / "rows.csv"
    write_csv(rows, path)
    with path.open() as handle:
        records = list(csv.DictReader(handle))
    assert len(records) == len(rows)
    assert {"policy", "n", "k", "seed", "spearman", "split_half"} <= set(records[0])


def test_parallel_sweep_matches_serial() -> None:
    arguments = ([20], [3], [0, 1], ["information"], ["noisy"])
    parallel = [row.as_dict() for row in run_sweep(*arguments, processes=2)]
    serial = [row.as_dict() for row in run_sweep(*arguments)]
    np.testing.assert_equal(parallel, serial)


def test_unknown_judge_profile_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown judge profiles"):
        run_sweep([10], [2], [0], ["random"], ["nobody"])


def test_plot_writes_png(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from cj_worker.harness.plot import plot_curves

    rows = run_sweep([20], [2, 4, 6], [0], ["random", "information"], split_half_at=[4, 6])
    path = plot_curves(rows, tmp_path / "curves.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
