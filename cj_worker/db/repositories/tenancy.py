"""Whose batch it is: the check that scopes every read that names a tenant.

Batch ids travel in messages, logs and result events, so knowing one proves nothing. A read
that names a tenant sees a batch only if the batch was submitted under that tenant; one of
another tenant is reported exactly like a batch that does not exist, so a reader cannot
even learn that the id is taken.
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cj_worker.db.models import Batch


def visible_to(session: Session, batch_id: uuid.UUID, tenant: str | None) -> bool:
    """Whether the batch exists and, when ``tenant`` is given, was submitted under it."""
    statement = sa.select(Batch.tenant).where(Batch.id == batch_id)
    found = session.execute(statement).first()
    if found is None:
        return False
    return tenant is None or found.tenant == tenant
