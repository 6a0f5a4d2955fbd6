"""The embedded runner: a whole batch in this process, on the database its settings name."""

from __future__ import annotations

import shutil
import uuid
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


# ------------------------------------------------------------------- reproducible runs


def test_a_batch_id_is_derived_from_everything_in_the_request() -> None:
    base_id = embedded.content_batch_id(request())

    assert embedded.content_batch_id(request()) == base_id
    assert base_id.version == 5
    changed = [
        request(budget=13),
        request(settings={"pair_seed": 2}),
        request(judge=SimulatedJudge(seed=2)),
        request(essays=[EssayIn(id="e0", text="other", true_score=0.0)]),
        request(
            essays=[EssayIn(id=f"e{i}", text=f"essay {i}", true_score=i + 0.5) for i in range(5)]
        ),
    ]
    assert len({embedded.content_batch_id(r) for r in changed} | {base_id}) == len(changed) + 1


def results_of(url: str, chosen: BatchRequest) -> tuple[uuid.UUID, dict[str, object]]:
    settings = get_settings().model_copy(update={"database_url": url})
    try:
        batch_id = embedded.run_batch(chosen, settings=settings)
        output = client.get_results(batch_id, database_url=url).as_dict()
    finally:
        get_engine(url).dispose()
    output.pop("duration_seconds")
    return batch_id, output


def test_the_same_request_gives_the_same_batch_and_results_on_any_database(
    configured: Path, sqlite_template: Path, tmp_path: Path
) -> None:
    urls = []
    for name in ("one.sqlite3", "two.sqlite3"):
        shutil.copyfile(sqlite_template, tmp_path / name)
        urls.append(f"sqlite:///{tmp_path / name}")

    first = results_of(urls[0], request())
    again = results_of(urls[1], request())

    assert first == again
    assert first[0] == embedded.content_batch_id(request())
    assert results_of(urls[1], request(judge=SimulatedJudge(seed=9)))[1] != first[1]


def test_running_the_same_request_again_on_the_same_database_changes_nothing(
    configured: Path, migrated_sqlite_file: Path
) -> None:
    url = f"sqlite:///{migrated_sqlite_file}"

    first = results_of(url, request())
    again = results_of(url, request())

    assert first == again


def test_a_chosen_batch_id_is_kept(configured: Path, migrated_sqlite_file: Path) -> None:
    chosen = uuid.uuid4()

    batch_id, _ = results_of(f"sqlite:///{migrated_sqlite_file}", request(batch_id=chosen))

    assert batch_id == chosen
