"""Reading decisions made elsewhere: string ids, explicit rules for what is not a decision,
and errors that name the line and the field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cj_worker.decisions_file import (
    DecisionFileError,
    Exclusion,
    decisions_from_rows,
    read_decisions,
)
from cj_worker.errors import EXIT_USER_ERROR


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def jsonl(tmp_path: Path, rows: list[dict[str, Any]]) -> Path:
    return write(tmp_path, "decisions.jsonl", "".join(json.dumps(row) + "\n" for row in rows))


# ------------------------------------------------------------------------------ CSV


def test_csv_decisions_keep_string_ids_judges_slots_and_timestamps(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "d.csv",
        "winner,loser,judge,winner_slot,timestamp\n"
        "essay-007, 12 ,anna,A,2025-01-02T10:00:00Z\n"
        "12,0012,,b,\n",
    )
    decisions = read_decisions(path)

    first, second = decisions.decisions
    assert (first.winner, first.loser, first.judge) == ("essay-007", "12", "anna")
    assert (first.winner_slot, first.timestamp) == ("A", "2025-01-02T10:00:00Z")
    assert first.row == 2  # the header is line 1
    assert (second.winner, second.loser) == ("12", "0012")  # "12" and "0012" differ
    assert (second.judge, second.winner_slot, second.timestamp) == (None, "B", None)
    assert decisions.has_judges
    assert decisions.slots_known
    assert decisions.items() == ["essay-007", "12", "0012"]


@pytest.mark.parametrize(
    ("header", "columns"),
    [
        ("won,lost,judge", ("won", "lost")),
        ("judge,candidate_chosen,candidate_not_chosen,time_taken", ("chosen", "not chosen")),
        ("Winner,LOSER", ("Winner", "LOSER")),
        ("chosen,not_chosen", ("chosen", "not_chosen")),
    ],
)
def test_the_usual_column_names_are_understood(
    tmp_path: Path, header: str, columns: tuple[str, str]
) -> None:
    names = header.split(",")
    values = {"won": "a", "lost": "b", "judge": "j1", "time_taken": "12"}
    values |= {"candidate_chosen": "a", "candidate_not_chosen": "b"}
    values |= {"Winner": "a", "LOSER": "b", "chosen": "a", "not_chosen": "b"}
    path = write(tmp_path, "d.csv", header + "\n" + ",".join(values[n] for n in names) + "\n")
    decisions = read_decisions(path)

    (decision,) = decisions.decisions
    assert (decision.winner, decision.loser) == ("a", "b"), columns
    assert decisions.has_judges == ("judge" in names)
    assert decisions.ignored_fields == (("time_taken",) if "time_taken" in names else ())


def test_tab_separated_files_are_read(tmp_path: Path) -> None:
    path = write(tmp_path, "d.tsv", "winner\tloser\njohn smith\tjane doe\n")
    (decision,) = read_decisions(path).decisions
    assert (decision.winner, decision.loser) == ("john smith", "jane doe")


@pytest.mark.parametrize("marker", ["", "N/A", "n/a", "NA", "null", "None", "-", "  "])
def test_a_missing_winner_is_reported_and_its_loser_is_still_an_item(
    tmp_path: Path, marker: str
) -> None:
    path = write(tmp_path, "d.csv", f"winner,loser,judge\na,b,j\n{marker},c,j\n")
    decisions = read_decisions(path)

    assert len(decisions.decisions) == 1
    (excluded,) = decisions.excluded
    assert (excluded.row, excluded.reason, excluded.items) == (3, Exclusion.MISSING_WINNER, ("c",))
    assert decisions.counts() == {
        "rows": 2,
        "decisions": 1,
        "missing_winner": 1,
        "missing_loser": 0,
        "self_comparison": 0,
        "tie": 0,
    }
    assert decisions.items() == ["a", "b", "c"]


def test_self_comparisons_ties_and_missing_losers_are_each_counted(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "d.csv",
        "winner,loser,tie\na,b,0\nc,c,\nd,N/A,\na,d,true\nb,a,no\n",
    )
    decisions = read_decisions(path)

    assert [(d.winner, d.loser) for d in decisions.decisions] == [("a", "b"), ("b", "a")]
    assert [(e.row, e.reason) for e in decisions.excluded] == [
        (3, Exclusion.SELF_COMPARISON),
        (4, Exclusion.MISSING_LOSER),
        (5, Exclusion.TIE),
    ]
    counts = decisions.counts()
    assert (counts["self_comparison"], counts["missing_loser"], counts["tie"]) == (1, 1, 1)
    assert decisions.items() == ["a", "b", "c", "d"]
    assert not decisions.has_judges


def test_ties_can_be_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "d.csv", "winner,loser,tie\na,b,0\na,c,1\n")
    with pytest.raises(DecisionFileError, match=r"d\.csv:3: tie: a tie") as raised:
        read_decisions(path, ties="error")
    assert (raised.value.row, raised.value.field) == (3, "tie")
    assert raised.value.exit_code == EXIT_USER_ERROR


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("winner,loser\n", "no decisions"),
        ("won,loser\n", "no decisions"),
        ("winner,judge\na,j\n", "no loser field: name it one of loser, lost"),
        ("winner,won,loser\na,a,b\n", "'winner' and 'won' both give the winner"),
        ("winner,loser\na,b,c\n", r"d\.csv:2: more fields than the header"),
        ("winner,loser,tie\na,b,maybe\n", r"d\.csv:2: tie: must be true or false"),
        ("winner,loser,winner_slot\na,b,left\n", r"d\.csv:2: winner_slot: must be A or B"),
    ],
)
def test_unreadable_csv_files_name_the_line_and_field(
    tmp_path: Path, text: str, message: str
) -> None:
    path = write(tmp_path, "d.csv", text)
    with pytest.raises(DecisionFileError, match=message):
        read_decisions(path)


def test_files_that_are_not_decision_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(DecisionFileError, match="no such file"):
        read_decisions(tmp_path / "absent.csv")
    with pytest.raises(DecisionFileError, match=r"expected a \.csv"):
        read_decisions(write(tmp_path, "d.txt", "winner,loser\na,b\n"))


def test_blank_lines_between_rows_are_skipped(tmp_path: Path) -> None:
    path = write(tmp_path, "d.csv", "winner,loser\na,b\n\n,\nb,c\n")
    decisions = read_decisions(path)
    assert [(d.row, d.winner) for d in decisions.decisions] == [(2, "a"), (5, "b")]
    assert decisions.excluded == ()


# ---------------------------------------------------------------------------- JSONL


def test_jsonl_integer_ids_become_strings(tmp_path: Path) -> None:
    path = jsonl(tmp_path, [{"winner": 7, "loser": "b", "judge": 3}, {"winner": "b", "loser": 7}])
    decisions = read_decisions(path)

    assert [(d.winner, d.loser, d.judge) for d in decisions.decisions] == [
        ("7", "b", "3"),
        ("b", "7", None),
    ]
    assert decisions.items() == ["7", "b"]


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ({"winner": 1.5, "loser": "b"}, "winner"),
        ({"winner": 7.0, "loser": "b"}, "winner"),
        ({"winner": "a", "loser": True}, "loser"),
        ({"winner": "a", "loser": ["b"]}, "loser"),
        ({"winner": "a", "loser": "b", "judge": {"id": 1}}, "judge"),
    ],
)
def test_jsonl_ids_that_are_not_strings_or_integers_are_errors(
    tmp_path: Path, row: dict[str, Any], field: str
) -> None:
    path = jsonl(tmp_path, [{"winner": "x", "loser": "y"}, row])
    with pytest.raises(DecisionFileError, match=rf"decisions\.jsonl:2: {field}: must be") as e:
        read_decisions(path)
    assert (e.value.row, e.value.field) == (2, field)


def test_jsonl_null_is_a_missing_winner_but_an_absent_key_is_an_error(tmp_path: Path) -> None:
    decisions = read_decisions(
        jsonl(tmp_path, [{"winner": None, "loser": "b"}, {"won": "a", "lost": "b"}])
    )
    assert [e.reason for e in decisions.excluded] == [Exclusion.MISSING_WINNER]

    path = jsonl(tmp_path, [{"winner": "a", "loser": "b"}, {"winner": "a", "looser": "b"}])
    with pytest.raises(DecisionFileError, match=r"decisions\.jsonl:2: no loser field"):
        read_decisions(path)


@pytest.mark.parametrize(
    ("line", "message"), [("{not json", "invalid JSON"), ("[1, 2]", "expected a JSON object")]
)
def test_jsonl_lines_must_be_objects(tmp_path: Path, line: str, message: str) -> None:
    path = write(tmp_path, "d.jsonl", '{"winner": "a", "loser": "b"}\n\n' + line + "\n")
    with pytest.raises(DecisionFileError, match=rf"d\.jsonl:3: {message}"):
        read_decisions(path)


def test_boolean_ties_and_slots_in_jsonl(tmp_path: Path) -> None:
    path = jsonl(
        tmp_path,
        [
            {"winner": "a", "loser": "b", "tie": False, "slot": "a"},
            {"winner": "a", "loser": "c", "tie": True},
            {"winner": "c", "loser": "b", "tie": 0, "slot": None},
        ],
    )
    decisions = read_decisions(path)
    assert [(d.winner_slot, d.loser) for d in decisions.decisions] == [("A", "b"), (None, "b")]
    assert [e.reason for e in decisions.excluded] == [Exclusion.TIE]
    assert not decisions.slots_known


# ------------------------------------------------------------------------ from Python


def test_rows_from_python_follow_the_same_rules() -> None:
    decisions = decisions_from_rows(
        [
            {"winner": "a", "loser": "b", "judge": "j1"},
            {"winner": "a", "loser": "a", "judge": "j1"},
            {"winner": "N/A", "loser": "c", "judge": "j2"},
        ]
    )
    assert decisions.source == "rows"
    assert [(d.row, d.winner) for d in decisions.decisions] == [(1, "a")]
    assert [(e.row, e.reason, e.judge) for e in decisions.excluded] == [
        (2, Exclusion.SELF_COMPARISON, "j1"),
        (3, Exclusion.MISSING_WINNER, "j2"),
    ]


def test_rows_from_python_must_be_mappings() -> None:
    with pytest.raises(DecisionFileError, match="rows:2: expected a mapping"):
        decisions_from_rows([{"winner": "a", "loser": "b"}, ("a", "b")])  # type: ignore[list-item]
    with pytest.raises(DecisionFileError, match="no decisions"):
        decisions_from_rows([])
    with pytest.raises(ValueError, match="ties"):
        decisions_from_rows([{"winner": "a", "loser": "b"}], ties="half")  # type: ignore[arg-type]
