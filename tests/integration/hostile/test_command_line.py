"""``cj-worker`` in careless hands: one line, the right exit code, nothing sent or written."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path

import pytest

from cj_worker.payloads import MAX_ESSAY_CHARS
from tests.integration.hostile.conftest import CompletedBatch, Deployment, RunningBatch

pytestmark = pytest.mark.integration

TEN_MB = 10 * 1024 * 1024
PREFIX = "cj-worker: error: "


def one_line_error(done: subprocess.CompletedProcess[str], code: int = 2) -> str:
    """The single error line of a command that failed with ``code``; no traceback."""
    assert done.returncode == code, done
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stderr
    return lines[0]


def csv_file(directory: Path, content: str) -> str:
    path = directory / f"{uuid.uuid4().hex[:6]}.csv"
    path.write_text(content, encoding="utf-8")
    return str(path)


def jsonl_file(directory: Path, records: list[dict[str, object]]) -> str:
    path = directory / f"{uuid.uuid4().hex[:6]}.jsonl"
    path.write_text("\n".join(json.dumps(record) for record in records), encoding="utf-8")
    return str(path)


GOOD_CSV = "id,text,true_score\na,first essay,1\nb,second essay,0\n"


@pytest.mark.parametrize(
    ("content", "says"),
    [
        pytest.param(
            "id,true_score\na,1\nb,0\n",
            "the header must have the columns 'id' and 'text' (missing: text)",
            id="no-text-column",
        ),
        pytest.param(
            "id,text,true_score\na,first,1\nb,,0\n",
            ":3: invalid essay: text: String should have at least 1 character",
            id="empty-text",
        ),
        pytest.param(
            f'id,text,true_score\na,"{"word " * (TEN_MB // 5)}",1\n',
            f":2: a field is longer than {MAX_ESSAY_CHARS:,} characters",
            id="ten-megabyte-essay",
        ),
        pytest.param(
            f"id,text,true_score\na,{'w' * (MAX_ESSAY_CHARS + 1)},1\n",
            f":2: invalid essay: text: String should have at most {MAX_ESSAY_CHARS} characters",
            id="essay-one-past-the-limit",
        ),
        pytest.param(
            "id,text,is_anchor\na,t,perhaps\n", "is_anchor must be true or false", id="flag"
        ),
    ],
)
def test_submitting_a_bad_csv_is_refused_before_anything_is_sent(
    deployment: Deployment, tmp_path: Path, content: str, says: str
) -> None:
    path = csv_file(tmp_path, content)
    with deployment.unchanged():
        error = one_line_error(deployment.cli("submit", path))
    assert error.startswith(f"{PREFIX}{path}")
    assert says in error


def test_submitting_a_ten_megabyte_essay_in_jsonl_is_refused_like_csv(
    deployment: Deployment, tmp_path: Path
) -> None:
    path = jsonl_file(tmp_path, [{"id": "a", "text": "w" * TEN_MB, "true_score": 1}])
    with deployment.unchanged():
        error = one_line_error(deployment.cli("submit", path))
    assert error == (
        f"{PREFIX}{path}:1: invalid essay: text: String should have at most"
        f" {MAX_ESSAY_CHARS} characters"
    )


@pytest.mark.parametrize(
    ("options", "says"),
    [
        pytest.param(
            ["--judge", "external:cj.create_batch"],
            "is a name of cj-worker's own tasks",
            id="judge",
        ),
        pytest.param(
            ["--judge", "external:cj.record_comparison_result"], "own tasks", id="judge-callback"
        ),
        pytest.param(
            ["--result-task", "cj.create_batch"], "result_task: 'cj.create_batch'", id="rt"
        ),
        pytest.param(["--tenant", ""], "tenant: String should have at least 1", id="empty-tenant"),
        pytest.param(["--set", "max_iterations=many"], "max_iterations", id="bad-setting"),
        pytest.param(["--grade-scale", "{not json"], "--grade-scale is not valid JSON", id="scale"),
    ],
)
def test_submitting_a_bad_option_is_refused_before_anything_is_sent(
    deployment: Deployment, tmp_path: Path, options: list[str], says: str
) -> None:
    path = csv_file(tmp_path, GOOD_CSV)
    with deployment.unchanged():
        error = one_line_error(deployment.cli("submit", path, *options))
    assert error.startswith(PREFIX)
    assert says in error


def test_a_budget_that_is_not_a_number_is_a_usage_error(
    deployment: Deployment, tmp_path: Path
) -> None:
    with deployment.unchanged():
        done = deployment.cli("submit", csv_file(tmp_path, GOOD_CSV), "--budget", "forty")
    assert done.returncode == 2
    assert "argument --budget: invalid int value: 'forty'" in done.stderr


@pytest.mark.parametrize(
    ("name", "says"),
    [
        pytest.param("absent.csv", "no such file", id="missing"),
        pytest.param("essays.txt", "expected a .csv or .jsonl file", id="extension"),
    ],
)
def test_submitting_a_file_that_is_not_an_essay_file_is_refused(
    deployment: Deployment, tmp_path: Path, name: str, says: str
) -> None:
    if name.endswith(".txt"):
        (tmp_path / name).write_text(GOOD_CSV)
    path = str(tmp_path / name)
    with deployment.unchanged():
        error = one_line_error(deployment.cli("submit", path))
    assert error == f"{PREFIX}{path}: {says}"


@pytest.mark.parametrize("command", ["status", "export"])
def test_reading_something_that_is_not_a_batch_id_is_refused(
    deployment: Deployment, command: str
) -> None:
    with deployment.unchanged():
        error = one_line_error(deployment.cli(command, "batch-1"))
    assert error == f"{PREFIX}BATCH must be a batch id (a UUID), got 'batch-1'"


@pytest.mark.parametrize("command", ["status", "export"])
def test_reading_an_unknown_batch_is_refused(deployment: Deployment, command: str) -> None:
    unknown = uuid.uuid4()
    with deployment.unchanged():
        error = one_line_error(deployment.cli(command, str(unknown)))
    assert error == f"{PREFIX}no batch {unknown}"


@pytest.mark.parametrize("command", ["status", "export"])
def test_another_tenant_s_batch_reads_as_unknown(
    deployment: Deployment, running: RunningBatch, command: str
) -> None:
    with deployment.unchanged():
        error = one_line_error(deployment.cli(command, str(running.id), "--tenant", "tenant-z"))
    assert error == f"{PREFIX}no batch {running.id} of tenant 'tenant-z'"


def test_status_shows_the_tenant_and_reads_the_own_tenant_s_batch(
    deployment: Deployment, running: RunningBatch
) -> None:
    with deployment.unchanged():
        done = deployment.cli("status", str(running.id), "--tenant", "tenant-a")
        as_json = deployment.cli("status", str(running.id), "--json")
    assert done.returncode == 0, done
    assert done.stdout.splitlines()[0] == f"batch {running.id} of tenant tenant-a"
    assert json.loads(as_json.stdout)["tenant"] == "tenant-a"


def test_export_reads_the_own_tenant_s_results(
    deployment: Deployment, completed: CompletedBatch
) -> None:
    with deployment.unchanged():
        done = deployment.cli("export", str(completed.id), "--tenant", "tenant-b", "--csv")
    assert done.returncode == 0, done
    assert len(done.stdout.splitlines()) == 5, "a header and four essays"


@pytest.mark.parametrize(
    "command",
    [
        pytest.param(["status"], id="status"),
        pytest.param(["export", "--csv"], id="export"),
    ],
)
def test_a_reader_that_closes_the_pipe_ends_the_command_quietly(
    deployment: Deployment, completed: CompletedBatch, command: list[str]
) -> None:
    """``cj-worker status B | head -1`` used to say "cannot reach the broker", exit 3."""
    cli = " ".join(["python", "-m", "cj_worker.cli", command[0], str(completed.id), *command[1:]])
    with deployment.unchanged():
        done = subprocess.run(
            # head exits at once; cj-worker's stderr is not in the pipe, so it is captured.
            ["bash", "-c", f'{cli} | head -n 0; echo "${{PIPESTATUS[0]}}"'],
            env=deployment.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.stdout.strip() == "0"
    assert done.stderr == ""


def test_flower_refuses_to_show_tasks_to_the_network_without_a_login(
    deployment: Deployment,
) -> None:
    with deployment.unchanged():
        error = one_line_error(deployment.cli("flower", "--address=0.0.0.0"))
    assert error.startswith(f"{PREFIX}flower would serve every task's arguments on 0.0.0.0")
