"""The chat-completions stub and judge workers with API keys in their environment."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.integration.judges.chat_stub import ChatStub
from tests.integration.pipeline.conftest import Worker

API_KEY_ENV = "STUB_LLM_API_KEY"
WRONG_KEY_ENV = "STUB_WRONG_API_KEY"


@pytest.fixture
def api_key() -> str:
    """The key the stub accepts; the test greps everything for it afterwards."""
    return f"sk-stub-{secrets.token_hex(20)}"


@pytest.fixture
def wrong_key() -> str:
    return f"sk-wrong-{secrets.token_hex(20)}"


@pytest.fixture
def qualities() -> dict[str, float]:
    """20 essays with hidden qualities 0.5 logits apart (texts never contain each other)."""
    words = ["amber", "basalt", "cedar", "delta", "ember", "fjord", "garnet", "harbor"]
    texts = [f"Essay about {words[i % 8]} number {i:02d}, written with care." for i in range(20)]
    return {text: 0.5 * (i - 9.5) for i, text in enumerate(texts)}


@pytest.fixture
def chat_stub(api_key: str, qualities: dict[str, float]) -> Iterator[ChatStub]:
    stub = ChatStub(api_key=api_key, qualities=qualities, seed=7)
    stub.start()
    yield stub
    stub.stop()


@pytest.fixture
def llm_worker(
    worker_env: dict[str, str], tmp_path: Path, api_key: str, wrong_key: str
) -> Iterator[Callable[..., Worker]]:
    """Start ``cj-worker worker`` processes that hold both keys in their environment."""
    workers: list[Worker] = []

    def start(queues: str, concurrency: int = 2, **env: str) -> Worker:
        environment = {**worker_env, API_KEY_ENV: api_key, WRONG_KEY_ENV: wrong_key, **env}
        worker = Worker(
            environment,
            tmp_path / f"llm-worker-{len(workers)}.log",
            concurrency,
            queues,
            via_celery=False,
        )
        workers.append(worker)
        worker.wait_ready()
        return worker

    yield start
    for worker in workers:
        worker.stop()
