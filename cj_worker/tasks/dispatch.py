"""Judge requests leave through their comparison rows: send, then count the send.

The comparison row is the outbox of its judge request. The transaction that inserts it
leaves ``sends`` at 0; after the commit, :func:`deliver` hands the requests to the broker
and only then counts each send (``sends + 1``, ``sent_at``) in a short transaction of its
own. A crash at any point loses nothing:

- before the requests reached the broker, the rows still say ``sends == 0`` and the sweep
  sends them once the batch has been quiet for a sweep interval;
- after some reached it but before they were counted, the sweep sends those again: the
  judge sees the same comparison id twice and the callback keeps the first answer.

Counting is a compare-and-set on ``sends`` (:func:`~cj_worker.db.repositories.mark_sent`),
so two dispatches of the same send (a sweep racing a slow dispatch) count it once, and a
re-send budget is spent only on re-sends the sweep decided.

Requests go out in chunks, each counted as soon as it left, so a broker that fails half-way
through a large wave leaves only the unsent rest to the sweep.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from cj_worker.db import repositories
from cj_worker.db.column_types import utc_now
from cj_worker.db.engine import session_scope
from cj_worker.tasks import base
from cj_worker.tasks.base import Message, Transport

CHUNK = 1_000
"""Messages published in one go (one producer, no per-message events) between two
counting transactions (one ``UPDATE`` each)."""


class Send(NamedTuple):
    """One send of a comparison's judge request (a tuple: a wave makes thousands)."""

    comparison_id: uuid.UUID
    sends: int
    """Sends already counted for the comparison: this one is counted only if still so."""


@dataclass(frozen=True)
class Dispatch:
    """One message to a judge and the comparison sends it carries.

    A message to an external or LLM judge carries one comparison; one to the simulated
    judge a bundle of them (:data:`~cj_worker.tasks.judging.TICKETS_PER_MESSAGE`).
    """

    sends: tuple[Send, ...]
    message: Message


def deliver(
    dispatches: Sequence[Dispatch], database_url: str, transport: Transport | None = None
) -> int:
    """Send the requests in order and count each send; returns how many were counted.

    Call it after the commit that decided the sends, outside any transaction (in eager
    mode a sent request runs its judge and callback inline). A broker error propagates
    with the requests sent so far counted.
    """
    counted = 0
    for start in range(0, len(dispatches), CHUNK):
        chunk = dispatches[start : start + CHUNK]
        base.send([dispatch.message for dispatch in chunk], transport)
        sent = [send for dispatch in chunk for send in dispatch.sends]
        with session_scope(database_url) as session:
            counted += repositories.mark_sent(session, sent, utc_now())
    return counted
