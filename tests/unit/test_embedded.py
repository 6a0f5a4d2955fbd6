"""The embedded runner: a whole batch in this process, on the database its settings name."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cj_worker import client, embedded
from cj_worker.config import get_settings
from cj_worker.db.engine import get_engine
from cj_worker.payloads import BatchRequest, EssayIn, ExternalJudge, SimulatedJudge
from cj_worker.tasks import base


def request(**changes: object) -> BatchRequest:
    essays = [EssayIn(id=f"e{i}", text=f"essay {i}", true_score=float(i)) for i in range(5)]
    values: dict[str, object] = {
        "essays": essays,
        "budget": 12,
        "settings": {"pair_seed": 1},
        "judge": SimulatedJudge(seed=1),
    }
    return BatchRequest.model_validate({**values, **changes})


@pytest.fixture
def configured(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """``CJ_DATABASE_URL``: a file the runner must not create when given other settings."""
    path = tmp_path / "configured.sqlite3"
    monkeypatch.setenv("CJ_DATABASE_URL", f"sqlite:///{path}")
    get_settings.cache_clear()
    yield path
    get_settings.cache_clear()


def test_a_batch_runs_on_the_database_its_settings_name(
    configured: Path, migrated_sqlite_file: Path
) -> None:
    url = f"sqlite:///{migrated_sqlite_file}"
    settings = get_settings().model_copy(update={"database_url": url})
    seen: list[tuple[int, int]] = []

    try:
        batch_id = embedded.run_batch(
            request(), lambda done, budget: seen.append((done, budget)), settings=settings
        )
        status = client.get_status(batch_id, database_url=url)
    finally:
        get_engine(url).dispose()

    assert status.state == "completed"
    assert 0 < status.submitted <= 12
    assert seen == [(done, 12) for done in range(1, status.submitted + 1)]
    assert not configured.exists(), "the environment's database is never opened"
    assert base.settings() is get_settings(), "the task bodies run with the environment's again"


def test_without_settings_the_configured_database_is_used(configured: Path) -> None:
    url = f"sqlite:///{configured}"
    try:
        batch_id = embedded.run_batch(request())
        assert client.get_status(batch_id).state == "completed"
    finally:
        get_engine(url).dispose()


def test_the_process_settings_come_back_when_a_run_fails(
    configured: Path, migrated_sqlite_file: Path
) -> None:
    url = f"sqlite:///{migrated_sqlite_file}"
    settings = get_settings().model_copy(update={"database_url": url})

    def interrupted(done: int, budget: int) -> None:
        raise KeyboardInterrupt

    try:
        with pytest.raises(KeyboardInterrupt):
            embedded.run_batch(request(), interrupted, settings=settings)
    finally:
        get_engine(url).dispose()

    assert base.settings() is get_settings()
    assert base.database_url() == f"sqlite:///{configured}"


def test_an_external_judge_cannot_run_embedded(configured: Path) -> None:
    with pytest.raises(embedded.EmbeddedRunError, match="only has the simulated judge") as error:
        embedded.run_batch(request(judge=ExternalJudge(task="producer.judge")))

    assert error.value.exit_code == 2
    assert not configured.exists()
