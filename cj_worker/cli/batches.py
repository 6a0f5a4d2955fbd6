"""A deployment's batches from the outside: ``submit``, ``status`` and ``export``.

``submit`` checks the budget against the settings (:mod:`cj_worker.cli.budgets`) and sends
the batch to the broker (with ``--dry-run`` and an LLM judge it prints the estimated tokens
and cost instead, and sends nothing); ``status`` and ``export`` read the database directly (the read
models of :mod:`cj_worker.client`): ``CJ_DATABASE_URL``, or with ``--db FILE`` a SQLite
file such as the one a demo kept. Reading never creates a database: a SQLite file that
does not exist is a one-line error naming it, not an empty file and "cannot reach the
database".
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from cj_worker.cli import budgets, parsing, rendering
from cj_worker.cli.parsing import UsageError
from cj_worker.config import get_settings
from cj_worker.errors import EXIT_FAILURE, CJWorkerError
from cj_worker.essay_files import read_essays
from cj_worker.llm_spec import LlmJudge
from cj_worker.payloads import BatchRequest


class BatchFailedError(CJWorkerError, RuntimeError, exit_code=EXIT_FAILURE):
    """The batch ended without results; the message says why."""


def submit(args: argparse.Namespace, _: list[str]) -> int:
    from cj_worker import client

    essays = read_essays(Path(args.file))
    settings = parsing.overrides(args.set)
    plan = budgets.plan(args, len(essays), get_settings().algorithm().override(settings))
    judge = parsing.chosen_judge(args)
    if args.dry_run and not isinstance(judge, LlmJudge):
        raise UsageError("--dry-run estimates an LLM judge's tokens and cost: use --judge llm")
    request: dict[str, Any] = {
        "budget": budgets.chosen(args, plan),
        "judge": judge,
        "settings": settings,
        "tenant": args.tenant,
        "external_ref": args.external_ref,
        "result_task": args.result_task,
        "grade_scale": parsing.grade_scale(args.grade_scale),
        "assignment": parsing.text_file(args.assignment, "--assignment"),
        "rubric": parsing.text_file(args.rubric, "--rubric"),
    }
    if args.dry_run:
        return _dry_run(client.batch_request(essays, **request), json_output=args.json)
    batch_id = client.submit_batch(essays, **request)
    print(rendering.to_json({"batch_id": str(batch_id)}, indent=None) if args.json else batch_id)
    return 0


def _dry_run(request: BatchRequest, *, json_output: bool) -> int:
    """Print what ``request`` would cost if its whole budget were spent; send nothing."""
    assert isinstance(request.judge, LlmJudge)  # checked before the request was built
    from cj_worker.judges.llm.cost import estimate_batch

    estimate = estimate_batch(request)
    print(
        rendering.to_json(estimate.as_json())
        if json_output
        else rendering.cost_estimate(estimate, request.judge)
    )
    return 0


def status(args: argparse.Namespace, _: list[str]) -> int:
    from cj_worker import client

    batch = client.get_status(
        parsing.batch_id(args.batch), tenant=args.tenant, database_url=database_url(args.db)
    )
    print(rendering.to_json(batch.as_dict()) if args.json else rendering.status_report(batch))
    return 0


def export(args: argparse.Namespace, _: list[str]) -> int:
    from cj_worker import client, stop_reasons

    results = client.get_results(
        parsing.batch_id(args.batch), tenant=args.tenant, database_url=database_url(args.db)
    )
    status = results.status
    wants_people = args.plot or args.report or not (args.json or args.csv)
    if not results.essays and wants_people:
        reason = results.stop_reason or status.final_reason
        if stop_reasons.is_failure(reason):
            raise BatchFailedError(
                f"batch {args.batch} failed ({reason}) and has no results: "
                f"{stop_reasons.explain(reason, status)}"
            )
        raise UsageError(f"batch {args.batch} has no results yet (state {status.state})")
    if args.plot:
        from cj_worker.report.plot import plot_results

        plot_results(results, args.plot)
    if args.report:
        from cj_worker.report.page import write_report

        written = write_report(results, args.report)
        for warning in written.warnings:
            print(f"{budgets.WARNING_PREFIX}{warning}", file=sys.stderr)
    if args.json:
        print(rendering.to_json(results.as_dict()))
    elif args.csv:
        sys.stdout.write(results.to_csv())
    else:
        print(rendering.results_report(results))
    return 0


def database_url(db: str | None) -> str:
    """The URL to read from: ``--db FILE`` or ``CJ_DATABASE_URL``; never a new SQLite file.

    SQLite creates a missing file on connect, which turned "wrong place" into an empty
    ``cj-worker.sqlite3`` and a misleading "no such table"; a missing file is said instead.
    """
    if db is not None:
        if not Path(db).is_file():
            raise UsageError(f"--db {db}: no such file")
        return f"sqlite:///{db}"
    url = get_settings().database_url
    path = sqlite_file(url)
    if path is not None and not path.is_file():
        raise UsageError(
            f"no database file {path} (CJ_DATABASE_URL={url}): point CJ_DATABASE_URL at "
            "your deployment's database, or read a demo's file with --db FILE"
        )
    return url


def sqlite_file(url: str) -> Path | None:
    """The file of a file-based SQLite URL, None for any other database."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    database = parsed.database or ""
    if parsed.get_backend_name() != "sqlite" or database in ("", ":memory:"):
        return None
    if database.startswith("file:"):  # a URI filename: leave it to SQLite
        return None
    return Path(database)
