"""The decision log, and whether a wave still waits for its decision."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cj_worker.db.models import DecisionRow
from cj_worker.db.repositories.comparisons import wave_has_pending
from cj_worker.db.repositories.conflicts import insert_unless_exists


def record_decision(
    session: Session,
    batch_id: uuid.UUID,
    wave: int,
    action: str,
    reason: str,
    details: Mapping[str, Any],
) -> bool:
    """Log the decision taken after ``wave``; False, changing nothing, if one exists.

    A duplicate continuation for the same wave sees False and must not act again: the
    first decision stands.
    """
    return insert_unless_exists(
        session,
        DecisionRow,
        {
            "batch_id": batch_id,
            "wave": wave,
            "action": action,
            "reason": reason,
            "details": dict(details),
        },
        unique_key=("batch_id", "wave"),
    )


def wave_decided(session: Session, batch_id: uuid.UUID, wave: int) -> bool:
    """Whether the decision after ``wave`` is logged."""
    logged = sa.exists().where(DecisionRow.batch_id == batch_id, DecisionRow.wave == wave)
    return bool(session.scalar(sa.select(logged)))


def wave_awaits_decision(session: Session, batch_id: uuid.UUID, wave: int) -> bool:
    """Whether ``wave`` has every answer in and no decision yet: continuation is due.

    The last callback of a wave and the sweep (for a trigger that was lost) both ask this;
    the session is flushed first so that the caller's own change to the wave counts.
    """
    session.flush()
    return not wave_has_pending(session, batch_id, wave) and not wave_decided(
        session, batch_id, wave
    )
