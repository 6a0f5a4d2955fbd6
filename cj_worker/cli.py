"""``cj-worker``: the command line (a users' contract: names and options stay stable).

demo      run a whole batch in this process on SQLite, with the simulated judge
migrate   bring CJ_DATABASE_URL to the current schema (alembic upgrade head)
worker    a Celery worker for the cj.* queues (extra options go to celery)
beat      the Celery beat scheduler (sweep and outbox relay)
flower    Flower, the web monitor of the workers and tasks
submit    send a batch from a CSV/JSONL file to the broker
status    a batch's state, stop reason, counters, coverage keys and waves
export    a batch's results as a table, CSV or JSON, and optionally a plot
harness   sweep synthetic nets through the production core (see ``cj-worker harness -h``)

Every error a user can cause prints one line on stderr and exits non-zero.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import os
import shutil
import sys
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import kombu.exceptions
import numpy as np
import sqlalchemy.exc
from pydantic import ValidationError

from cj_worker.client import BatchResults, UnknownBatchError
from cj_worker.config import get_settings
from cj_worker.db.migrate import MigrationsNotFoundError
from cj_worker.embedded import EmbeddedRunError
from cj_worker.essay_files import EssayFileError, read_essays
from cj_worker.payloads import EssayIn, ExternalJudge, PayloadError, SimulatedJudge

GRADE_SCALE_HELP = (
    "grade scale of the anchors: a built-in name (swedish_8_anchor, the default;"
    ' eng5_np_legacy_9_step; eng5_np_national_9_step) or JSON {"grades": [...], "priors": [...]}'
)
EXIT_USER_ERROR = 2
EXIT_UNREACHABLE = 3


class UsageError(ValueError):
    """A command-line value is wrong; the message says which."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command not in ("worker", "beat", "flower"):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        return int(args.handler(args, extra))
    except ValidationError as error:
        # pydantic's own text spans several lines; PayloadError names the fields on one.
        return _fail(str(PayloadError(error.title, error)), EXIT_USER_ERROR)
    except (UsageError, EssayFileError, PayloadError, UnknownBatchError) as error:
        return _fail(str(error), EXIT_USER_ERROR)
    except (EmbeddedRunError, MigrationsNotFoundError) as error:
        return _fail(str(error), EXIT_USER_ERROR)
    except sqlalchemy.exc.ArgumentError as error:  # also NoSuchModuleError (unknown driver)
        return _fail(f"bad CJ_DATABASE_URL: {_first_line(error)}", EXIT_USER_ERROR)
    except ModuleNotFoundError as error:
        # SQLAlchemy imports a URL's driver on first use; a bare postgresql:// URL means
        # psycopg (3) on SQLAlchemy 2.1, which this package does not install.
        hint = (
            " (the driver of CJ_DATABASE_URL: write postgresql+psycopg2://...)"
            if (error.name or "").startswith("psycopg")
            else ""
        )
        return _fail(f"module {error.name!r} is not installed{hint}", EXIT_USER_ERROR)
    except (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError) as error:
        return _fail(
            f"cannot reach the database: {_first_line(error.orig or error)}", EXIT_UNREACHABLE
        )
    except (kombu.exceptions.OperationalError, ConnectionError) as error:
        return _fail(f"cannot reach the broker: {_first_line(error)}", EXIT_UNREACHABLE)
    except KeyboardInterrupt:
        return 130


def _fail(message: str, code: int) -> int:
    print(f"cj-worker: error: {message}", file=sys.stderr)
    return code


def _first_line(error: object) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else repr(error)


# ------------------------------------------------------------------------------- demo


def _demo(args: argparse.Namespace, _: list[str]) -> int:
    from tqdm import tqdm

    from cj_worker.payloads import BatchRequest

    database = (
        Path(args.db) if args.db else Path(tempfile.mkdtemp(prefix="cj-demo-")) / "demo.sqlite3"
    )
    os.environ["CJ_DATABASE_URL"] = f"sqlite:///{database}"
    get_settings.cache_clear()
    from cj_worker import client, embedded

    essays = read_essays(Path(args.file)) if args.file else _sample_essays(args.essays, args.seed)
    overrides = {"pair_seed": args.seed, **_overrides(args.set)}
    scale = _grade_scale(args.grade_scale)
    request = BatchRequest(
        essays=essays,
        budget=args.budget,
        settings=overrides,
        **({} if scale is None else {"grade_scale": scale}),
        judge=SimulatedJudge(
            discrimination=args.discrimination,
            position_bias=args.position_bias,
            error_rate=args.error_rate,
            seed=args.seed,
        ),
    )
    with tqdm(
        total=request.budget, unit="cmp", desc="judging", file=sys.stderr, disable=args.json
    ) as bar:

        def progress(done: int, budget: int) -> None:
            bar.total = budget
            bar.update(done - bar.n)

        batch_id = embedded.run_batch(request, progress)
    results = client.get_results(batch_id)
    truth = {e.id: e.true_score for e in essays}
    if args.json:
        print(json.dumps({**results.as_dict(), "database": str(database)}, indent=2))
        return 0
    status = results.status
    print(f"\nbatch {batch_id}  ({status.essays} essays, database {database})")
    print(
        f"stopped: {results.stop_reason}   waves: {status.current_wave}   comparisons: "
        f"{status.submitted} of {status.total_budget} ({status.succeeded} succeeded, "
        f"{status.failed} failed)"
    )
    print(
        f"reliability: SSR {_number(results.ssr)}, split-half {_number(results.split_half)}"
        + ("  (SSR inflated by adaptive pairing: trust split-half)" if results.ssr_inflated else "")
    )
    scores = np.array([row.score for row in results.essays])
    known = np.array([truth.get(row.essay_id) or 0.0 for row in results.essays])
    if len(scores) > 2 and np.std(known) > 0:
        from scipy.stats import spearmanr

        print(f"Spearman with the true scores: {float(spearmanr(scores, known)[0]):.3f}")
    print(_table(results.essays, truth))
    return 0


def _sample_essays(count: int, seed: int) -> list[EssayIn]:
    if count < 1:
        raise UsageError("--essays must be at least 1")
    truth = np.random.default_rng(seed).normal(0.0, 1.5, size=count)
    return [
        EssayIn(id=f"essay-{i + 1:03d}", text=f"Sample essay {i + 1}", true_score=float(score))
        for i, score in enumerate(truth)
    ]


def _table(rows: Sequence[Any], truth: dict[str, float | None] | None = None) -> str:
    header = (
        f"{'rank':>4}  {'id':<20} {'score':>8} {'SE':>7} {'comparisons':>11}  anchor "
        f"{'grade':<6} {'conf':>5} {'infit':>6}"
    )
    if truth is not None:
        header += "   true"
    lines = [header]
    for row in rows:
        line = (
            f"{row.rank:>4}  {row.essay_id:<20} {row.score:>8.3f} {row.standard_error:>7.3f} "
            f"{row.comparisons:>11}  {'yes' if row.is_anchor else '':<6} "
            f"{row.grade or '-':<6} {_number(row.confidence, 2):>5} "
            f"{_number(row.infit, 2) + ('*' if row.misfit else ''):>6}"
        )
        if truth is not None:
            line += f" {_number(truth.get(row.essay_id)):>6}"
        lines.append(line)
    return "\n".join(lines)


def _number(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


# ---------------------------------------------------------------------- servers' side


def _migrate(_: argparse.Namespace, __: list[str]) -> int:
    from cj_worker.db.migrate import upgrade

    url = get_settings().database_url
    upgrade(url)
    print(f"database at head: {_redacted(url)}")
    return 0


def _worker(args: argparse.Namespace, extra: list[str]) -> int:
    from cj_worker import task_names
    from cj_worker.celery_app import app

    queues = args.queues or ",".join(task_names.QUEUES)
    with _metrics_directory():
        app.worker_main(["worker", "--queues", queues, "--loglevel", args.loglevel, *extra])
    return 0


@contextmanager
def _metrics_directory() -> Iterator[None]:
    """Give this worker a fresh PROMETHEUS_MULTIPROC_DIR of its own, removed on exit.

    Pool processes write their metrics there (see ``cj_worker.metrics``). prometheus-client
    picks its mode when first imported, which starting the worker does, so the variable
    is set before. A directory set by the operator is used as it is.
    """
    variable = "PROMETHEUS_MULTIPROC_DIR"
    # Once prometheus_client is imported its mode is fixed: setting the variable then would
    # make the worker serve an empty directory, so leave it unset and the worker says why
    # it serves no metrics.
    if (
        not get_settings().metrics_port
        or os.environ.get(variable)
        or "prometheus_client" in sys.modules
    ):
        yield
        return
    directory = tempfile.mkdtemp(prefix="cj-worker-metrics-")
    os.environ[variable] = directory
    try:
        yield
    finally:
        del os.environ[variable]
        shutil.rmtree(directory, ignore_errors=True)


def _beat(args: argparse.Namespace, extra: list[str]) -> int:
    from cj_worker.celery_app import app

    app.start(["beat", "--loglevel", args.loglevel, *extra])
    return 0


def _flower(args: argparse.Namespace, extra: list[str]) -> int:
    from cj_worker.celery_app import app

    # Flower's own options are tornado options: only the --name=value form is understood.
    app.start(["flower", f"--port={args.port}", *extra])
    return 0


def _submit(args: argparse.Namespace, _: list[str]) -> int:
    from cj_worker import client

    essays = read_essays(Path(args.file))
    batch_id = client.submit_batch(
        essays,
        budget=args.budget,
        judge=_judge(args.judge),
        settings=_overrides(args.set),
        tenant=args.tenant,
        external_ref=args.external_ref,
        result_task=args.result_task,
        grade_scale=_grade_scale(args.grade_scale),
    )
    print(json.dumps({"batch_id": str(batch_id)}) if args.json else batch_id)
    return 0


def _grade_scale(value: str | None) -> str | dict[str, Any] | None:
    """A built-in scale's name, or a scale of one's own as a JSON object."""
    if value is None or not value.lstrip().startswith("{"):
        return value
    try:
        definition = json.loads(value)
    except json.JSONDecodeError as error:
        raise UsageError(f"--grade-scale is not valid JSON: {error}") from None
    if not isinstance(definition, dict):
        raise UsageError("--grade-scale takes a scale name or a JSON object")
    return definition


def _judge(value: str) -> SimulatedJudge | ExternalJudge:
    if value == "simulated":
        return SimulatedJudge()
    if value.startswith("external:") and len(value) > len("external:"):
        return ExternalJudge(task=value.removeprefix("external:"))
    raise UsageError(f"--judge must be 'simulated' or 'external:TASK_NAME', got {value!r}")


def _overrides(pairs: Sequence[str] | None) -> dict[str, Any]:
    overrides: dict[str, Any] = {}
    for pair in pairs or ():
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--set takes KEY=VALUE, got {pair!r}")
        overrides[key.strip().lower()] = None if value.strip().lower() in ("", "none") else value
    return overrides


def _status(args: argparse.Namespace, _: list[str]) -> int:
    from cj_worker import client

    status = client.get_status(_batch_id(args.batch))
    if args.json:
        print(json.dumps(status.as_dict(), indent=2))
        return 0
    meta = status.processing_metadata
    rate = status.success_rate
    print(f"batch {status.batch_id}")
    print(
        f"  state            {status.state}"
        + (f" ({status.final_reason})" if status.final_reason else "")
    )
    print(f"  essays           {status.essays}")
    print(f"  waves            {status.current_wave}")
    print(
        f"  comparisons      {status.submitted} of budget {status.total_budget}: "
        f"{status.succeeded} succeeded, {status.failed} failed, {status.pending} pending"
        + (f" (success rate {rate:.2f})" if rate is not None else "")
    )
    for key in (
        "max_possible_pairs",
        "successful_pairs_count",
        "unique_coverage_complete",
        "resampling_pass_count",
    ):
        print(f"  {key:<24} {meta.get(key, '-')}")
    for decision in status.decisions:
        print(f"  after wave {decision.wave:>3}: {decision.action} ({decision.reason})")
    return 0


def _export(args: argparse.Namespace, _: list[str]) -> int:
    from cj_worker import client

    results = client.get_results(_batch_id(args.batch))
    if not results.essays and (args.plot or not (args.json or args.csv)):
        raise UsageError(f"batch {args.batch} has no results yet (state {results.status.state})")
    if args.plot:
        from cj_worker.result_plot import PlottingUnavailableError, plot_results

        try:
            plot_results(results, args.plot)
        except PlottingUnavailableError as error:
            raise UsageError(str(error)) from None
    if args.json:
        print(json.dumps(results.as_dict(), indent=2))
    elif args.csv:
        sys.stdout.write(_results_csv(results))
    else:
        print(_table(results.essays))
    return 0


def _results_csv(results: BatchResults) -> str:
    """One row per essay; a ``p_<grade>`` column per grade when grades were projected."""
    grades = [str(g) for g in results.grade_scale["grades"]]
    projected = any(row.grade_probabilities is not None for row in results.essays)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    header = [
        "rank",
        "id",
        "score",
        "se",
        "ci95_low",
        "ci95_high",
        "comparisons",
        "wins",
        "is_anchor",
        "grade",
        "confidence",
        "projected_grade",
        "infit",
        "outfit",
        "misfit",
    ]
    writer.writerow(header + ([f"p_{grade}" for grade in grades] if projected else []))
    for row in results.essays:
        low, high = row.interval_95
        line = [
            row.rank,
            row.essay_id,
            f"{row.score:.6f}",
            f"{row.standard_error:.6f}",
            f"{low:.6f}",
            f"{high:.6f}",
            row.comparisons,
            row.wins,
            row.is_anchor,
            row.grade or "",
            _fixed(row.confidence),
            row.projected_grade or "",
            _fixed(row.infit),
            _fixed(row.outfit),
            row.misfit,
        ]
        if projected:
            probabilities = row.grade_probabilities or {}
            line += [_fixed(probabilities.get(grade)) for grade in grades]
        writer.writerow(line)
    return buffer.getvalue()


def _fixed(value: float | None) -> str:
    return "" if value is None else f"{value:.6f}"


def _harness(args: argparse.Namespace, _: list[str]) -> int:
    from tqdm import tqdm

    from cj_worker.config import PairingPolicy
    from cj_worker.harness import JUDGE_PROFILES, run_sweep, write_csv
    from cj_worker.harness.plot import PlottingUnavailableError, plot_curves
    from cj_worker.harness.report import format_table, summarise

    essays = _numbers(args.essays, int, "--essays", minimum=2)
    budgets = _numbers(args.k, float, "--k", minimum=0.5)
    policies = [
        _choice(p, [str(x) for x in PairingPolicy], "--policies") for p in args.policies.split(",")
    ]
    judges = [_choice(j, list(JUDGE_PROFILES), "--judges") for j in args.judges.split(",")]
    if args.seeds < 1:
        raise UsageError("--seeds must be at least 1")
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    runs = len(essays) * len(policies) * len(judges) * len(seeds)
    with tqdm(total=runs, unit="run", desc="harness", file=sys.stderr, disable=args.quiet) as bar:

        def progress(done: int, _total: int) -> None:
            bar.update(done - bar.n)

        rows = run_sweep(
            essays,
            budgets,
            seeds,
            policies,
            judges,
            true_sd=args.true_sd,
            split_half_at=budgets if args.split_half else (),
            processes=args.processes,
            progress=progress,
        )
    if args.plot:
        try:
            print(f"plot: {plot_curves(rows, args.plot)}", file=sys.stderr)
        except PlottingUnavailableError as error:
            raise UsageError(str(error)) from None
    if args.json:
        records = [{k: _finite(v) for k, v in row.as_dict().items()} for row in rows]
        print(json.dumps(records, indent=2, allow_nan=False))
    elif args.csv:
        write_csv(rows, args.csv)
        print(f"csv: {args.csv}", file=sys.stderr)
    else:
        print(format_table(summarise(rows)))
    return 0


def _numbers(text: str, kind: type[int] | type[float], option: str, *, minimum: float) -> list[Any]:
    try:
        values = [kind(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise UsageError(f"{option} takes comma-separated numbers, got {text!r}") from None
    if not values or min(values) < minimum:
        raise UsageError(f"{option} needs numbers of at least {minimum:g}, got {text!r}")
    return values


def _choice(value: str, choices: list[str], option: str) -> str:
    if value not in choices:
        raise UsageError(f"{option}: {value!r} is not one of {', '.join(choices)}")
    return value


def _finite(value: str | int | float) -> str | int | float | None:
    """JSON has no NaN: a metric that was not measured is null."""
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _batch_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise UsageError(f"BATCH must be a batch id (a UUID), got {value!r}") from None


def _redacted(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


# ----------------------------------------------------------------------------- parser


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cj-worker", description="Comparative Judgement on Celery."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser("demo", help="run a whole batch here on SQLite (no servers)")
    demo.add_argument("--file", help="CSV/JSONL essays with true_score (default: a generated net)")
    demo.add_argument("--essays", type=int, default=40, help="size of the generated net (40)")
    demo.add_argument(
        "--budget", type=int, default=None, help="comparison budget (setting default)"
    )
    demo.add_argument("--seed", type=int, default=7, help="seed of the net, pairing and judge (7)")
    demo.add_argument("--discrimination", type=float, default=1.0, help="judge sharpness (1.0)")
    demo.add_argument("--position-bias", type=float, default=0.0, help="logit for slot A (0)")
    demo.add_argument("--error-rate", type=float, default=0.0, help="share of failed comparisons")
    demo.add_argument("--db", help="SQLite file to keep (default: a temporary one)")
    demo.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a setting")
    demo.add_argument("--grade-scale", help=GRADE_SCALE_HELP)
    demo.add_argument("--json", action="store_true", help="print the results as JSON")
    demo.set_defaults(handler=_demo)

    commands.add_parser("migrate", help="alembic upgrade head on CJ_DATABASE_URL").set_defaults(
        handler=_migrate
    )

    worker = commands.add_parser("worker", help="a Celery worker (extra options go to celery)")
    worker.add_argument("--queues", "-Q", help="comma-separated queues (all cj.* queues)")
    worker.add_argument("--loglevel", "-l", default="INFO")
    worker.set_defaults(handler=_worker)

    beat = commands.add_parser("beat", help="the Celery beat scheduler (sweep, outbox relay)")
    beat.add_argument("--loglevel", "-l", default="INFO")
    beat.set_defaults(handler=_beat)

    flower = commands.add_parser(
        "flower", help="Flower, the web monitor (extra --name=value options go to Flower)"
    )
    flower.add_argument("--port", type=int, default=5555, help="HTTP port (5555)")
    flower.set_defaults(handler=_flower)

    submit = commands.add_parser("submit", help="send a batch from a CSV/JSONL file")
    submit.add_argument("file", metavar="FILE")
    submit.add_argument("--budget", type=int)
    submit.add_argument("--tenant")
    submit.add_argument("--external-ref")
    submit.add_argument("--result-task", help="Celery task that receives the result event")
    submit.add_argument("--judge", default="simulated", help="simulated | external:TASK_NAME")
    submit.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a setting")
    submit.add_argument("--grade-scale", help=GRADE_SCALE_HELP)
    submit.add_argument("--json", action="store_true")
    submit.set_defaults(handler=_submit)

    status = commands.add_parser("status", help="state, stop reason, counters, coverage, waves")
    status.add_argument("batch", metavar="BATCH")
    status.add_argument("--json", action="store_true")
    status.set_defaults(handler=_status)

    harness = commands.add_parser(
        "harness", help="synthetic nets through the production core, scored against the truth"
    )
    harness.add_argument("--essays", default="30,100", help="net sizes, comma-separated (30,100)")
    harness.add_argument(
        "--k", default="4,8,12,20", help="budgets as comparisons per essay (4,8,12,20)"
    )
    harness.add_argument("--seeds", type=int, default=5, help="seeds per net size (5)")
    harness.add_argument("--first-seed", type=int, default=0)
    harness.add_argument(
        "--policies", default="information,random,proximity", help="pairing policies to compare"
    )
    harness.add_argument("--judges", default="exact", help="judge pools: exact,noisy,posbias")
    harness.add_argument("--true-sd", type=float, default=1.5, help="SD of true abilities (1.5)")
    harness.add_argument("--split-half", action="store_true", help="also measure split-half")
    harness.add_argument("--processes", type=int, default=1, help="worker processes (1)")
    harness.add_argument("--plot", metavar="FILE.png", help="accuracy and reliability vs K")
    harness.add_argument("--quiet", action="store_true", help="no progress bar")
    harness_form = harness.add_mutually_exclusive_group()
    harness_form.add_argument("--json", action="store_true", help="per-seed rows as JSON")
    harness_form.add_argument("--csv", metavar="FILE", help="write per-seed rows as CSV")
    harness.set_defaults(handler=_harness)

    export = commands.add_parser("export", help="per-essay results")
    export.add_argument("batch", metavar="BATCH")
    form = export.add_mutually_exclusive_group()
    form.add_argument("--json", action="store_true")
    form.add_argument("--csv", action="store_true")
    export.add_argument(
        "--plot",
        metavar="FILE.png",
        help="also draw scores with 95 %% intervals, anchors and grade boundaries (needs the"
        " plot extra)",
    )
    export.set_defaults(handler=_export)
    return parser


if __name__ == "__main__":
    sys.exit(main())
