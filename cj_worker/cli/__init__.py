"""``cj-worker``: the command line (a users' contract: names and options stay stable).

demo      run a whole batch in this process on SQLite, with the simulated judge
migrate   bring CJ_DATABASE_URL to the current schema (alembic upgrade head)
worker    a Celery worker for the cj.* queues (extra options go to celery)
beat      the Celery beat scheduler (sweep and outbox relay)
flower    Flower, the web monitor of the workers and tasks
submit    send a batch from a CSV/JSONL file to the broker
status    a batch's state, stop reason, counters, coverage keys and waves
export    a batch's results explained, as CSV or JSON, and optionally a plot and a report
harness   sweep synthetic nets through the production core (see ``cj-worker harness -h``)
score     score decisions made elsewhere (a CSV/JSONL of winner, loser, judge), no servers

Every error a user can cause prints one line on stderr and exits with the error's code:
1 for a batch that failed, 2 for input the user can fix, 3 for a server that does not
answer (see :mod:`cj_worker.errors`); a reader that closes stdout early (``| head``) is
not an error. The modules split the command line by concern: ``parsing`` (the grammar),
``servers``, ``batches``, ``demo`` and ``harness`` (what the commands do), ``budgets``
(the budget options, checked at intake), ``rendering`` (what they print) and ``failures``
(how they fail). Nothing in the package
imports this one; heavy modules (Celery, SQLAlchemy, numpy) are imported by the command
that needs them, so ``--help`` answers at once.
"""

from __future__ import annotations

import argparse
import os
import select
import sys
from collections.abc import Callable, Mapping, Sequence

from cj_worker.cli import batches, demo, failures, harness, parsing, score, servers
from cj_worker.cli.parsing import UsageError
from cj_worker.errors import EXIT_UNREACHABLE, EXIT_USER_ERROR

__all__ = ["EXIT_UNREACHABLE", "EXIT_USER_ERROR", "UsageError", "main"]

Handler = Callable[[argparse.Namespace, list[str]], int]
"""A command: the parsed options and the ones it passes on; returns the exit code."""

HANDLERS: Mapping[str, Handler] = {
    "demo": demo.run_demo,
    "migrate": servers.migrate,
    "worker": servers.worker,
    "beat": servers.beat,
    "flower": servers.flower,
    "submit": batches.submit,
    "status": batches.status,
    "export": batches.export,
    "harness": harness.run_harness,
    "score": score.run_score,
}

KEYBOARD_INTERRUPT_EXIT = 130
"""What shells report for a program ended by Ctrl-C (128 + SIGINT)."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns its exit code (the console script exits with it)."""
    _, args, extra = parsing.parse_arguments(argv)
    try:
        code = int(HANDLERS[args.command](args, extra))
        sys.stdout.flush()  # a closed pipe shows here, where it is handled, not at exit
        return code
    except KeyboardInterrupt:
        return KEYBOARD_INTERRUPT_EXIT
    except BrokenPipeError as error:
        # The reader of stdout went away (``| head -1``): its choice, not a failure. A
        # socket's broken pipe (the broker dropped us) is a failure like any other.
        return 0 if _stdout_closed() else _fail(error)
    except Exception as error:
        return _fail(error)


def _fail(error: Exception) -> int:
    """One line and the exit code for a project (or translated) error; a bug re-raises."""
    project_error = failures.as_project_error(error)
    if project_error is None:
        raise error
    return failures.report(project_error)


def _stdout_closed() -> bool:
    """Whether stdout's reader went away (``cj-worker status B | head -1``).

    That is the reader's choice, not an error: the command exits 0 and stdout is pointed
    at /dev/null, so the interpreter's last flush does not fail a second time. A pipe whose
    reader is gone polls as an error condition (POLLERR) for its writer; where poll is not
    available the broken pipe is taken to be stdout's, the only pipe the CLI writes to
    itself.
    """
    try:
        descriptor = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # a captured stdout: no descriptor
        return False
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(descriptor, select.POLLOUT)
        if not any(mask & (select.POLLERR | select.POLLHUP) for _, mask in poller.poll(0)):
            return False
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, descriptor)
    finally:
        os.close(devnull)
    return True
