"""Run a task body in one transaction, then act on what it returned: the shells' one rule.

A body takes the session, changes the database, and returns :class:`Effects`: its outcome,
the judge requests and messages to send and the metric observations to record. It sends
and records nothing itself. :func:`run` commits the transaction and only then records the
observations, delivers the judge requests and sends the messages, so

- nothing leaves the process while the batch row lock is held (in eager mode and in the
  embedded runner a sent message runs its task inline, which would wait for that lock);
- a body that raises, or a commit that fails, sends and counts nothing: the retry finds
  the database as it was and does the work once;
- a crash between commit and send loses nothing: judge requests leave through their
  comparison rows, which the sweep sends if the delivery never counted them
  (:mod:`cj_worker.tasks.dispatch`), and a lost trigger is re-derived by the sweep from
  the committed state.

Every transaction bounds its wait for a row lock (``db_lock_timeout_seconds``): a task
stuck behind a long lock fails with a transient error and is retried with backoff instead
of being killed by its time limit.

Observations are recorded before anything is sent: they describe the committed change,
which a broker failure while sending does not undo (and the retry, finding the change
made, will not record it again).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from sqlalchemy.orm import Session

from cj_worker.core.decision import Reason
from cj_worker.db import repositories
from cj_worker.db.engine import session_scope
from cj_worker.metrics import Observation
from cj_worker.tasks import base
from cj_worker.tasks.base import Message, Transport
from cj_worker.tasks.dispatch import Dispatch, deliver
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
    """Sent in order after the commit (and after the dispatches)."""
    observations: list[Observation] = field(default_factory=list)
    """Metric events, recorded after the commit."""
    dispatches: list[Dispatch] = field(default_factory=list)
    """Judge requests, delivered and counted after the commit (:func:`dispatch.deliver`)."""


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
    url = database_url or base.database_url()
    with session_scope(url) as session:
        repositories.bound_lock_wait(session, base.settings().db_lock_timeout_seconds)
        effects = body(session)
    apply_effects(effects, transport, database_url=url)
    return effects


def apply_effects(
    effects: Effects, transport: Transport | None = None, *, database_url: str | None = None
) -> None:
    """Record the observations, deliver the judge requests, send the messages.

    Call it after the commit; ``database_url`` (default: the task settings') is where the
    sends of the judge requests are counted.
    """
    for observation in effects.observations:
        observation.record()
    if effects.dispatches:
        deliver(effects.dispatches, database_url or base.database_url(), transport)
    base.send(effects.messages, transport)
