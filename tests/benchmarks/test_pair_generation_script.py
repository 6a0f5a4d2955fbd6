"""Smoke test of benchmarks/pair_generation.py (no timing assertions: machines differ)."""

from __future__ import annotations

from tests.benchmarks.scripts import run_benchmark


def test_quick_benchmark_runs_and_plans_full_waves() -> None:
    result = run_benchmark("pair_generation.py", "--quick", "--repeats", "1", timeout=120)
    assert result.returncode == 0, result.stderr
    rows = [line.split() for line in result.stdout.splitlines()[1:]]
    assert {(row[0], row[2]) for row in rows} == {
        (n, policy)
        for n in ("200", "1200")
        for policy in ("information", "random", "proximity", "hybrid")
    }
    for row in rows:
        assert int(row[3]) >= 0.95 * int(row[0]) // 2, "a wave pairs (nearly) every essay"
