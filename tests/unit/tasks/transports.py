"""Transports for the task tests: record what the shells send, or check when they send it."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cj_worker.tasks.base import Message, Transport, set_transport


class CapturingTransport:
    """A :class:`cj_worker.tasks.base.Transport` that keeps what it is given."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    def send(self, message: Message) -> None:
        self.messages.append(message)

    def tasks(self) -> list[str]:
        return [message.task for message in self.messages]

    def tickets(self) -> list[dict[str, Any]]:
        """The judge tickets sent, in order: a simulated judge's message carries a bundle."""
        found: list[dict[str, Any]] = []
        for message in self.messages:
            if "tickets" in message.kwargs:
                found.extend(message.kwargs["tickets"])
            elif "ticket" in message.kwargs:
                found.append(message.kwargs["ticket"])
        return found

    def take(self) -> list[Message]:
        """The messages sent so far, forgetting them."""
        taken, self.messages = self.messages, []
        return taken


@contextmanager
def capturing() -> Iterator[CapturingTransport]:
    """Messages sent after commit are recorded here instead of leaving the process."""
    transport = CapturingTransport()
    previous = set_transport(transport)
    try:
        yield transport
    finally:
        set_transport(previous)


class LockCheckingTransport:
    """Passes messages on, noting each one sent while the SQLite database is write-locked.

    The shells must send only after commit: a message sent under the lock runs inline in
    eager mode (and in the embedded runner's worker) and waits for that very lock.
    """

    def __init__(self, database: Path, inner: Transport) -> None:
        self.database = database
        self.inner = inner
        self.sent_under_lock: list[str] = []
        self.sent = 0

    def send(self, message: Message) -> None:
        if self._write_locked():
            self.sent_under_lock.append(message.task)
        self.sent += 1
        self.inner.send(message)

    def _write_locked(self) -> bool:
        connection = sqlite3.connect(self.database, timeout=0, isolation_level=None)
        try:
            connection.execute("BEGIN IMMEDIATE")
            connection.execute("ROLLBACK")
        except sqlite3.OperationalError as error:
            if "locked" in str(error):
                return True
            raise
        finally:
            connection.close()
        return False
