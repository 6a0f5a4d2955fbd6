"""Smoke test of benchmarks/schema_scale.py: it must keep running as the schema evolves.

Timings are not asserted (they depend on the machine and its load); the script is run in a
subprocess, as a developer runs it, against a throw-away PostgreSQL database of its own.
"""

from __future__ import annotations

import pytest

from tests.benchmarks.scripts import run_benchmark

pytestmark = pytest.mark.integration


def test_quick_benchmark_runs_and_prints_the_table(pg_admin_url: str) -> None:
    result = run_benchmark(
        "schema_scale.py", "--quick", "--repeats", "1", "--baseline-timeout", "20", timeout=240
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    header = next(line for line in out.splitlines() if line.startswith("case "))
    for column in ("indexed (0005)", "baseline (0004)", "baseline/indexed", "target", "status"):
        assert column in header
    for case in (
        "sweep pass SQL",
        "round trips alone",
        "an idle batch that needs nothing",
        "an idle batch the sweep acts on",
        "through the ORM",
        "delete a 2,000-essay",
    ):
        assert case in out, case
    assert "requests_due: " in out
    assert "ix_comparisons_pending" in out
    assert "fk_comparisons_batch_id_essay_a_essays" in out
    assert "targets:" in out
    # --quick sizes are below the targets' sizes, so no verdict may be claimed for them.
    assert "PASS" not in out.replace("0 PASS", "")
    assert "MISS" not in out.replace("0 MISS", "")
