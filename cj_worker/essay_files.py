"""Reading a net of essays from CSV or JSONL (what ``cj-worker submit`` and ``demo`` take).

Columns / keys: ``id``, ``text`` (both required; ``text`` not blank), optional
``is_anchor``, ``grade`` and ``true_score``. Errors name the file, the line and the field,
and nothing is submitted. CSV and JSONL meet the same limits (``payloads.MAX_ESSAY_CHARS``
characters of text, ``MAX_ID_LENGTH`` of id): the CSV reader's own field limit is raised
just past the essay limit, so an oversized field is reported as such instead of as
``_csv.Error`` with a traceback.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from cj_worker.errors import EXIT_USER_ERROR, CJWorkerError
from cj_worker.payloads import MAX_ESSAY_CHARS, EssayIn, PayloadError

_TRUE = {"1", "true", "yes", "y", "t"}
_FALSE = {"", "0", "false", "no", "n", "f"}


class EssayFileError(CJWorkerError, ValueError, exit_code=EXIT_USER_ERROR):
    """The essay file cannot be read; the message says where and why."""


def read_essays(path: Path) -> list[EssayIn]:
    if not path.is_file():
        raise EssayFileError(f"{path}: no such file")
    suffix = path.suffix.lower()
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise EssayFileError(f"{path}: cannot read ({error})") from None
    if suffix in (".jsonl", ".ndjson"):
        records = _jsonl_records(path, text)
    elif suffix == ".csv":
        records = _csv_records(path, text)
    else:
        raise EssayFileError(f"{path}: expected a .csv or .jsonl file")
    essays = [_essay(path, line, record) for line, record in records]
    if not essays:
        raise EssayFileError(f"{path}: no essays")
    return essays


def _jsonl_records(path: Path, text: str) -> list[tuple[int, dict[str, Any]]]:
    records = []
    for line_number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise EssayFileError(f"{path}:{line_number}: invalid JSON ({error.msg})") from None
        if not isinstance(record, dict):
            raise EssayFileError(f"{path}:{line_number}: expected a JSON object")
        records.append((line_number, record))
    return records


def _csv_records(path: Path, text: str) -> list[tuple[int, dict[str, Any]]]:
    # newline="" keeps the line breaks inside quoted fields (multi-paragraph essays);
    # splitting the text into lines first would silently drop them.
    reader = csv.DictReader(io.StringIO(text, newline=""))
    records: list[tuple[int, dict[str, Any]]] = []
    with _field_limit(MAX_ESSAY_CHARS + 1):
        try:
            missing = [name for name in ("id", "text") if name not in (reader.fieldnames or ())]
            if missing:
                raise EssayFileError(
                    f"{path}: the header must have the columns 'id' and 'text' (missing:"
                    f" {', '.join(missing)})"
                )
            for row in reader:
                records.append((reader.line_num, _csv_record(path, reader.line_num, row)))
        except csv.Error as error:
            # The reader stops inside the record after the last one it completed.
            line = reader.line_num + 1
            raise EssayFileError(f"{path}:{line}: {_csv_problem(error)}") from None
    return records


def _csv_record(path: Path, line: int, row: dict[str | Any, Any]) -> dict[str, Any]:
    record: dict[str, Any] = {key: value for key, value in row.items() if key is not None}
    if "is_anchor" in record:
        record["is_anchor"] = _boolean(path, line, str(record["is_anchor"]))
    for key in ("grade", "true_score"):
        if record.get(key) == "":
            record[key] = None
    return record


def _csv_problem(error: csv.Error) -> str:
    if "field larger than field limit" in str(error):
        return (
            f"a field is longer than {MAX_ESSAY_CHARS:,} characters, the most an essay's text"
            " may have"
        )
    return f"not valid CSV ({error})"


@contextmanager
def _field_limit(limit: int) -> Iterator[None]:
    """The csv module's field limit (a process-wide setting) for the block only."""
    previous = csv.field_size_limit(limit)
    try:
        yield
    finally:
        csv.field_size_limit(previous)


def _boolean(path: Path, line: int, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise EssayFileError(f"{path}:{line}: is_anchor must be true or false, got {value!r}")


def _essay(path: Path, line: int, record: dict[str, Any]) -> EssayIn:
    try:
        return EssayIn.model_validate(record)
    except ValidationError as error:
        raise EssayFileError(f"{path}:{line}: {PayloadError('essay', error)}") from None
