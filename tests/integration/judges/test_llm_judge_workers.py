"""The LLM judge in real ``cj-worker worker`` processes against a local chat-completions stub.

Two kinds of test. The first store comparisons, send their ``cj.llm_judge_comparison``
tickets straight to two judge workers (which read the texts from the database) and read
the results from the callback queue themselves, no callback worker running, so that what
the workers do is measured at the stub alone:
rate and concurrency limits across both processes, retries, failed answers. The last run
whole batches through intake, continuation, the judge and the callbacks, as a deployment
does. Every test then searches the worker logs, the messages, the database and Redis for
the API key.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
import sqlalchemy as sa
from celery import Celery
from kombu import Connection
from kombu.simple import SimpleQueue
from scipy.stats import spearmanr

from cj_worker import task_names
from cj_worker.db.engine import session_scope
from cj_worker.db.models import Essay
from cj_worker.db.states import ComparisonRowStatus
from cj_worker.llm_spec import LlmJudge
from cj_worker.payloads import BatchRequest, ComparisonResult, EssayIn, JudgeTicket
from cj_worker.tokens import token_for
from tests.builders.db import add_comparison, make_batch
from tests.integration.conftest import RESULT_TOKEN_SECRET
from tests.integration.judges.chat_stub import ChatStub, Faults
from tests.integration.judges.conftest import API_KEY_ENV, WRONG_KEY_ENV
from tests.integration.pipeline.conftest import Worker, wait_terminal

pytestmark = pytest.mark.integration

CALLBACK_QUEUE = task_names.ROUTES[task_names.RECORD_COMPARISON_RESULT]
"""No worker consumes the callbacks in the direct tests: the test reads them itself."""
JUDGE_ONLY = task_names.JUDGE_QUEUE
CONTROL = ",".join(q for q in task_names.QUEUES if q != task_names.JUDGE_QUEUE)


# --------------------------------------------------------------------------- helpers


@pytest.fixture
def callbacks(redis_url: str) -> Iterator[SimpleQueue]:
    """The fake callback consumer: results land here instead of in a cj callback."""
    with Connection(redis_url) as connection:
        queue = connection.SimpleQueue(CALLBACK_QUEUE)
        queue.clear()
        yield queue
        queue.close()


def spec(stub: ChatStub, model: str, **fields: Any) -> LlmJudge:
    values: dict[str, Any] = {
        "base_url": stub.base_url,
        "model": model,
        "api_key_env": API_KEY_ENV,
        "timeout_seconds": 10.0,
    }
    values.update(fields)
    return LlmJudge.model_validate(values)


def send_comparisons(
    producer: Celery, stub: ChatStub, judge: LlmJudge, n: int, database_url: str
) -> list[dict[str, Any]]:
    """Store a batch judged by ``judge`` with ``n`` pending comparisons; send their tickets.

    The judge reads the texts from the database (a ticket carries ids only), so the
    comparisons are real rows; their tickets carry the tokens the workers will check.
    """
    texts = list(stub.qualities)
    tickets = []
    with session_scope(database_url) as session:
        batch = make_batch(session, len(texts))
        batch.judge = judge.model_dump(mode="json")
        for essay in session.scalars(sa.select(Essay).where(Essay.batch_id == batch.id)):
            essay.text = texts[essay.position]
        rows = [
            add_comparison(
                session,
                batch,
                i % len(texts),
                (i + 7) % len(texts),
                wave=1 + i // len(texts),
                status=ComparisonRowStatus.PENDING,
            )
            for i in range(n)
        ]
        session.flush()
        for row in rows:
            tickets.append(
                JudgeTicket(
                    comparison_id=row.id,
                    batch_id=batch.id,
                    token=token_for(row.id, [RESULT_TOKEN_SECRET.encode()]),
                ).model_dump(mode="json")
            )
    for ticket in tickets:
        producer.send_task(
            task_names.LLM_JUDGE_COMPARISON,
            kwargs={"ticket": ticket},
            queue=task_names.JUDGE_QUEUE,
        )
    return tickets


def collect(
    queue: SimpleQueue, n: int, raw: list[str], timeout: float = 90.0
) -> list[ComparisonResult]:
    """``n`` results from the callback queue (their raw bodies are kept for the key grep)."""
    results: list[ComparisonResult] = []
    deadline = time.monotonic() + timeout
    while len(results) < n:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"only {len(results)} of {n} results arrived"
        message: Any = queue.get(block=True, timeout=remaining)
        body = message.body
        raw.append(body if isinstance(body, str) else bytes(body).decode())
        _args, kwargs, _embed = message.decode()
        results.append(ComparisonResult.model_validate(kwargs["result"]))
        message.ack()
    return results


def redis_dump(url: str) -> str:
    """Every key and value in the test's Redis database, as text."""
    client = redis.Redis.from_url(url)
    parts: list[str] = []
    for key in client.scan_iter(count=1000):
        kind_raw: Any = client.type(key)
        kind = kind_raw.decode() if isinstance(kind_raw, bytes) else str(kind_raw)
        value: Any
        if kind == "string":
            value = client.get(key)
        elif kind == "list":
            value = client.lrange(key, 0, -1)
        elif kind == "zset":
            value = client.zrange(key, 0, -1)
        elif kind == "set":
            value = client.smembers(key)
        elif kind == "hash":
            value = client.hgetall(key)
        else:
            value = kind
        parts.append(f"{key!r} {value!r}")
    return "\n".join(parts)


def database_dump(url: str) -> str:
    """Every row of every table, as text (the batches of this run included)."""
    with session_scope(url) as session:
        tables = session.scalars(
            sa.text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        ).all()
        return "\n".join(
            repr(row)
            for table in tables
            for row in session.execute(sa.text(f'SELECT * FROM "{table}"'))
        )


def assert_key_nowhere(key: str, workers: list[Worker], *texts: str) -> None:
    assert any("llm judgement" in worker.log() for worker in workers), "a worker judged"
    for worker in workers:
        log = worker.log()
        assert key not in log, f"the API key is in {worker.log_path.name}"
        assert key[:12] not in log
    for text in texts:
        assert key not in text
        assert key[:12] not in text


def starts(stub: ChatStub, model: str) -> list[float]:
    return sorted(record.arrived for record in stub.for_model(model))


# --------------------------------------------------------------------------- direct


def test_limits_hold_across_two_worker_processes_and_retries_are_counted(
    llm_worker: Callable[..., Worker],
    producer: Celery,
    chat_stub: ChatStub,
    callbacks: SimpleQueue,
    pg_url: str,
    redis_url: str,
    api_key: str,
) -> None:
    workers = [llm_worker(JUDGE_ONLY, concurrency=2), llm_worker(JUDGE_ONLY, concurrency=2)]
    run = uuid.uuid4().hex[:8]
    raw: list[str] = []

    def send(judge: LlmJudge, n: int) -> list[dict[str, Any]]:
        return send_comparisons(producer, chat_stub, judge, n, pg_url)

    # Rate: 120 a minute across four processes that could send far more.
    rated = spec(chat_stub, f"rate-{run}", requests_per_minute=120, concurrency=50)
    chat_stub.reset(Faults(latency_seconds=0.02))
    results = collect(callbacks, len(send(rated, 16)), raw)
    assert {r.status for r in results} == {"succeeded"}
    times = starts(chat_stub, rated.model or "")
    assert len(times) == 16
    interval = 0.5
    for i in range(len(times)):
        for j in range(i + 1, len(times)):
            # Starts are reserved 0.5 s apart on Redis's clock; 0.2 s covers the time
            # from a reservation to the request reaching the stub.
            assert times[j] - times[i] >= (j - i) * interval - 0.2, (i, j, times)
    rate_span = times[-1] - times[0]

    # Concurrency: two in flight at most, though four processes are busy.
    limited = spec(chat_stub, f"conc-{run}", requests_per_minute=None, concurrency=2)
    chat_stub.reset(Faults(latency_seconds=0.4))
    collect(callbacks, len(send(limited, 16)), raw)
    limited_peak = chat_stub.max_in_flight

    # Control: without the limits the same workers put more in flight at once.
    free = spec(chat_stub, f"free-{run}", requests_per_minute=None, concurrency=100)
    chat_stub.reset(Faults(latency_seconds=0.4))
    collect(callbacks, len(send(free, 16)), raw)
    free_peak = chat_stub.max_in_flight

    # Retries: 429s with Retry-After and 500s are retried; prose answers fail.
    retried = spec(chat_stub, f"retry-{run}", requests_per_minute=None, max_retries=4)
    chat_stub.reset(
        Faults(rate_limit_every=4, retry_after="1", server_error_every=5, malformed_every=7)
    )
    results = collect(callbacks, len(send(retried, 12)), raw)
    outcomes = chat_stub.outcomes()
    attempts = sum(r.usage.attempts for r in results if r.usage)
    failed = [r for r in results if r.status == "failed"]

    print(
        f"\nrate: 16 starts over {rate_span:.2f}s (limit 120/min: >= 7.5s); "
        f"concurrency peak {limited_peak} (limit 2), without limits {free_peak}; "
        f"retry run: {outcomes}, attempts reported {attempts}"
    )
    assert rate_span >= 15 * interval - 0.2
    assert limited_peak == 2
    assert free_peak > 2, "the control shows the workers could exceed the limit"
    assert outcomes["rate_limited"] > 0
    assert outcomes["server_error"] > 0
    assert attempts == sum(outcomes.values()), "every request the stub saw is counted once"
    assert len(failed) == outcomes["malformed"] > 0
    assert {r.error_code for r in failed} == {"judge_output_unparseable"}
    assert all(r.usage and r.usage.prompt_tokens for r in results)

    assert_key_nowhere(api_key, workers, *raw, redis_dump(redis_url))
    assert all(api_key not in record.body for record in chat_stub.records)


# --------------------------------------------------------------------------- pipeline


def submit(producer: Celery, request: BatchRequest) -> uuid.UUID:
    producer.send_task(
        task_names.CREATE_BATCH,
        kwargs={"request": request.model_dump(mode="json")},
        queue=task_names.INTAKE_QUEUE,
    )
    return request.batch_id


def test_a_20_essay_batch_completes_through_real_workers(
    llm_worker: Callable[..., Worker],
    producer: Celery,
    chat_stub: ChatStub,
    pg_url: str,
    redis_url: str,
    api_key: str,
) -> None:
    workers = [llm_worker(CONTROL), llm_worker(JUDGE_ONLY, concurrency=2)]
    chat_stub.reset(
        Faults(
            latency_seconds=0.05,
            rate_limit_every=9,
            retry_after="1",
            server_error_every=11,
            malformed_every=13,
        )
    )
    texts = list(chat_stub.qualities)
    model = f"batch-{uuid.uuid4().hex[:8]}"
    request = BatchRequest(
        essays=[EssayIn(id=f"pupil-{i:04d}-x", text=text) for i, text in enumerate(texts)],
        budget=160,
        assignment="Write about a place you know well.",
        rubric="Reward vivid, well-organised writing.",
        judge=spec(chat_stub, model, requests_per_minute=1200, concurrency=4, max_retries=5),
        settings={"MIN_SUCCESS_RATE": 0.5},
    )
    batch_id = submit(producer, request)
    status = wait_terminal(batch_id, pg_url, timeout=240)
    assert status.state == "completed", status

    with session_scope(pg_url) as session:
        rows = session.execute(
            sa.text("SELECT status, error_code, judge_id FROM comparisons WHERE batch_id = :b"),
            {"b": batch_id},
        ).all()
        scores: dict[str, float] = dict(
            session.execute(
                sa.text(
                    "SELECT e.text, r.score FROM essay_results r JOIN essays e "
                    "ON e.id = r.essay_id WHERE r.batch_id = :b"
                ),
                {"b": batch_id},
            ).all()
        )
    outcomes = chat_stub.outcomes(model)
    answered = outcomes.get("answered", 0) + outcomes.get("malformed", 0)
    unparseable = [row for row in rows if row.error_code == "judge_output_unparseable"]
    rho = spearmanr([chat_stub.qualities[t] for t in texts], [scores[t] for t in texts])[0]
    print(
        f"\nbatch: {len(rows)} comparisons, stub saw {outcomes}, "
        f"{len(unparseable)} failed as unparseable; Spearman with the truth {rho:.3f}"
    )
    assert len(rows) == answered, "each comparison got exactly one answer from the stub"
    assert outcomes["rate_limited"] + outcomes["server_error"] > 0, "retries happened"
    assert len(unparseable) == outcomes["malformed"] > 0
    assert {row.judge_id for row in rows} == {f"llm:{model}"}
    assert rho > 0.8

    bodies = "\n".join(record.body for record in chat_stub.for_model(model))
    assert "Write about a place you know well." in bodies
    assert "pupil-" not in bodies, "essay ids never reach the judge"
    assert_key_nowhere(api_key, workers, database_dump(pg_url), redis_dump(redis_url))
    assert api_key not in bodies


def test_a_wrong_key_fails_the_batch_with_one_clear_reason_and_few_requests(
    llm_worker: Callable[..., Worker],
    producer: Celery,
    chat_stub: ChatStub,
    pg_url: str,
    redis_url: str,
    wrong_key: str,
) -> None:
    workers = [llm_worker(CONTROL), llm_worker(JUDGE_ONLY, concurrency=2)]
    chat_stub.reset()
    model = f"wrong-{uuid.uuid4().hex[:8]}"
    request = BatchRequest(
        essays=[EssayIn(id=f"p{i}", text=text) for i, text in enumerate(chat_stub.qualities)],
        budget=100,
        judge=spec(chat_stub, model, api_key_env=WRONG_KEY_ENV),
    )
    batch_id = submit(producer, request)
    status = wait_terminal(batch_id, pg_url, timeout=120)
    with session_scope(pg_url) as session:
        codes = session.scalars(
            sa.text("SELECT error_code FROM comparisons WHERE batch_id = :b"), {"b": batch_id}
        ).all()
    refused = chat_stub.outcomes(model).get("unauthorized", 0)
    print(
        f"\nwrong key: batch {status.state} ({status.final_reason}), {len(codes)} comparisons "
        f"failed, the stub refused {refused} requests"
    )
    assert status.state == "failed"
    assert set(codes) - {None} == {"judge_auth_failed"}, "one clear reason"
    assert 1 <= refused <= 2, "the batch stops asking after the first refusal"
    assert_key_nowhere(wrong_key, workers, database_dump(pg_url), redis_dump(redis_url))
    details = json.dumps([r.body for r in chat_stub.records])
    assert wrong_key not in details
