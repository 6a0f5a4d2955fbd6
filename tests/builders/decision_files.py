"""Synthetic decision files for the ``score`` tests: panels of judges deciding BT-exactly.

Ids are strings that are not numbers (``essay-007``) so that nothing can pass by treating
them as indices.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy.special import expit

Row = dict[str, Any]


def essay_id(i: int) -> str:
    return f"essay-{i:03d}"


def panel(
    essays: int,
    per_essay: int,
    judges: int,
    seed: int,
    *,
    sd: float = 1.5,
    coin_flippers: int = 0,
) -> tuple[list[Row], dict[str, float]]:
    """Random pairs judged by ``judges`` judges (the last ``coin_flippers`` flip coins);
    each row names the winner, the loser, the judge and the winner's slot. Also the truth."""
    rng = np.random.default_rng(seed)
    theta = rng.normal(0.0, sd, essays)
    first = np.concatenate([rng.permutation(essays) for _ in range(per_essay)])
    second = np.concatenate([rng.permutation(essays) for _ in range(per_essay)])
    keep = first != second
    first, second = first[keep], second[keep]
    who = rng.integers(0, judges, first.size)
    p = expit(theta[first] - theta[second])
    p = np.where(who >= judges - coin_flippers, 0.5, p)
    first_won = rng.random(first.size) < p
    rows = [
        {
            "winner": essay_id(int(a if won else b)),
            "loser": essay_id(int(b if won else a)),
            "judge": f"judge-{int(j):02d}",
            "winner_slot": "A" if won else "B",  # first is shown in slot A
        }
        for a, b, j, won in zip(first, second, who, first_won, strict=True)
    ]
    return rows, {essay_id(i): float(t) for i, t in enumerate(theta)}


def write_csv(path: Path, rows: Sequence[Mapping[str, Any]]) -> Path:
    fields = list(dict.fromkeys(key for row in rows for key in row))
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_jsonl(path: Path, rows: Sequence[Mapping[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(dict(row)) + "\n" for row in rows), encoding="utf-8")
    return path
