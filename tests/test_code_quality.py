"""The linters and the type checker are part of the suite, so CI fails on them too."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)


@pytest.mark.parametrize(
    "command",
    [
        ("ruff", "check", "."),
        ("ruff", "format", "--check", "."),
    ],
    ids=["ruff-check", "ruff-format"],
)
def test_ruff(command: tuple[str, ...]) -> None:
    if shutil.which("ruff") is None:
        pytest.fail("ruff is not installed: pip install -e '.[dev]'")
    result = _run(*command)
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict() -> None:
    result = _run(sys.executable, "-m", "mypy")
    assert result.returncode == 0, result.stdout + result.stderr


def test_core_and_harness_import_rules() -> None:
    """SPEC section 11: the core is pure, the harness drives the core only."""
    rules = {
        "cj_worker/core": (
            "celery",
            "kombu",
            "sqlalchemy",
            "redis",
            "cj_worker.db",
            "cj_worker.tasks",
            "cj_worker.celery_app",
            "cj_worker.judges",
            "cj_worker.harness",
            "cj_worker.client",
            "cj_worker.cli",
        ),
        "cj_worker/harness": (
            "celery",
            "sqlalchemy",
            "cj_worker.db",
            "cj_worker.tasks",
            "cj_worker.celery_app",
        ),
        "cj_worker/db": ("cj_worker.tasks", "cj_worker.cli"),
    }
    offences = []
    for folder, forbidden in rules.items():
        for path in (ROOT / folder).rglob("*.py"):
            for number, line in enumerate(path.read_text().splitlines(), start=1):
                words = line.split()
                if len(words) >= 2 and words[0] in ("import", "from"):
                    module = words[1]
                    if any(module == name or module.startswith(name + ".") for name in forbidden):
                        offences.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not offences, "\n".join(offences)
