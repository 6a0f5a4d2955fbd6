"""Smoke test of benchmarks/pair_generation.py (no timing assertions: machines differ)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "pair_generation.py"


def test_quick_benchmark_runs_and_plans_full_waves() -> None:
    python_path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--repeats", "1"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": python_path},
    )
    assert result.returncode == 0, result.stderr
    rows = [line.split() for line in result.stdout.splitlines()[1:]]
    assert {(row[0], row[2]) for row in rows} == {
        (n, policy) for n in ("200", "1200") for policy in ("information", "random", "proximity")
    }
    for row in rows:
        assert int(row[3]) >= 0.95 * int(row[0]) // 2, "a wave pairs (nearly) every essay"
