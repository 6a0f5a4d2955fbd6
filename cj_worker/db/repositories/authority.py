"""What a batch's own records say may be done to it: the check behind refusing forgeries.

Internal tasks (``cj.finalize_*``) can be sent by name by anyone who can reach the broker.
Their authority is therefore never the message but the batch's recorded decision, read
here under the batch row lock the caller holds.
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cj_worker.db.models import DecisionRow


def decision_after(session: Session, batch_id: uuid.UUID, wave: int) -> DecisionRow | None:
    """The decision logged after ``wave`` of the batch, if one was."""
    statement = sa.select(DecisionRow).where(
        DecisionRow.batch_id == batch_id, DecisionRow.wave == wave
    )
    return session.scalars(statement).one_or_none()
