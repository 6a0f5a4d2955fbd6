"""The issue #4 benchmark script runs end to end in its quick mode."""

from __future__ import annotations

import json
from pathlib import Path

from tests.benchmarks.scripts import run_benchmark


def test_quick_mode_prints_the_tables_and_writes_json(tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    completed = run_benchmark(
        "pairing_policies.py", "--quick", "--no-progress", "--out", str(out), cwd=tmp_path
    )
    assert completed.returncode == 0, completed.stderr
    assert "| n | judges | policy |" in completed.stdout
    assert "## Targets" in completed.stdout
    report = json.loads(out.read_text())
    assert report["rows"]
    assert report["k_needed_spearman_0.90"]
