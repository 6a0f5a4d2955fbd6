"""Reading essays from CSV and JSONL: errors say file, line and field."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from cj_worker.essay_files import EssayFileError, read_essays
from cj_worker.payloads import MAX_ESSAY_CHARS, EssayIn

DEFAULT_FIELD_LIMIT = csv.field_size_limit()


def write(directory: Path, name: str, content: str) -> Path:
    path = directory / name
    path.write_text(content, encoding="utf-8")
    return path


def error_of(path: Path) -> str:
    with pytest.raises(EssayFileError) as raised:
        read_essays(path)
    message = str(raised.value)
    assert message.startswith(str(path))
    assert "\n" not in message
    return message


# ------------------------------------------------------------------------------- CSV


def test_csv_with_every_column(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "net.csv",
        "id,text,is_anchor,grade,true_score\n"
        "s1,First essay,false,,0.5\n"
        "a1,Anchor essay,true,B,\n"
        "s2,Second,,,\n",
    )

    assert read_essays(path) == [
        EssayIn(id="s1", text="First essay", is_anchor=False, grade=None, true_score=0.5),
        EssayIn(id="a1", text="Anchor essay", is_anchor=True, grade="B", true_score=None),
        EssayIn(id="s2", text="Second"),
    ]


def test_csv_with_a_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "ids.csv"
    path.write_bytes("\ufeffid,text\nx,a\ny,b\n".encode())
    assert [essay.id for essay in read_essays(path)] == ["x", "y"]


def test_csv_keeps_line_breaks_inside_quoted_text(tmp_path: Path) -> None:
    """Essays have paragraphs; a quoted multi-line field must arrive whole."""
    path = write(
        tmp_path,
        "paragraphs.csv",
        'id,text\ns1,"First paragraph.\n\nSecond paragraph, with a comma."\ns2,short\n',
    )
    essays = read_essays(path)
    assert essays[0].text == "First paragraph.\n\nSecond paragraph, with a comma."
    assert [essay.id for essay in essays] == ["s1", "s2"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("true", True),
        ("TRUE", True),
        ("1", True),
        ("yes", True),
        (" y ", True),
        ("t", True),
        ("false", False),
        ("0", False),
        ("no", False),
        ("", False),
        ("F", False),
    ],
)
def test_csv_is_anchor_values(tmp_path: Path, value: str, expected: bool) -> None:
    path = write(tmp_path, "anchor.csv", f"id,text,is_anchor,grade\nx,t,{value},A\n")
    [essay] = read_essays(path)
    assert essay.is_anchor is expected


def test_csv_bad_boolean_names_line_and_field(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.csv", "id,text,is_anchor,grade\nx,t,no,\ny,t,maybe,B\n")
    message = error_of(path)
    assert message == f"{path}:3: is_anchor must be true or false, got 'maybe'"


def test_csv_without_an_id_column(tmp_path: Path) -> None:
    path = write(tmp_path, "noid.csv", "name,text\nx,hello\n")
    assert error_of(path) == (
        f"{path}: the header must have the columns 'id' and 'text' (missing: id)"
    )


def test_csv_without_a_text_column(tmp_path: Path) -> None:
    path = write(tmp_path, "notext.csv", "id,true_score\nx,1\n")
    assert error_of(path) == (
        f"{path}: the header must have the columns 'id' and 'text' (missing: text)"
    )


@pytest.mark.parametrize("text", ["", "   ", '""'])
def test_csv_essay_without_text_names_the_line(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, "blank.csv", f"id,text\nx,hello\ny,{text}\n")
    assert error_of(path).startswith(
        f"{path}:3: invalid essay: text: String should have at least 1 character"
    )


def test_csv_bad_value_names_line_and_field(tmp_path: Path) -> None:
    path = write(tmp_path, "score.csv", "id,text,true_score\nx,t,1.5\ny,t,high\n")
    message = error_of(path)
    assert message.startswith(f"{path}:3: invalid essay: true_score:")


def test_csv_anchor_without_grade_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "anchor.csv", "id,text,is_anchor,grade\nx,t,false,\ny,t,true,\n")
    message = error_of(path)
    assert message.startswith(f"{path}:3: ")
    assert "anchor essay 'y' needs a grade" in message


def test_csv_unknown_column_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, "extra.csv", "id,text,author\nx,hi,me\n")
    assert "author: Extra inputs are not permitted" in error_of(path)


# ----------------------------------------------------------------------------- JSONL


def test_jsonl_happy_path_skips_blank_lines(tmp_path: Path) -> None:
    records = [
        {"id": "s1", "text": "one", "true_score": 1.0},
        {"id": "a1", "text": "anchor", "is_anchor": True, "grade": "C"},
    ]
    content = "\n".join(json.dumps(record) for record in records)
    path = write(tmp_path, "net.jsonl", f"{content}\n\n")

    assert read_essays(path) == [EssayIn.model_validate(record) for record in records]


def test_ndjson_is_jsonl(tmp_path: Path) -> None:
    path = write(tmp_path, "net.NDJSON", '{"id": "x", "text": "t"}\n')
    assert [essay.id for essay in read_essays(path)] == ["x"]


@pytest.mark.parametrize(
    ("value", "expected"), [(True, True), (False, False), ("yes", True), (0, False)]
)
def test_jsonl_is_anchor_values(tmp_path: Path, value: object, expected: bool) -> None:
    path = write(
        tmp_path, "a.jsonl", json.dumps({"id": "x", "text": "t", "is_anchor": value, "grade": "A"})
    )
    [essay] = read_essays(path)
    assert essay.is_anchor is expected


def test_jsonl_bad_json_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.jsonl", '{"id": "x", "text": "t"}\n\n{"id": "y",\n')
    message = error_of(path)
    assert message.startswith(f"{path}:3: invalid JSON")


def test_jsonl_line_that_is_not_an_object(tmp_path: Path) -> None:
    path = write(tmp_path, "list.jsonl", '{"id": "x", "text": "t"}\n["y"]\n')
    assert error_of(path) == f"{path}:2: expected a JSON object"


def test_jsonl_bad_boolean_names_line_and_field(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "bool.jsonl",
        '{"id": "x", "text": "t"}\n{"id": "y", "text": "t", "is_anchor": "maybe"}\n',
    )
    message = error_of(path)
    assert message.startswith(f"{path}:2: invalid essay: is_anchor:")


def test_jsonl_missing_id_names_line_and_field(tmp_path: Path) -> None:
    path = write(tmp_path, "noid.jsonl", '{"text": "anonymous"}\n')
    assert error_of(path).startswith(f"{path}:1: invalid essay: id: Field required")


# ---------------------------------------------------------------------- either format


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("empty.csv", "", "the header must have the columns 'id' and 'text' (missing: id, text)"),
        ("header-only.csv", "id,text\n", "no essays"),
        ("empty.jsonl", "", "no essays"),
        ("blank.jsonl", "\n  \n", "no essays"),
    ],
)
def test_a_file_without_essays(tmp_path: Path, name: str, content: str, expected: str) -> None:
    path = write(tmp_path, name, content)
    assert error_of(path) == f"{path}: {expected}"


def test_an_unknown_extension(tmp_path: Path) -> None:
    path = write(tmp_path, "net.txt", "id\nx\n")
    assert error_of(path) == f"{path}: expected a .csv or .jsonl file"


def test_a_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.csv"
    assert error_of(path) == f"{path}: no such file"


def test_a_directory_is_not_a_file(tmp_path: Path) -> None:
    path = tmp_path / "folder.csv"
    path.mkdir()
    assert error_of(path) == f"{path}: no such file"


def test_a_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes("id,text\nx,caf\xe9\n".encode("latin-1"))
    assert error_of(path).startswith(f"{path}: cannot read")


# ------------------------------------------------------------------------------ limits


def _huge(size: int) -> str:
    return "word " * (size // 5)


@pytest.mark.parametrize("size", [MAX_ESSAY_CHARS + 5, 10 * 1024 * 1024])
def test_an_essay_past_the_limit_is_refused_in_csv(tmp_path: Path, size: int) -> None:
    path = write(tmp_path, "huge.csv", f'id,text\nok,fine\nbig,"{_huge(size)}"\nlast,x\n')
    message = error_of(path)
    assert message.startswith(f"{path}:3: ")
    assert message.endswith(
        f"a field is longer than {MAX_ESSAY_CHARS:,} characters, the most an essay's text may have"
    )
    assert csv.field_size_limit() == DEFAULT_FIELD_LIMIT, "the process-wide limit is restored"


@pytest.mark.parametrize("size", [MAX_ESSAY_CHARS + 5, 10 * 1024 * 1024])
def test_an_essay_past_the_limit_is_refused_in_jsonl(tmp_path: Path, size: int) -> None:
    lines = [{"id": "ok", "text": "fine"}, {"id": "big", "text": _huge(size)}]
    path = write(tmp_path, "huge.jsonl", "\n".join(json.dumps(line) for line in lines))
    assert error_of(path) == (
        f"{path}:2: invalid essay: text: String should have at most {MAX_ESSAY_CHARS} characters"
    )


@pytest.mark.parametrize("name", ["max.csv", "max.jsonl"])
def test_an_essay_of_exactly_the_limit_is_read_from_either_format(
    tmp_path: Path, name: str
) -> None:
    text = "x" * MAX_ESSAY_CHARS
    content = (
        f"id,text\nbig,{text}\n"
        if name.endswith(".csv")
        else json.dumps({"id": "big", "text": text})
    )
    [essay] = read_essays(write(tmp_path, name, content))
    assert len(essay.text) == MAX_ESSAY_CHARS
