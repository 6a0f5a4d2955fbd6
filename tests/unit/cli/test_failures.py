"""Every failure a user can cause is one line on stderr and the error's exit code."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path

import kombu.exceptions
import pytest
import sqlalchemy.exc
from celery import Celery
from pydantic import BaseModel, ValidationError

from cj_worker import cli, task_names
from cj_worker.cli import failures
from cj_worker.db.engine import session_scope
from cj_worker.errors import CJWorkerError, ServiceUnreachableError
from cj_worker.harness.runner import HarnessError
from cj_worker.payloads import PayloadError
from tests.builders.db import make_batch
from tests.unit.cli.runs import Runner, assert_one_line_error, queued, use_database

# ------------------------------------------------------------------ through the commands


@pytest.mark.parametrize(
    ("argv", "contains"),
    [
        pytest.param(
            ["status", "not-a-uuid"],
            "BATCH must be a batch id (a UUID), got 'not-a-uuid'",
            id="status-not-a-uuid",
        ),
        pytest.param(
            ["export", "12345", "--csv"], "BATCH must be a batch id", id="export-not-a-uuid"
        ),
        pytest.param(
            ["submit", "/no/such/essays.csv"],
            "/no/such/essays.csv: no such file",
            id="submit-missing-file",
        ),
        pytest.param(
            ["submit", "{file}", "--set", "max_iterations"],
            "--set takes KEY=VALUE",
            id="set-without-value",
        ),
        pytest.param(
            ["submit", "{file}", "--set", "=3"], "--set takes KEY=VALUE", id="set-without-key"
        ),
        pytest.param(
            ["submit", "{file}", "--grade-scale", "{{not json"],
            "--grade-scale is not valid JSON",
            id="grade-scale-bad-json",
        ),
        pytest.param(
            ["submit", "{file}", "--grade-scale", "ib_7"],
            "unknown grade scale 'ib_7'",
            id="grade-scale-unknown",
        ),
        pytest.param(
            ["submit", "{file}", "--judge", "oracle"],
            "--judge must be 'simulated' or 'external:",
            id="bad-judge",
        ),
        pytest.param(
            ["submit", "{file}", "--judge", "external:"],
            "--judge must be",
            id="external-judge-without-task",
        ),
        pytest.param(
            ["submit", "{file}", "--set", "no_such_knob=1"],
            "no_such_knob",
            id="submit-unknown-setting",
        ),
        pytest.param(["submit", "{file}", "--budget", "0"], "budget", id="submit-budget-0"),
        pytest.param(["demo", "--essays", "0"], "--essays must be at least 1", id="demo-no-essays"),
        pytest.param(
            ["demo", "--essays", "3", "--set", "no_such_knob=1"],
            "no_such_knob",
            id="demo-unknown-setting",
        ),
        pytest.param(
            ["demo", "--essays", "3", "--set", "max_iterations=0"],
            "max_iterations",
            id="demo-bad-setting",
        ),
        pytest.param(["demo", "--essays", "3", "--budget", "0"], "budget", id="demo-budget-0"),
        pytest.param(
            ["demo", "--essays", "3", "--error-rate", "2"], "error_rate", id="demo-bad-error-rate"
        ),
        pytest.param(
            ["demo", "--file", "{file_without_truth}"],
            "true_score",
            id="demo-file-without-true-scores",
        ),
    ],
)
def test_a_user_error_prints_one_line(
    run: Runner, broker: Celery, tmp_path: Path, essay_file: str, argv: list[str], contains: str
) -> None:
    without_truth = tmp_path / "plain.csv"
    without_truth.write_text("id,text\na,first\nb,second\n")
    argv = [arg.format(file=essay_file, file_without_truth=without_truth) for arg in argv]
    argv += ["--db", str(tmp_path / "demo.db")] if argv[0] == "demo" else []

    assert_one_line_error(run(*argv), contains=contains, code=cli.EXIT_USER_ERROR)
    assert queued(broker, task_names.INTAKE_QUEUE) == 0, "nothing is submitted"


def test_an_unknown_batch_prints_one_line(
    run: Runner, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_database(monkeypatch, database_url)
    missing = str(uuid.uuid4())
    for command in (["status", missing], ["export", missing, "--json"]):
        assert_one_line_error(
            run(*command), contains=f"no batch {missing}", code=cli.EXIT_USER_ERROR
        )


def test_exporting_a_batch_without_results_prints_one_line(
    run: Runner, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_database(monkeypatch, database_url)
    with session_scope(database_url) as session:
        batch_id = str(make_batch(session, 3).id)

    for argv in (["export", batch_id], ["export", batch_id, "--csv", "--plot", "x.png"]):
        assert_one_line_error(run(*argv), contains="has no results yet (state collecting)")
    header = run("export", batch_id, "--csv").out
    assert header.startswith("rank,id,score"), "--csv alone still prints its header"


def test_an_unreachable_database_prints_one_line(
    run: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_database(monkeypatch, "postgresql+psycopg2://cj@127.0.0.1:1/x")

    assert_one_line_error(
        run("status", str(uuid.uuid4())),
        contains="cannot reach the database",
        code=cli.EXIT_UNREACHABLE,
    )


def test_a_bare_postgresql_url_prints_one_line(
    run: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLAlchemy 2.1 maps ``postgresql://`` to psycopg 3, which the package does not
    install: with it the server is unreachable, without it the driver is missing."""
    use_database(monkeypatch, "postgresql://127.0.0.1:1/x")

    line = assert_one_line_error(run("status", str(uuid.uuid4())), contains="")
    assert "cannot reach the database" in line or "module 'psycopg' is not installed" in line


@pytest.mark.parametrize(
    "url", ["not a url", "postgresql+nosuchdriver://127.0.0.1/x", "nosuchdb://x"]
)
def test_a_bad_database_url_prints_one_line(
    run: Runner, monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    use_database(monkeypatch, url)

    assert_one_line_error(
        run("status", str(uuid.uuid4())),
        contains="bad CJ_DATABASE_URL",
        code=cli.EXIT_USER_ERROR,
    )


# --------------------------------------------------------- one place maps errors to codes


def raising(error: BaseException) -> cli.Handler:
    def handler(*_: object) -> int:
        raise error

    return handler


def test_any_project_error_exits_with_its_own_code(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """No table of classes: an error the CLI never names still gets one line and its code."""
    monkeypatch.setitem(cli.HANDLERS, "status", raising(HarnessError("the core asked for X")))

    assert cli.main(["status", "anything"]) == HarnessError.exit_code == 1
    assert capsys.readouterr().err == "cj-worker: error: the core asked for X\n"


def test_a_bug_keeps_its_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(cli.HANDLERS, "status", raising(ZeroDivisionError("bug")))

    with pytest.raises(ZeroDivisionError, match="bug"):
        cli.main(["status", "anything"])


def test_a_broken_pipe_that_is_not_stdouts_is_the_brokers(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A captured stdout is not a closed pipe: the broken pipe came from a socket."""
    monkeypatch.setitem(cli.HANDLERS, "status", raising(BrokenPipeError(32, "Broken pipe")))

    assert cli.main(["status", "anything"]) == cli.EXIT_UNREACHABLE
    assert capsys.readouterr().err.startswith("cj-worker: error: cannot reach the broker")


def test_ctrl_c_exits_130(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(cli.HANDLERS, "status", raising(KeyboardInterrupt()))

    assert cli.main(["status", "anything"]) == 130


class _Model(BaseModel):
    budget: int


def _validation_error() -> ValidationError:
    try:
        _Model.model_validate({"budget": "many"})
    except ValidationError as error:
        return error
    raise AssertionError("the model accepted a bad budget")


def _database_error() -> sqlalchemy.exc.OperationalError:
    return sqlalchemy.exc.OperationalError("SELECT 1", {}, ConnectionRefusedError("refused"))


@pytest.mark.parametrize(
    ("error", "kind", "code", "message"),
    [
        pytest.param(
            _validation_error(), PayloadError, 2, "invalid _Model: budget: ", id="pydantic"
        ),
        pytest.param(
            sqlalchemy.exc.ArgumentError("Could not parse URL\nmore"),
            cli.UsageError,
            2,
            "bad CJ_DATABASE_URL: Could not parse URL",
            id="bad-url",
        ),
        pytest.param(
            ModuleNotFoundError("no psycopg", name="psycopg"),
            cli.UsageError,
            2,
            "module 'psycopg' is not installed (the driver of CJ_DATABASE_URL: write"
            " postgresql+psycopg2://...)",
            id="missing-driver",
        ),
        pytest.param(
            ModuleNotFoundError("no yaml", name="yaml"),
            cli.UsageError,
            2,
            "module 'yaml' is not installed",
            id="missing-module",
        ),
        pytest.param(
            _database_error(),
            ServiceUnreachableError,
            3,
            "cannot reach the database: refused",
            id="database-down",
        ),
        pytest.param(
            sqlalchemy.exc.OperationalError(
                "SELECT", {}, sqlite3.OperationalError("no such table: batches")
            ),
            cli.UsageError,
            2,
            "the SQLite database is not at cj-worker's current schema (no such table: batches)",
            id="sqlite-not-migrated",
        ),
        pytest.param(
            sqlalchemy.exc.OperationalError("BEGIN", {}, sqlite3.OperationalError("locked")),
            cli.UsageError,
            2,
            "SQLite: locked",
            id="sqlite-other",
        ),
        pytest.param(
            kombu.exceptions.OperationalError("Error 111 connecting"),
            ServiceUnreachableError,
            3,
            "cannot reach the broker: Error 111 connecting",
            id="broker-down",
        ),
        pytest.param(
            ConnectionRefusedError("refused"),
            ServiceUnreachableError,
            3,
            "cannot reach the broker: refused",
            id="connection-refused",
        ),
    ],
)
def test_library_failures_become_project_errors(
    error: Exception, kind: type[CJWorkerError], code: int, message: str
) -> None:
    translated = failures.as_project_error(error)

    assert isinstance(translated, kind)
    assert translated.exit_code == code
    assert str(translated).startswith(message)
    assert "\n" not in str(translated)


def test_a_project_error_is_its_own_translation() -> None:
    error = cli.UsageError("--k takes numbers")
    assert failures.as_project_error(error) is error


def test_other_exceptions_are_not_translated() -> None:
    assert failures.as_project_error(RuntimeError("a bug")) is None
    assert failures.as_project_error(ValueError("a bug")) is None
