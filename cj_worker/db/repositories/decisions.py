"""The decision log."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from cj_worker.db.models import Decision
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
        Decision,
        {
            "batch_id": batch_id,
            "wave": wave,
            "action": action,
            "reason": reason,
            "details": dict(details),
        },
        unique_key=("batch_id", "wave"),
    )
