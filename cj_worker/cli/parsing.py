"""The command line's grammar: the argparse parser and the converters of option values.

The parser knows command and option names only, never what a command does (the package's
``__init__`` maps each command to its handler), so the handlers can import the converters
below without an import cycle. A value argparse cannot judge (a UUID, ``KEY=VALUE``, a
grade scale as JSON) is checked by a converter that raises :class:`UsageError`, which the
CLI prints as one line and exits 2 for.
"""

from __future__ import annotations

import argparse
import json
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from cj_worker.errors import EXIT_USER_ERROR, CJWorkerError
from cj_worker.llm_spec import LlmJudge
from cj_worker.payloads import ExternalJudge, SimulatedJudge

GRADE_SCALE_HELP = (
    "grade scale of the anchors: a built-in name (swedish_8_anchor, the default;"
    ' eng5_np_legacy_9_step; eng5_np_national_9_step) or JSON {"grades": [...], "priors": [...]}'
)
TENANT_HELP = "read the batch only if it was submitted under this tenant"
LLM_OPTIONS = {
    "base_url": "--base-url",
    "model": "--model",
    "api_key_env": "--api-key-env",
    "temperature": "--temperature",
    "max_tokens": "--max-tokens",
    "concurrency": "--concurrency",
    "requests_per_minute": "--rpm",
}
"""The LLM judge's spec fields the command line sets, and the option of each."""
PASS_THROUGH_COMMANDS = frozenset({"worker", "beat", "flower"})
"""Commands that hand options they do not know to the program they start (Celery, Flower)."""


class UsageError(CJWorkerError, ValueError, exit_code=EXIT_USER_ERROR):
    """A command-line value is wrong; the message says which."""


def parse_arguments(
    argv: Sequence[str] | None,
) -> tuple[argparse.ArgumentParser, argparse.Namespace, list[str]]:
    """The parsed command line and the options left over for Celery or Flower.

    Left-over options are an error (argparse's own message, exit 2) for every command but
    those that pass them through.
    """
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command not in PASS_THROUGH_COMMANDS:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    return parser, args, extra


# ------------------------------------------------------------------- value converters


def batch_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise UsageError(f"BATCH must be a batch id (a UUID), got {value!r}") from None


def grade_scale(value: str | None) -> str | dict[str, Any] | None:
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


def judge(value: str) -> SimulatedJudge | ExternalJudge:
    if value == "simulated":
        return SimulatedJudge()
    if value.startswith("external:") and len(value) > len("external:"):
        return ExternalJudge(task=value.removeprefix("external:"))
    raise UsageError(f"--judge must be 'simulated' or 'external:TASK_NAME', got {value!r}")


def chosen_judge(args: argparse.Namespace) -> SimulatedJudge | ExternalJudge | LlmJudge:
    """``--judge`` with, for ``llm``, the LLM options; those options alone are an error."""
    if args.judge == "llm":
        return llm_judge(args)
    given = [option for field, option in LLM_OPTIONS.items() if getattr(args, field) is not None]
    if given:
        raise UsageError(f"{', '.join(given)}: only with --judge llm")
    return judge(args.judge)


def llm_judge(args: argparse.Namespace) -> LlmJudge:
    """The LLM judge the options describe; a bad value is reported by its option's name."""
    if args.base_url is None or args.model is None:
        raise UsageError("--judge llm needs --base-url URL and --model MODEL")
    fields = {
        field: getattr(args, field) for field in LLM_OPTIONS if getattr(args, field) is not None
    }
    try:
        return LlmJudge.model_validate(fields)
    except ValidationError as error:
        first = error.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else ""
        raise UsageError(f"{LLM_OPTIONS.get(field, '--judge llm')}: {first['msg']}") from None


def text_file(path: str | None, option: str) -> str | None:
    """The text of ``path`` (``--assignment FILE``, ``--rubric FILE``); None without one."""
    if path is None:
        return None
    try:
        return Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(f"{option} {path}: cannot read it ({error})") from None


def overrides(pairs: Sequence[str] | None) -> dict[str, Any]:
    """``--set KEY=VALUE`` options as settings overrides; ``none`` or nothing means None.

    Values stay strings: the batch's settings model validates and converts them, so a bad
    key or value is reported by the same check a producer's request meets.
    """
    result: dict[str, Any] = {}
    for pair in pairs or ():
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--set takes KEY=VALUE, got {pair!r}")
        result[key.strip().lower()] = None if value.strip().lower() in ("", "none") else value
    return result


def numbers(text: str, kind: type[int] | type[float], option: str, *, minimum: float) -> list[Any]:
    """A comma-separated list of numbers, each at least ``minimum``."""
    try:
        values = [kind(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise UsageError(f"{option} takes comma-separated numbers, got {text!r}") from None
    if not values or min(values) < minimum:
        raise UsageError(f"{option} needs numbers of at least {minimum:g}, got {text!r}")
    return values


def choice(value: str, choices: Sequence[str], option: str) -> str:
    if value not in choices:
        raise UsageError(f"{option}: {value!r} is not one of {', '.join(choices)}")
    return value


# ----------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cj-worker", description="Comparative Judgement on Celery."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _demo(commands)
    commands.add_parser("migrate", help="alembic upgrade head on CJ_DATABASE_URL")
    _servers(commands)
    _submit_and_status(commands)
    _harness(commands)
    _export(commands)
    _score(commands)
    return parser


def _demo(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo = commands.add_parser("demo", help="run a whole batch here on SQLite (no servers)")
    demo.add_argument("--file", help="CSV/JSONL essays with true_score (default: a generated net)")
    demo.add_argument("--essays", type=int, default=40, help="size of the generated net (40)")
    _budget_options(demo)
    demo.add_argument("--seed", type=int, default=7, help="seed of the net, pairing and judge (7)")
    demo.add_argument("--discrimination", type=float, default=1.0, help="judge sharpness (1.0)")
    demo.add_argument("--position-bias", type=float, default=0.0, help="logit for slot A (0)")
    demo.add_argument("--error-rate", type=float, default=0.0, help="share of failed comparisons")
    demo.add_argument(
        "--db",
        metavar="FILE",
        help="SQLite file to keep the batch in, for export (default: a temporary one, removed"
        " at exit)",
    )
    demo.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a setting")
    demo.add_argument("--grade-scale", help=GRADE_SCALE_HELP)
    demo.add_argument("--json", action="store_true", help="print the results as JSON")
    demo.add_argument(
        "--judge",
        default="simulated",
        choices=("simulated", "llm"),
        help="simulated (default), or llm: an OpenAI-compatible endpoint (see LLM judge)",
    )
    _llm_options(demo)


def _servers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    worker = commands.add_parser("worker", help="a Celery worker (extra options go to celery)")
    worker.add_argument("--queues", "-Q", help="comma-separated queues (all cj.* queues)")
    worker.add_argument("--loglevel", "-l", default="INFO")

    beat = commands.add_parser("beat", help="the Celery beat scheduler (sweep, outbox relay)")
    beat.add_argument("--loglevel", "-l", default="INFO")

    flower = commands.add_parser(
        "flower", help="Flower, the web monitor (extra --name=value options go to Flower)"
    )
    flower.add_argument("--port", type=int, default=5555, help="HTTP port (5555)")


def _submit_and_status(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    submit = commands.add_parser("submit", help="send a batch from a CSV/JSONL file")
    submit.add_argument("file", metavar="FILE")
    _budget_options(submit)
    submit.add_argument("--tenant")
    submit.add_argument("--external-ref")
    submit.add_argument("--result-task", help="Celery task that receives the result event")
    submit.add_argument("--judge", default="simulated", help="simulated | external:TASK_NAME | llm")
    submit.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a setting")
    submit.add_argument("--grade-scale", help=GRADE_SCALE_HELP)
    submit.add_argument("--json", action="store_true")
    submit.add_argument(
        "--dry-run",
        action="store_true",
        help="with --judge llm: print the estimated tokens and cost; send nothing",
    )
    _llm_options(submit)

    status = commands.add_parser("status", help="state, stop reason, counters, coverage, waves")
    status.add_argument("batch", metavar="BATCH")
    _db_option(status)
    status.add_argument("--tenant", help=TENANT_HELP)
    status.add_argument("--json", action="store_true")


def _harness(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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


def _export(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    export = commands.add_parser("export", help="per-essay results, a plot, a report")
    export.add_argument("batch", metavar="BATCH")
    _db_option(export)
    export.add_argument("--tenant", help=TENANT_HELP)
    form = export.add_mutually_exclusive_group()
    form.add_argument("--json", action="store_true")
    form.add_argument("--csv", action="store_true")
    export.add_argument(
        "--plot",
        metavar="FILE.png",
        help="also draw scores with 95 %% intervals, anchors and grade boundaries (needs the"
        " plot extra)",
    )
    export.add_argument(
        "--report",
        metavar="FILE.html",
        help="also write a self-contained HTML report for teachers (the plot needs the plot extra)",
    )


def _score(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    score = commands.add_parser(
        "score", help="score decisions made elsewhere (CSV/JSONL of winner, loser, judge)"
    )
    score.add_argument("file", metavar="FILE", help="decisions: .csv, .tsv, .jsonl or .ndjson")
    score.add_argument("--anchors", metavar="FILE", help="CSV/JSONL of anchor id and grade")
    score.add_argument("--grade-scale", help=GRADE_SCALE_HELP)
    score.add_argument(
        "--ties", choices=("drop", "error"), default="drop", help="ties: left out (drop) or refused"
    )
    score.add_argument("--seed", type=int, default=0, help="seed of the random splits (0)")
    score.add_argument(
        "--splits", type=int, default=100, help="random judge splits of the split-half (100)"
    )
    form = score.add_mutually_exclusive_group()
    form.add_argument("--json", action="store_true")
    form.add_argument("--csv", action="store_true")
    score.add_argument("--plot", metavar="FILE.png", help="also draw the scores (plot extra)")
    score.add_argument("--report", metavar="FILE.html", help="also write the HTML report")


def _llm_options(command: argparse.ArgumentParser) -> None:
    """The LLM judge's spec (``--judge llm``) and the prompt's context."""
    group = command.add_argument_group("LLM judge (--judge llm)")
    group.add_argument(
        "--base-url",
        metavar="URL",
        help="OpenAI-compatible endpoint root, e.g. https://api.openai.com/v1 or"
        " http://127.0.0.1:11434/v1 (Ollama)",
    )
    group.add_argument("--model", metavar="MODEL", help="model name the endpoint knows")
    group.add_argument(
        "--api-key-env",
        metavar="NAME",
        help="name of the workers' environment variable holding the key (never the key)",
    )
    group.add_argument("--temperature", type=float, metavar="T", help="sampling temperature (0)")
    group.add_argument("--max-tokens", type=int, metavar="N", help="answer token limit (300)")
    group.add_argument(
        "--concurrency", type=int, metavar="N", help="requests in flight, all workers (4)"
    )
    group.add_argument(
        "--rpm",
        dest="requests_per_minute",
        type=float,
        metavar="N",
        help="requests started per minute, all workers (60)",
    )
    group.add_argument("--assignment", metavar="FILE", help="the task the essays answer")
    group.add_argument("--rubric", metavar="FILE", help="how to judge the essays")


def _budget_options(command: argparse.ArgumentParser) -> None:
    """The three ways to set a budget; at most one (the default is max_pairwise_comparisons)."""
    group = command.add_mutually_exclusive_group()
    group.add_argument(
        "--budget", type=int, metavar="N", help="most comparisons to spend (setting default)"
    )
    group.add_argument(
        "--comparisons-per-essay",
        type=float,
        metavar="K",
        help="budget = ceil(K * essays / 2): each essay judged about K times (10 or more for"
        " a useful ranking)",
    )
    group.add_argument(
        "--target-reliability",
        type=float,
        metavar="R",
        help="budget from the comparisons per essay that reach reliability R (0.5-0.95) in"
        " Verhavert et al. 2019 (random-like pairing)",
    )


def _db_option(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--db",
        metavar="FILE",
        help="read the batch from this SQLite file (a demo's --db) instead of CJ_DATABASE_URL",
    )
