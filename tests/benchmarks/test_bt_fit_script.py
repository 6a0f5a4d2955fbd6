"""Smoke test of benchmarks/bt_fit.py: it must keep running as the fit evolves.

Timings are not asserted (they depend on the machine and its load); the script is run in a
subprocess, as a developer runs it, so a broken import or argument surfaces here.
"""

from __future__ import annotations

from tests.benchmarks.scripts import run_benchmark


def test_quick_benchmark_runs_and_prints_the_table() -> None:
    result = run_benchmark("bt_fit.py", "--quick", "--repeats", "1", timeout=120)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "numpy" in out
    assert "scipy" in out
    header = next(line for line in out.splitlines() if line.startswith("sec "))
    for column in ("case", "measured", "target", "status"):
        assert column in header
    for section in ("a", "b", "c", "d"):
        assert any(line.startswith(f"{section}  ") for line in out.splitlines()), section
    assert "choix ilsr_pairwise" in out
    assert "exact SEs" in out
    assert "approx SEs" in out
    assert "fit_bradley_terry" in out
    assert "targets:" in out
    # --quick sizes are below the targets' sizes, so no verdict may be claimed for them.
    assert "PASS" not in out.replace("0 PASS", "")
    assert "MISS" not in out.replace("0 MISS", "")
