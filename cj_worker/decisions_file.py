"""Reading comparative-judgement decisions made elsewhere (``cj-worker score``, ``score()``).

One decision per CSV row (``.csv``; ``.tsv`` tab-separated) or JSONL line (``.jsonl``,
``.ndjson``), or per mapping when rows come from Python. Fields, matched without regard to
case; other fields are ignored and listed in :attr:`DecisionSet.ignored_fields`:

- ``winner`` and ``loser`` (required; also ``won``/``lost``, ``chosen``/``not_chosen`` and
  No More Marking's ``candidate_chosen``/``candidate_not_chosen``): item ids, kept as
  strings (JSON integers become their decimal string; a JSON float, boolean, list or object
  is an error, never truncated into an id);
- ``judge`` (or ``judge_id``): who decided; blank means unknown;
- ``tie``: true when the judge called the two items equal (1/0, true/false, yes/no);
- ``winner_slot`` (or ``slot``): ``A`` or ``B``, where the winner was shown, for the
  position-bias figure; blank means unknown;
- ``timestamp``: kept as given, for the caller's own checks.

Rules. Nothing is dropped silently: every row that does not become a decision is an
:class:`ExcludedRow` with its line and reason, counted by :meth:`DecisionSet.counts`.

- **Missing winner or loser**: an empty field or one of ``N/A``, ``NA``, ``null``,
  ``none``, ``-`` (any case; JSON ``null``) marks a decision that was not made (a skipped
  or failed judgement). The row is excluded (``missing_winner`` / ``missing_loser``); the id
  it does name still counts as an item, so an item seen only in such rows is reported as
  never compared.
- **Self-comparison** (winner = loser): it carries no information about any difference
  and Bradley-Terry cannot take it; excluded (``self_comparison``).
- **Tie**: the engine's Bradley-Terry has no tie parameter; by default ties are excluded
  (``tie``), as ``sirt::btm(ignore.ties = TRUE)`` does in the CJ meta-analysis (Kinnear,
  Jones & Davies 2025), or, with ``ties="error"``, refused.

Errors (:class:`DecisionFileError`) name the file, the line and the field.
"""

from __future__ import annotations

import csv
import enum
import io
import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from cj_worker.errors import EXIT_USER_ERROR, CJWorkerError

TiePolicy = Literal["drop", "error"]
Slot = Literal["A", "B"]

FIELD_ALIASES: Mapping[str, tuple[str, ...]] = {
    "winner": ("winner", "won", "chosen", "candidate_chosen"),
    "loser": ("loser", "lost", "not_chosen", "candidate_not_chosen"),
    "judge": ("judge", "judge_id"),
    "tie": ("tie",),
    "winner_slot": ("winner_slot", "slot"),
    "timestamp": ("timestamp",),
}
"""Each field and the names it may have in a file, the first being its own."""
MISSING_MARKERS = frozenset({"", "n/a", "na", "null", "none", "-"})
"""Values (after stripping, any case) that mean "no value": see the module docstring."""
_TRUE = frozenset({"1", "true", "yes", "y", "t"})
_FALSE = frozenset({"", "0", "false", "no", "n", "f"})


class DecisionFileError(CJWorkerError, ValueError, exit_code=EXIT_USER_ERROR):
    """A decision file or row cannot be read; the message says where (line, field) and why."""

    def __init__(
        self, source: str, message: str, *, row: int | None = None, field: str | None = None
    ) -> None:
        where = source if row is None else f"{source}:{row}"
        super().__init__(f"{where}: {field}: {message}" if field else f"{where}: {message}")
        self.source = source
        self.row = row
        self.field = field


class Exclusion(enum.StrEnum):
    """Why a row did not become a decision."""

    MISSING_WINNER = "missing_winner"
    MISSING_LOSER = "missing_loser"
    SELF_COMPARISON = "self_comparison"
    TIE = "tie"


@dataclass(frozen=True)
class Decision:
    """One judgement: ``winner`` was preferred to ``loser``."""

    row: int
    """Line of the file (the CSV header is line 1), or position (from 1) of a Python row."""
    winner: str
    loser: str
    judge: str | None
    winner_slot: Slot | None
    timestamp: str | None


@dataclass(frozen=True)
class ExcludedRow:
    """A row that is not a decision, and why."""

    row: int
    reason: Exclusion
    items: tuple[str, ...]
    """The ids the row names (none, one or two): they are items of the set all the same."""
    judge: str | None


@dataclass(frozen=True)
class DecisionSet:
    """Everything a file held: its decisions, its excluded rows, and what it lacked."""

    source: str
    decisions: tuple[Decision, ...]
    excluded: tuple[ExcludedRow, ...]
    has_judges: bool
    """The file has a judge field (individual rows may still leave it blank)."""
    ignored_fields: tuple[str, ...]

    @property
    def rows(self) -> int:
        return len(self.decisions) + len(self.excluded)

    def counts(self) -> dict[str, int]:
        """Rows read, decisions used, and excluded rows per :class:`Exclusion` (all keys)."""
        excluded = Counter(row.reason for row in self.excluded)
        return {
            "rows": self.rows,
            "decisions": len(self.decisions),
            **{reason.value: excluded.get(reason, 0) for reason in Exclusion},
        }

    def items(self) -> list[str]:
        """Every id any row names: the decisions' in order of first appearance, then those
        only excluded rows name."""
        seen: dict[str, None] = {}
        for decision in self.decisions:
            seen.setdefault(decision.winner)
            seen.setdefault(decision.loser)
        for row in self.excluded:
            seen.update(dict.fromkeys(row.items))
        return list(seen)

    @property
    def slots_known(self) -> bool:
        """Every decision says in which slot its winner was shown."""
        return bool(self.decisions) and all(d.winner_slot is not None for d in self.decisions)


def read_decisions(path: str | Path, *, ties: TiePolicy = "drop") -> DecisionSet:
    """The decisions of a ``.csv``, ``.tsv``, ``.jsonl`` or ``.ndjson`` file."""
    file = Path(path)
    source = str(file)
    if not file.is_file():
        raise DecisionFileError(source, "no such file")
    suffix = file.suffix.lower()
    if suffix not in (".csv", ".tsv", ".jsonl", ".ndjson"):
        raise DecisionFileError(source, "expected a .csv, .tsv, .jsonl or .ndjson file")
    try:
        text = file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise DecisionFileError(source, f"cannot read ({error})") from None
    if suffix in (".jsonl", ".ndjson"):
        return _decision_set(source, _jsonl_records(source, text), ties)
    return _decision_set(source, _delimited_records(source, text, suffix), ties)


def decisions_from_rows(
    rows: Iterable[Mapping[str, Any]], *, ties: TiePolicy = "drop", source: str = "rows"
) -> DecisionSet:
    """Decisions from mappings with the fields of a file (as JSONL lines are read)."""
    records: list[tuple[int, Mapping[str, Any]]] = []
    for position, row in enumerate(rows, start=1):
        if not isinstance(row, Mapping):
            raise DecisionFileError(
                source, f"expected a mapping of fields, got {type(row).__name__}", row=position
            )
        records.append((position, row))
    return _decision_set(source, records, ties)


# --------------------------------------------------------------------------- records


def _jsonl_records(source: str, text: str) -> list[tuple[int, Mapping[str, Any]]]:
    records: list[tuple[int, Mapping[str, Any]]] = []
    for line_number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise DecisionFileError(
                source, f"invalid JSON ({error.msg})", row=line_number
            ) from None
        if not isinstance(record, dict):
            raise DecisionFileError(source, "expected a JSON object", row=line_number)
        records.append((line_number, record))
    return records


def _delimited_records(source: str, text: str, suffix: str) -> list[tuple[int, Mapping[str, Any]]]:
    reader = csv.DictReader(
        io.StringIO(text, newline=""), delimiter="\t" if suffix == ".tsv" else ","
    )
    if reader.fieldnames is None:
        raise DecisionFileError(source, "the file is empty: no header, no decisions")
    _roles(source, reader.fieldnames, row=1)  # a header without winner/loser fails here
    records: list[tuple[int, Mapping[str, Any]]] = []
    for row in reader:
        if None in row:
            raise DecisionFileError(source, "more fields than the header has", row=reader.line_num)
        if all(value is None or not value.strip() for value in row.values()):
            continue  # a blank line between rows
        records.append((reader.line_num, row))
    return records


def _roles(source: str, names: Iterable[str], *, row: int) -> dict[str, str]:
    """Field role -> the name it has here; refuses a missing winner/loser or a duplicate."""
    by_alias = {alias: role for role, aliases in FIELD_ALIASES.items() for alias in aliases}
    roles: dict[str, str] = {}
    for name in names:
        role = by_alias.get(name.strip().lower())
        if role is None:
            continue
        if role in roles:
            raise DecisionFileError(
                source,
                f"fields {roles[role]!r} and {name!r} both give the {role}; keep one",
                row=row,
            )
        roles[role] = name
    for role in ("winner", "loser"):
        if role not in roles:
            raise DecisionFileError(
                source,
                f"no {role} field: name it one of {', '.join(FIELD_ALIASES[role])}",
                row=row,
            )
    return roles


# ------------------------------------------------------------------------- decisions


def _decision_set(
    source: str,
    records: list[tuple[int, Mapping[str, Any]]],
    ties: TiePolicy,
) -> DecisionSet:
    """Every record is checked for its winner and loser fields: a JSON line without them
    is an error naming the line, not a silently missing decision."""
    if ties not in ("drop", "error"):
        raise ValueError(f"ties must be 'drop' or 'error', got {ties!r}")
    if not records:
        raise DecisionFileError(source, "no decisions")
    decisions: list[Decision] = []
    excluded: list[ExcludedRow] = []
    has_judges = False
    ignored: dict[str, None] = {}
    layouts: dict[tuple[str, ...], dict[str, str]] = {}
    for row, record in records:
        keys = tuple(record)
        roles = layouts.get(keys)
        if roles is None:  # a CSV's rows share one layout: resolve it once
            roles = layouts[keys] = _roles(source, [str(key) for key in keys], row=row)
            known = set(roles.values())
            ignored.update(dict.fromkeys(key for key in keys if key not in known))
            has_judges = has_judges or "judge" in roles
        values = {role: record[name] for role, name in roles.items()}
        item = _parse_row(source, row, values, ties)
        if isinstance(item, Decision):
            decisions.append(item)
        else:
            excluded.append(item)
    return DecisionSet(source, tuple(decisions), tuple(excluded), has_judges, tuple(ignored))


def _parse_row(
    source: str, row: int, values: Mapping[str, Any], ties: TiePolicy
) -> Decision | ExcludedRow:
    winner = _identifier(source, row, "winner", values["winner"])
    loser = _identifier(source, row, "loser", values["loser"])
    judge = _identifier(source, row, "judge", values.get("judge"))
    named = tuple(item for item in (winner, loser) if item is not None)
    if winner is None:
        return ExcludedRow(row, Exclusion.MISSING_WINNER, named, judge)
    if loser is None:
        return ExcludedRow(row, Exclusion.MISSING_LOSER, named, judge)
    if winner == loser:
        return ExcludedRow(row, Exclusion.SELF_COMPARISON, (winner,), judge)
    if _boolean(source, row, "tie", values.get("tie")):
        if ties == "error":
            raise DecisionFileError(
                source, "a tie, and ties were refused (ties='error')", row=row, field="tie"
            )
        return ExcludedRow(row, Exclusion.TIE, named, judge)
    return Decision(
        row=row,
        winner=winner,
        loser=loser,
        judge=judge,
        winner_slot=_slot(source, row, values.get("winner_slot")),
        timestamp=_identifier(source, row, "timestamp", values.get("timestamp"), numbers=True),
    )


def _identifier(
    source: str, row: int, field: str, value: Any, *, numbers: bool = False
) -> str | None:
    """A string id (stripped), None for a missing marker; JSON integers become strings."""
    if value.__class__ is str:  # the common case first: every CSV field
        text = value.strip()
        return None if text.lower() in MISSING_MARKERS else text
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise DecisionFileError(source, f"must be a string id, got {value!r}", row=row, field=field)
    if isinstance(value, float) and not numbers:
        raise DecisionFileError(
            source,
            f"must be a string id, got the number {value!r} (quote ids in JSON)",
            row=row,
            field=field,
        )
    text = str(value).strip()
    return None if text.lower() in MISSING_MARKERS else text


def _boolean(source: str, row: int, field: str, value: Any) -> bool:
    if value is None or isinstance(value, bool):
        return bool(value)
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    lowered = str(value).strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise DecisionFileError(source, f"must be true or false, got {value!r}", row=row, field=field)


def _slot(source: str, row: int, value: Any) -> Slot | None:
    if value is None:
        return None
    text = str(value).strip().upper()
    if text == "A":
        return "A"
    if text == "B":
        return "B"
    if text.lower() in MISSING_MARKERS:
        return None
    raise DecisionFileError(source, f"must be A or B, got {value!r}", row=row, field="winner_slot")
