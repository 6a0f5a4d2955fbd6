"""Column types that behave the same on PostgreSQL and SQLite.

SQLite has no timezone-aware timestamp and no enum type; without these decorators the
embedded default would hand the code naive datetimes and bare strings where PostgreSQL
hands it aware datetimes, and the difference would surface only in production.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

E = TypeVar("E", bound=enum.StrEnum)

ENUM_LENGTH = 32
"""Room for later enum values without a column-type migration."""


def utc_now() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps stored in UTC and always read back timezone-aware."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: pass a timezone-aware value")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        stamp: datetime = value
        # SQLite returns what it stored (UTC, without an offset); PostgreSQL returns the
        # session's time zone, which depends on the server's configuration.
        return stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp.astimezone(UTC)


class StrEnumType(TypeDecorator[E]):
    """A ``StrEnum`` stored as its string value (a check constraint lists the values)."""

    impl = sa.String(ENUM_LENGTH)
    cache_ok = True

    def __init__(self, enum_type: type[E]) -> None:
        super().__init__()
        self.enum_type = enum_type

    def process_bind_param(self, value: E | str | None, dialect: Dialect) -> str | None:
        return None if value is None else self.enum_type(value).value

    def process_result_value(self, value: Any | None, dialect: Dialect) -> E | None:
        return None if value is None else self.enum_type(value)


def values_check(column: str, enum_type: type[enum.StrEnum]) -> str:
    """Body of a portable ``column IN (...)`` check constraint over an enum's values."""
    quoted = ", ".join(f"'{member.value}'" for member in enum_type)
    return f"{column} IN ({quoted})"
