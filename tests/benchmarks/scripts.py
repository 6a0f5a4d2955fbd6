"""Running a benchmark script as a developer does: a subprocess from the repository root."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_benchmark(
    script: str, *args: str, cwd: Path = ROOT, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    """Run ``benchmarks/<script>`` with ``args``; the package is importable from the checkout."""
    python_path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": python_path},
    )
