"""``cj-worker harness``: a sweep through the production core, printed for people or tools."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from cj_worker.cli import main

SMALL = ["harness", "--essays", "12", "--k", "2,4", "--seeds", "2", "--quiet"]


def test_prints_a_table_with_every_policy_and_budget(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(SMALL) == 0
    lines = capsys.readouterr().out.splitlines()
    body = [line.split() for line in lines[2:]]
    assert {(row[2], row[3]) for row in body} == {
        (policy, k) for policy in ("information", "random", "proximity") for k in ("2", "4")
    }
    assert all(row[4] == "2" for row in body), "two seeds per row"


def test_json_is_valid_and_has_one_row_per_seed_and_budget(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main([*SMALL, "--policies", "random", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 2 * 2
    assert {row["seed"] for row in rows} == {0, 1}
    assert all(row["split_half"] is None for row in rows), "not measured: null, not NaN"
    assert all(-1.0 <= row["spearman"] <= 1.0 for row in rows)


def test_csv_goes_to_the_named_file(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    assert main([*SMALL, "--policies", "information", "--split-half", "--csv", str(path)]) == 0
    with path.open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 4
    assert all(row["split_half"] not in ("", "nan") for row in rows)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--policies", "bogus"], "--policies"),
        (["--judges", "grumpy"], "--judges"),
        (["--essays", "1"], "--essays"),
        (["--k", "four"], "--k"),
        (["--seeds", "0"], "--seeds"),
    ],
)
def test_bad_options_are_one_line_errors(
    extra: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*SMALL, *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("cj-worker: error:")
    assert message in err[0]
