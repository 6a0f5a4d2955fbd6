"""Reading a net of essays from CSV or JSONL (what ``cj-worker submit`` and ``demo`` take).

Columns / keys: ``id``, ``text``, optional ``is_anchor``, ``grade`` and ``true_score``.
Errors name the file, the line and the field, and nothing is submitted.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from cj_worker.errors import EXIT_USER_ERROR, CJWorkerError
from cj_worker.payloads import EssayIn, PayloadError

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
    if reader.fieldnames is None or "id" not in reader.fieldnames:
        raise EssayFileError(f"{path}: the header must have an 'id' column")
    records: list[tuple[int, dict[str, Any]]] = []
    for row in reader:
        record: dict[str, Any] = {key: value for key, value in row.items() if key is not None}
        line = reader.line_num
        if "is_anchor" in record:
            record["is_anchor"] = _boolean(path, line, str(record["is_anchor"]))
        for key in ("grade", "true_score"):
            if record.get(key) == "":
                record[key] = None
        records.append((line, record))
    return records


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
