"""The dead-letter list: broker messages a worker could not decode or run, kept for a person.

A message that cannot be decoded (not JSON, not a task message, an unknown task) used to be
either discarded with a log line or, worse, stop the worker (celery#7975, kombu#2421).
:mod:`cj_worker.poison` moves such a message here instead and the worker keeps consuming.
The list is the Redis list :data:`KEY` on the broker: newest first, each entry a JSON
object with the queue it came from, why it was refused, when, and the raw message as the
broker held it (cut at :data:`MAX_RAW_CHARS`), so it can be inspected and, once the cause
is fixed (a producer's bug, a task deployed late), replayed into its queue::

    python -m cj_worker.dead_letters list            # newest first: index, queue, reason
    python -m cj_worker.dead_letters show 0          # one entry, raw message included
    python -m cj_worker.dead_letters replay 0        # push its raw message back, remove it
    python -m cj_worker.dead_letters drop 0          # remove it
    redis-cli -n 0 LRANGE cj.dead_letters 0 -1      # the same, without Python

The broker is ``CJ_BROKER_URL``. The list keeps the newest :data:`MAX_LETTERS` entries.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import redis

KEY = "cj.dead_letters"
MAX_LETTERS = 10_000
"""Entries kept; older ones are trimmed, so a flood of garbage cannot fill the broker."""
MAX_RAW_CHARS = 1_000_000
"""Longest raw message kept whole; a longer one is cut (``truncated`` says so)."""


@dataclass(frozen=True)
class DeadLetter:
    queue: str
    reason: str
    """``undecodable``, ``malformed_envelope``, ``undecodable_body``, ``unknown_message``,
    ``unknown_task``, ``invalid_task`` or ``unhandled``."""
    error: str
    raw: str
    """The message as the broker held it (for Redis, the envelope JSON), or its repr."""
    received_at: str
    truncated: bool = False

    @classmethod
    def of(cls, queue: str, reason: str, error: object, raw: str | bytes) -> DeadLetter:
        text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
        return cls(
            queue=queue,
            reason=reason,
            error=str(error)[:2_000],
            raw=text[:MAX_RAW_CHARS],
            received_at=datetime.now(UTC).isoformat(),
            truncated=len(text) > MAX_RAW_CHARS,
        )

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, document: str | bytes) -> DeadLetter:
        return cls(**json.loads(document))


def push(client: redis.Redis, letter: DeadLetter) -> None:
    """Add ``letter`` at the head of the list and trim the tail."""
    with client.pipeline() as pipe:
        pipe.lpush(KEY, letter.to_json())
        pipe.ltrim(KEY, 0, MAX_LETTERS - 1)
        pipe.execute()


def read(client: redis.Redis, start: int = 0, stop: int = -1) -> list[DeadLetter]:
    """Entries ``start`` to ``stop`` (inclusive), newest first."""
    return [DeadLetter.from_json(item) for item in client.lrange(KEY, start, stop)]


def take(client: redis.Redis, index: int) -> DeadLetter:
    """Remove and return entry ``index`` (IndexError if there is none)."""
    entry = _entry(client, index)
    client.lrem(KEY, 1, entry)
    return DeadLetter.from_json(entry)


def replay(client: redis.Redis, index: int) -> DeadLetter:
    """Push entry ``index``'s raw message back into its queue and remove the entry.

    The worker takes it again like any message; if its cause was not fixed, it comes back
    here. A truncated entry cannot be replayed.
    """
    entry = _entry(client, index)
    letter = DeadLetter.from_json(entry)
    if letter.truncated:
        raise ValueError(f"dead letter {index} was truncated; it cannot be replayed")
    with client.pipeline() as pipe:
        pipe.lpush(letter.queue, letter.raw)
        pipe.lrem(KEY, 1, entry)
        pipe.execute()
    return letter


def _entry(client: redis.Redis, index: int) -> str:
    raw = client.lindex(KEY, index)
    if raw is None:
        raise IndexError(f"no dead letter at index {index}")
    return raw.decode() if isinstance(raw, bytes) else str(raw)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m cj_worker.dead_letters``: inspect, replay or drop dead letters."""
    parser = argparse.ArgumentParser(prog="python -m cj_worker.dead_letters")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="newest first: index, time, queue, reason, error")
    for name, text in (
        ("show", "one entry as JSON, raw message included"),
        ("replay", "push an entry's raw message back into its queue and remove it"),
        ("drop", "remove an entry"),
    ):
        commands.add_parser(name, help=text).add_argument("index", type=int)
    args = parser.parse_args(argv)

    from cj_worker.config import get_settings

    client = redis.Redis.from_url(get_settings().broker_url)
    try:
        return _run(client, args)
    except IndexError as error:
        print(f"dead_letters: {error}", file=sys.stderr)
        return 2
    except (ValueError, redis.exceptions.RedisError) as error:
        print(f"dead_letters: {error}", file=sys.stderr)
        return 2 if isinstance(error, ValueError) else 3


def _run(client: redis.Redis, args: Any) -> int:
    if args.command == "list":
        for index, letter in enumerate(read(client)):
            print(f"{index}\t{letter.received_at}\t{letter.queue}\t{letter.reason}\t{letter.error}")
    elif args.command == "show":
        print(json.dumps(asdict(DeadLetter.from_json(_entry(client, args.index))), indent=2))
    elif args.command == "replay":
        letter = replay(client, args.index)
        print(f"replayed into {letter.queue}")
    else:
        take(client, args.index)
        print("dropped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
