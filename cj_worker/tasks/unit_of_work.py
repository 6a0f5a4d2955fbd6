"""Run a task body in one transaction, then act on what it returned: the shells' one rule.

A body takes the session, changes the database, and returns :class:`Effects`: its outcome,
the messages to send and the metric observations to record. It sends and records nothing
itself. :func:`run` commits the transaction and only then records the observations and
sends the messages, so

- nothing leaves the process while the batch row lock is held (in eager mode and in the
  embedded runner a sent message runs its task inline, which would wait for that lock);
- a body that raises, or a commit that fails, sends and counts nothing: the retry finds
  the database as it was and does the work once;
- a crash between commit and send loses a message, never a decision: the sweep re-sends
  the trigger that went missing.

Observations are recorded before the messages are sent: they describe the committed
change, which a broker failure while sending does not undo (and the retry, finding the
change made, will not record it again).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from sqlalchemy.orm import Session

from cj_worker.core.decision import Reason
from cj_worker.db.engine import session_scope
from cj_worker.metrics import Observation
from cj_worker.tasks import base
from cj_worker.tasks.base import Message, Transport
from cj_worker.tasks.outcomes import Outcome


@dataclass(frozen=True)
class Effects:
    """What a task body did and what must follow once it committed.

    A body with more to report (the sweep's counts) returns a subclass; :func:`run` hands
    back whatever the body returned.
    """

    outcome: Outcome | Reason
    """:class:`Outcome`, or the decision's ``Reason`` for a continuation that decided."""
    messages: list[Message] = field(default_factory=list)
    """Sent in order after the commit."""
    observations: list[Observation] = field(default_factory=list)
    """Metric events, recorded after the commit."""


E = TypeVar("E", bound=Effects)


def run(
    body: Callable[[Session], E],
    *,
    database_url: str | None = None,
    transport: Transport | None = None,
) -> E:
    """Run ``body`` in one transaction; after the commit, apply its effects.

    ``database_url`` defaults to the task settings' (:func:`base.database_url`), and
    ``transport`` to the current one (:func:`base.set_transport`). Exceptions of the body
    or the commit propagate with nothing sent or recorded.
    """
    with session_scope(database_url or base.database_url()) as session:
        effects = body(session)
    apply_effects(effects, transport)
    return effects


def apply_effects(effects: Effects, transport: Transport | None = None) -> None:
    """Record the observations, then send the messages; call it after the commit."""
    for observation in effects.observations:
        observation.record()
    base.send(effects.messages, transport)
