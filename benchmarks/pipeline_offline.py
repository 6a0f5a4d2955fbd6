"""The pipeline benchmark's one-process measurements, each run in a fresh process.

Run by ``benchmarks/pipeline.py`` (settings from the ``CJ_*`` environment) while no worker
consumes the benchmark's Redis database, so every message sent here stays where it was sent.
Each command prints one line ``RESULT {json}`` last.

``prepare --essays N``
    Stores a batch of N essays with an external judge whose queue nobody consumes, by
    running the ``cj.create_batch`` task in this process. Budget: two full coverage waves.
``measure --batch-id ID``
    In a process that did nothing else (so ``ru_maxrss`` is what a worker process needs):
    the wave-0 continuation (plan, insert and dispatch the coverage wave), every row
    answered by SQL (winners drawn from the essays' true scores, so the fit sees real
    structure), the wave-1 continuation (fit, decide, insert and dispatch wave 2: the
    figure the ``continuation <= 3 s`` target is about), the same until the budget is
    spent, then ``cj.finalize_scoring`` run in this process. Dispatch goes through the
    package's own transport into Redis, so its cost is the real one.
``redis-bytes --essays N``
    For the built-in judges (simulated, LLM) and an external judge: one coverage wave
    dispatched into queues nobody consumes; Redis bytes per pending request (``MEMORY
    USAGE ... SAMPLES 0`` of every queue over the wave's comparisons, however many of them
    share a message) and whether the essay marker
    appears in the message headers (``argsrepr``/``kwargsrepr``: what task events, and so
    Flower, show) or in the bodies.
"""

from __future__ import annotations

import argparse
import base64
import json
import resource
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from pipeline_support import (
    JUDGE_TASK,
    MARKER,
    PARKED_QUEUE,
    delete_lists,
    essays,
    list_keys,
    redis_client,
)
from sqlalchemy.orm import Session

from cj_worker import task_names
from cj_worker.celery_app import app
from cj_worker.client import batch_request
from cj_worker.config import get_settings
from cj_worker.db.engine import get_engine
from cj_worker.payloads import ExternalJudge, LlmJudge, SimulatedJudge
from cj_worker.tasks import unit_of_work
from cj_worker.tasks.continuation import run_continuation

NEVER_STABLE = {"score_stability_threshold": 0.0}
"""Batches end on their budget, never early: the work measured is the same every run."""
MAX_WAVES = 6


def _task(name: str) -> Any:
    """A task of the cj app by its stable name, to run in this process."""
    app.loader.import_default_modules()
    return app.tasks[name]


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _timed(run: Callable[[], object]) -> tuple[float, object]:
    started = time.perf_counter()
    value = run()
    return time.perf_counter() - started, value


def _create(
    essay_count: int, chars: int, judge: SimulatedJudge | ExternalJudge | LlmJudge
) -> uuid.UUID:
    request = batch_request(
        essays(essay_count, chars, with_scores=True),
        budget=2 * (essay_count // 2),
        judge=judge,
        settings=NEVER_STABLE,
    )
    _task(task_names.CREATE_BATCH)(request=request.model_dump(mode="json"))
    return request.batch_id


def prepare(essay_count: int, chars: int) -> dict[str, Any]:
    seconds, batch_id = _timed(
        lambda: _create(essay_count, chars, ExternalJudge(task=JUDGE_TASK, queue=PARKED_QUEUE))
    )
    return {"batch_id": str(batch_id), "intake_s": seconds}


def _continue(batch_id: uuid.UUID, wave: int) -> tuple[float, float, str]:
    """The continuation after ``wave``: (seconds in all, seconds of its body, outcome).

    In all: the transaction (load, fit, decide, insert) with its commit, then the dispatch
    of the next wave's requests; the body is the part before the commit.
    """
    body_seconds = 0.0

    def body(session: Session) -> Any:
        nonlocal body_seconds
        started = time.perf_counter()
        effects = run_continuation(session, batch_id, wave)
        body_seconds = time.perf_counter() - started
        return effects

    seconds, effects = _timed(lambda: unit_of_work.run(body))
    return seconds, body_seconds, str(getattr(effects, "outcome", ""))


_ANSWER = sa.text(
    """
    UPDATE comparisons AS c
    SET status = 'succeeded', judge_id = 'bench:sql', completed_at = now(),
        winner = CASE
            WHEN ('x' || substr(md5(c.id::text), 1, 8))::bit(32)::bigint / 4294967296.0
                 < 1 / (1 + exp(eb.true_score - ea.true_score)) THEN 'A' ELSE 'B' END
    FROM essays AS ea, essays AS eb
    WHERE c.batch_id = :batch AND c.wave = :wave AND c.status = 'pending'
      AND ea.batch_id = c.batch_id AND ea.position = c.essay_a
      AND eb.batch_id = c.batch_id AND eb.position = c.essay_b
    """
)


def _answer(batch_id: uuid.UUID, wave: int) -> int:
    """Every pending row of the wave answered, and the batch counters moved as callbacks would."""
    with get_engine(get_settings().database_url).begin() as connection:
        answered = int(connection.execute(_ANSWER, {"batch": batch_id, "wave": wave}).rowcount)
        connection.execute(
            sa.text(
                "UPDATE batches SET comparisons_succeeded = comparisons_succeeded + :n"
                " WHERE id = :batch"
            ),
            {"n": answered, "batch": batch_id},
        )
    return answered


def _batch_row(batch_id: uuid.UUID) -> tuple[str, int]:
    with get_engine(get_settings().database_url).connect() as connection:
        state, wave = connection.execute(
            sa.text("SELECT state, current_wave FROM batches WHERE id = :batch"),
            {"batch": batch_id},
        ).one()
    return str(state), int(wave)


def _rows(batch_id: uuid.UUID, wave: int) -> int:
    with get_engine(get_settings().database_url).connect() as connection:
        count = connection.execute(
            sa.text("SELECT count(*) FROM comparisons WHERE batch_id = :batch AND wave = :wave"),
            {"batch": batch_id, "wave": wave},
        ).scalar_one()
    return int(count)


def measure(batch_id: uuid.UUID) -> dict[str, Any]:
    result: dict[str, Any] = {"rss_start_mb": _peak_rss_mb()}
    result["wave0_s"], result["wave0_body_s"], result["wave0_outcome"] = _continue(batch_id, 0)
    result["wave1_rows"] = _answer(batch_id, 1)
    figures = _continue(batch_id, 1)
    result["continuation_s"], result["continuation_body_s"], result["continuation_outcome"] = (
        figures
    )
    state, wave = _batch_row(batch_id)
    if wave != 2:
        raise RuntimeError(f"the wave-1 continuation did not dispatch wave 2 (state {state})")
    result["rss_after_continuation_mb"] = _peak_rss_mb()
    decide: list[float] = []
    while state != "scoring":
        if wave >= MAX_WAVES:
            raise RuntimeError(f"batch still {state} after wave {wave}: the budget is not spent")
        _answer(batch_id, wave)
        seconds, _, _ = _continue(batch_id, wave)
        decide.append(seconds)
        state, wave = _batch_row(batch_id)
    result["last_decision_s"] = decide[-1]
    result["waves"] = wave
    result["finalize_s"], outcome = _timed(
        lambda: _task(task_names.FINALIZE_SCORING)(str(batch_id))
    )
    result["finalize_outcome"] = str(outcome)
    state, _ = _batch_row(batch_id)
    if state != "completed":
        raise RuntimeError(f"finalization left the batch {state}")
    result["rss_peak_mb"] = _peak_rss_mb()
    return result


def _inspect(raw: bytes | str) -> tuple[bool, bool]:
    """Whether the marker is in the message's headers, and in its body."""
    envelope = json.loads(raw)
    headers = json.dumps(envelope.get("headers") or {})
    body = envelope.get("body") or ""
    if (envelope.get("properties") or {}).get("body_encoding") == "base64":
        body = base64.b64decode(body).decode("utf-8", errors="replace")
    return MARKER in headers, MARKER in str(body)


def redis_bytes(essay_count: int, chars: int) -> dict[str, Any]:
    client = redis_client(get_settings().broker_url)
    judges: dict[str, SimulatedJudge | ExternalJudge | LlmJudge] = {
        "simulated": SimulatedJudge(seed=7),
        # Never called: no worker runs while its tickets wait in the queue.
        "llm": LlmJudge(base_url="http://127.0.0.1:9/v1", model="bench-model"),
        "external": ExternalJudge(task=JUDGE_TASK, queue=PARKED_QUEUE),
    }
    results: dict[str, Any] = {}
    for kind, judge in judges.items():
        batch_id = _create(essay_count, chars, judge)
        delete_lists(client)  # the wave-0 trigger intake sent
        _continue(batch_id, 0)
        queues = list_keys(client)
        messages = sum(queues.values())
        requests = _rows(batch_id, 1)
        size = sum(int(client.memory_usage(name, samples=0) or 0) for name in queues)
        in_headers = in_body = 0
        for name in queues:
            for raw in client.lrange(name, 0, -1):
                header_hit, body_hit = _inspect(raw)
                in_headers += header_hit
                in_body += body_hit
        delete_lists(client)
        results[kind] = {
            "queues": sorted(queues),
            "requests": requests,
            "messages": messages,
            "bytes": size,
            "bytes_per_request": size / requests if requests else None,
            "marker_in_headers": in_headers,
            "marker_in_body": in_body,
        }
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("command", choices=("prepare", "measure", "redis-bytes"))
    parser.add_argument("--essays", type=int, default=1_000)
    parser.add_argument("--essay-chars", type=int, default=2_000)
    parser.add_argument("--batch-id", type=uuid.UUID)
    arguments = parser.parse_args(argv)
    if arguments.command == "prepare":
        result = prepare(arguments.essays, arguments.essay_chars)
    elif arguments.command == "measure":
        result = measure(arguments.batch_id)
    else:
        result = redis_bytes(arguments.essays, arguments.essay_chars)
    print("RESULT " + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
