"""The LLM judge from the command line: ``submit --judge llm``, ``--dry-run``, the demo on
a scripted endpoint (no network), and the usage and prompt context ``status`` shows."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from celery import Celery

from cj_worker import task_names
from cj_worker.judges.llm.cost import estimate_batch
from cj_worker.llm_spec import LlmJudge
from cj_worker.payloads import BatchRequest
from cj_worker.tasks import llm_judge
from tests.unit.cli.runs import Runner, assert_one_line_error, queued
from tests.unit.judges.llm.fakes import ScriptedEndpoint, ok

ENDPOINT = "http://llm.test/v1"


@pytest.fixture
def essays(tmp_path: Path) -> Path:
    path = tmp_path / "net.csv"
    path.write_text("id,text\n" + "".join(f"e{i},{'word ' * 50}{i}\n" for i in range(6)))
    return path


@pytest.fixture
def prompt_files(tmp_path: Path) -> tuple[Path, Path]:
    assignment, rubric = tmp_path / "assignment.txt", tmp_path / "rubric.txt"
    assignment.write_text("Describe a storm.\n")
    rubric.write_text("Vivid language.\nAccurate detail.\n")
    return assignment, rubric


def sent_request(broker: Celery) -> BatchRequest:
    with broker.connection_for_read() as connection:
        queue = connection.SimpleQueue(task_names.INTAKE_QUEUE)
        message = queue.get(timeout=1)
        message.ack()
        queue.close()
    _, kwargs, _ = message.payload
    return BatchRequest.model_validate(kwargs["request"])


LLM = ("--judge", "llm", "--base-url", ENDPOINT, "--model", "gpt-x")


def test_submit_sends_the_llm_judge_the_options_describe(
    run: Runner, broker: Celery, essays: Path, prompt_files: tuple[Path, Path]
) -> None:
    assignment, rubric = prompt_files
    result = run(
        "submit",
        str(essays),
        *LLM,
        "--api-key-env",
        "OPENAI_API_KEY",
        "--temperature",
        "0.2",
        "--max-tokens",
        "200",
        "--concurrency",
        "3",
        "--rpm",
        "120",
        "--assignment",
        str(assignment),
        "--rubric",
        str(rubric),
    )

    assert result.code == 0, result.err
    request = sent_request(broker)
    judge = request.judge
    assert isinstance(judge, LlmJudge)
    assert (judge.base_url, judge.model, judge.api_key_env) == (ENDPOINT, "gpt-x", "OPENAI_API_KEY")
    assert (judge.temperature, judge.max_tokens, judge.concurrency) == (0.2, 200, 3)
    assert judge.requests_per_minute == 120.0
    assert (judge.assignment, judge.rubric) == (
        "Describe a storm.",
        "Vivid language.\nAccurate detail.",
    )


def test_a_dry_run_prints_the_estimate_and_sends_nothing(
    run: Runner, broker: Celery, essays: Path
) -> None:
    text = run("submit", str(essays), *LLM, "--budget", "12", "--dry-run")
    as_json = run("submit", str(essays), *LLM, "--budget", "12", "--dry-run", "--json")

    assert text.code == as_json.code == 0, text.err + as_json.err
    assert queued(broker, task_names.INTAKE_QUEUE) == 0, "a dry run sends nothing"
    estimate = json.loads(as_json.out)
    assert estimate["comparisons"] == 12
    assert estimate["prompt_tokens"] > 12 * 2 * 60, "two essays of ~250 characters a request"
    assert estimate["cost_expected"] is None
    assert estimate["unpriced_models"] == ["gpt-x"]
    assert f"{estimate['prompt_tokens']}" in text.out
    assert "no price for gpt-x" in text.out
    assert "nothing was sent" in text.out


def test_a_dry_run_estimate_is_the_cost_modules(
    run: Runner, broker: Celery, essays: Path, prompt_files: tuple[Path, Path]
) -> None:
    """What the command prints is ``estimate_batch`` of the request it would have sent."""
    assignment, _ = prompt_files
    result = run(
        "submit", str(essays), *LLM, "--budget", "8", "--assignment", str(assignment),
        "--dry-run", "--json",
    )  # fmt: skip
    run("submit", str(essays), *LLM, "--budget", "8", "--assignment", str(assignment))

    assert json.loads(result.out) == estimate_batch(sent_request(broker)).as_json()


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (("--dry-run",), "--dry-run estimates an LLM judge's"),
        (("--base-url", ENDPOINT), "--base-url: only with --judge llm"),
        (("--judge", "llm", "--base-url", ENDPOINT), "needs --base-url URL and --model MODEL"),
        ((*LLM, "--temperature", "9"), "--temperature: "),
        (("--judge", "llm", "--base-url", "ftp://x", "--model", "m"), "--base-url: "),
        ((*LLM, "--api-key-env", "CJ_DATABASE_URL"), "--api-key-env: "),
        ((*LLM, "--rubric", "/no/such/rubric.txt"), "--rubric /no/such/rubric.txt: cannot read"),
    ],
)
def test_wrong_llm_options_are_one_line_errors(
    run: Runner, broker: Celery, essays: Path, argv: tuple[str, ...], says: str
) -> None:
    assert_one_line_error(run("submit", str(essays), *argv), contains=says, code=2)
    assert queued(broker, task_names.INTAKE_QUEUE) == 0


# ----------------------------------------------------------------------- the demo


@pytest.fixture
def endpoint() -> Iterator[ScriptedEndpoint]:
    """The endpoint the LLM judge talks to in this process: scripted, no network."""
    scripted = ScriptedEndpoint(ok("A", prompt_tokens=100, completion_tokens=20))
    llm_judge.use_http_transport(scripted.transport())
    yield scripted
    llm_judge.use_http_transport(None)


def test_the_demo_runs_an_llm_judge_and_status_reports_its_usage(
    run: Runner,
    endpoint: ScriptedEndpoint,
    essays: Path,
    tmp_path: Path,
    prompt_files: tuple[Path, Path],
) -> None:
    database = tmp_path / "llm.sqlite3"
    _, rubric = prompt_files
    environment = dict(os.environ)

    demo = run(
        "demo", "--file", str(essays), *LLM, "--rpm", "100000", "--budget", "10",
        "--rubric", str(rubric), "--db", str(database), "--json",
    )  # fmt: skip

    assert demo.code == 0, demo.err
    assert dict(os.environ) == environment, "the demo changes no environment variable"
    output = json.loads(demo.out)
    answered = len(endpoint.requests)
    assert output["state"] == "completed"
    assert answered == output["comparisons_made"] > 0
    assert "Accurate detail." in json.dumps(endpoint.bodies()[0]["messages"]), "the rubric"
    usage = output["usage"]
    assert (usage["comparisons"], usage["prompt_tokens"], usage["completion_tokens"]) == (
        answered,
        100 * answered,
        20 * answered,
    )
    assert [judge["judge_id"] for judge in usage["judges"]] == ["llm:gpt-x"]

    status = run("status", output["batch_id"], "--db", str(database), "--json")
    text = run("status", output["batch_id"], "--db", str(database))
    assert json.loads(status.out)["usage"] == usage
    assert json.loads(status.out)["rubric"] == "Vivid language.\nAccurate detail."
    assert f"{100 * answered} prompt + {20 * answered} completion tokens" in text.out
    assert "rubric           Vivid language." in text.out
    assert llm_judge._limiter is None, "the demo's in-process limiter is handed back"
