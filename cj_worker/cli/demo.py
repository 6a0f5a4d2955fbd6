"""``cj-worker demo``: a whole batch in this process on SQLite, simulated or LLM judge.

The demo runs on a database of its own (``--db`` or a temporary file) by handing the
embedded runner settings that name it: the process environment and the cached
environment settings are left as they were, so a caller in the same process (a test, a
notebook) still sees its own ``CJ_DATABASE_URL`` afterwards.

A temporary database is removed when the demo ends, also on an error or Ctrl-C; a
``--db`` file is kept (without a write-ahead log beside it) so ``export --db`` can read
it. The batch id is derived from the request (the essays, the seed and every option: see
:func:`cj_worker.embedded.content_batch_id`), so the same command prints the same output,
byte for byte, and a re-run with ``--db`` gives the batch the demo just showed.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from cj_worker.cli import budgets, parsing, rendering
from cj_worker.cli.parsing import UsageError
from cj_worker.config import Settings, get_settings
from cj_worker.essay_files import read_essays
from cj_worker.payloads import BatchRequest, EssayIn, SimulatedJudge

if TYPE_CHECKING:
    from cj_worker.client import BatchResults

FINISHED = frozenset({"completed", "failed", "cancelled"})
"""Batch states that never change again."""
VOLATILE_KEYS = frozenset({"duration_seconds"})
"""Result keys that differ between two identical runs (wall-clock time): left out of the
demo's JSON so that the same command prints the same bytes (``export --json`` has them)."""


def run_demo(args: argparse.Namespace, _: list[str]) -> int:
    essays = read_essays(Path(args.file)) if args.file else sample_essays(args.essays, args.seed)
    overrides = {"pair_seed": args.seed, **parsing.overrides(args.set)}
    plan = budgets.plan(args, len(essays), get_settings().algorithm().override(overrides))
    scale = parsing.grade_scale(args.grade_scale)
    request = BatchRequest(
        essays=essays,
        budget=budgets.chosen(args, plan),
        settings=overrides,
        **({} if scale is None else {"grade_scale": scale}),
        judge=parsing.llm_judge(args)
        if args.judge == "llm"
        else SimulatedJudge(
            discrimination=args.discrimination,
            position_bias=args.position_bias,
            error_rate=args.error_rate,
            seed=args.seed,
        ),
        assignment=parsing.text_file(args.assignment, "--assignment"),
        rubric=parsing.text_file(args.rubric, "--rubric"),
    )
    with demo_database(args.db) as database, in_process_llm_limits():
        results = _run(request, database, quiet=args.json)
    kept = None if args.db is None else str(database)
    if results.status.state not in FINISHED:
        # The same options give the same batch id: a kept file holds that batch's
        # interrupted run, which intake does not start again.
        raise UsageError(
            f"--db {kept}: holds an unfinished run of this same batch (interrupted?), state "
            f"{results.status.state}; remove the file or choose another"
        )
    if args.json:
        output = {k: v for k, v in results.as_dict().items() if k not in VOLATILE_KEYS}
        print(rendering.to_json({**output, "database": kept}))
        return 0
    truth = {essay.id: essay.true_score for essay in essays}
    print(rendering.results_report(results, truth=truth, spearman=_spearman(results, truth)))
    print()
    print(next_steps(str(results.status.batch_id), kept, has_results=bool(results.essays)))
    return 0


def _run(request: BatchRequest, database: Path, *, quiet: bool) -> BatchResults:
    """Run ``request`` on ``database`` with a progress bar on stderr; its results."""
    from tqdm import tqdm

    from cj_worker import client, embedded
    from cj_worker.db.engine import get_engine

    settings = demo_settings(database)
    try:
        with tqdm(
            total=request.budget, unit="cmp", desc="judging", file=sys.stderr, disable=quiet
        ) as bar:

            def progress(done: int, budget: int) -> None:
                bar.total = budget
                bar.update(done - bar.n)

            batch_id = embedded.run_batch(request, progress, settings=settings)
        return client.get_results(batch_id, database_url=settings.database_url)
    finally:
        # The database is the demo's own: close its connections (and SQLite file handles)
        # rather than leave them to whoever runs in this process next; closing the last
        # one checkpoints the write-ahead log into the file and removes it.
        get_engine(settings.database_url).dispose()


@contextmanager
def in_process_llm_limits() -> Iterator[None]:
    """An LLM judge's rate and concurrency limits kept in this process, not in Redis.

    The demo is the only client of its endpoint here, and must need no server; the limiter
    is handed to the task directly, so neither ``os.environ`` nor the settings change.
    """
    from cj_worker.judges.llm.limits import LocalLimiter
    from cj_worker.tasks import llm_judge

    llm_judge.use_limiter(LocalLimiter())
    try:
        yield
    finally:
        llm_judge.use_limiter(None)


@contextmanager
def demo_database(db: str | None) -> Iterator[Path]:
    """``--db`` as given, or a temporary file whose folder is removed however the demo ends."""
    if db is not None:
        yield Path(db)
        return
    folder = Path(tempfile.mkdtemp(prefix="cj-demo-"))
    try:
        yield folder / "demo.sqlite3"
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def next_steps(batch_id: str, kept: str | None, *, has_results: bool = True) -> str:
    """The one command that reports this batch (or, for a failed one, shows its status)."""
    database = shlex.quote(kept or "demo.sqlite3")
    if has_results:
        command = f"cj-worker export {batch_id} --db {database} --report report.html"
        others = "  (or --csv, --json, --plot FILE.png)"
    else:
        command = f"cj-worker status {batch_id} --db {database}"
        others = "  (the batch has no results to export)"
    if kept is not None:
        return f"Next: {command}\n{others}"
    return (
        "Next: this demo's database was temporary. Run the same command again with\n"
        "  --db demo.sqlite3 (same options, same batch), then\n"
        f"  {command}\n{others}"
    )


def demo_settings(database: Path) -> Settings:
    """The configured settings, on the SQLite file ``database``."""
    return get_settings().model_copy(update={"database_url": f"sqlite:///{database}"})


def sample_essays(count: int, seed: int) -> list[EssayIn]:
    """A generated net: ``count`` essays with true scores drawn from N(0, 1.5)."""
    import numpy as np

    if count < 1:
        raise UsageError("--essays must be at least 1")
    truth = np.random.default_rng(seed).normal(0.0, 1.5, size=count)
    return [
        EssayIn(id=f"essay-{i + 1:03d}", text=f"Sample essay {i + 1}", true_score=float(score))
        for i, score in enumerate(truth)
    ]


def _spearman(results: BatchResults, truth: dict[str, float | None]) -> float | None:
    """Rank correlation of the scores with the truth; None where it is undefined."""
    import numpy as np

    scores = np.array([row.score for row in results.essays])
    known = np.array([truth.get(row.essay_id) or 0.0 for row in results.essays])
    if len(scores) <= 2 or not np.std(known) > 0:
        return None
    from scipy.stats import spearmanr

    return float(spearmanr(scores, known)[0])
