"""Result tokens: unguessable per comparison, rotatable, and required by workers."""

from __future__ import annotations

import subprocess
import sys
import uuid

import pytest

from cj_worker import tokens
from cj_worker.config import Settings

OLD, NEW = [b"old-secret"], [b"new-secret", b"old-secret"]


def test_a_token_is_a_pure_function_of_the_comparison_and_the_secret() -> None:
    comparison = uuid.uuid4()
    assert tokens.token_for(comparison, OLD) == tokens.token_for(comparison, OLD)
    assert len(tokens.token_for(comparison, OLD)) == 64
    assert tokens.token_for(comparison, OLD) != tokens.token_for(uuid.uuid4(), OLD)
    assert tokens.token_for(comparison, OLD) != tokens.token_for(comparison, [b"other"])


def test_the_first_secret_signs_and_every_secret_verifies() -> None:
    comparison = uuid.uuid4()
    old = tokens.token_for(comparison, OLD)
    assert tokens.token_for(comparison, NEW) == tokens.token_for(comparison, [b"new-secret"])
    assert tokens.verify(comparison, old, NEW), "a token issued before the rotation"
    assert tokens.verify(comparison, tokens.token_for(comparison, NEW), NEW)
    assert not tokens.verify(comparison, old, [b"new-secret"]), "after the old one is dropped"


@pytest.mark.parametrize("token", [None, "", "x", "0" * 64, "é" * 64])
def test_anything_but_the_issued_token_fails(token: str | None) -> None:
    assert not tokens.verify(uuid.uuid4(), token, OLD)


def test_a_token_is_not_valid_for_another_comparison() -> None:
    first, second = uuid.uuid4(), uuid.uuid4()
    assert not tokens.verify(second, tokens.token_for(first, OLD), OLD)


def test_secrets_come_from_the_settings_comma_separated() -> None:
    settings = Settings(result_token_secrets="new-secret, old-secret")
    assert tokens.configured_secrets(settings) == NEW
    assert tokens.configured_secrets(Settings(result_token_secrets="")) == []


def test_without_a_secret_a_process_signs_with_a_random_one_of_its_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(tokens.SECRETS_VARIABLE, raising=False)
    from cj_worker.config import get_settings

    get_settings.cache_clear()
    comparison = uuid.uuid4()
    issued = tokens.token_for(comparison)
    assert tokens.verify(comparison, issued), "the process verifies its own tokens"
    assert not tokens.verify(comparison, tokens.token_for(comparison, OLD)), "nor anyone's"
    get_settings.cache_clear()


def test_require_secrets_explains_what_to_set() -> None:
    with pytest.raises(tokens.MissingTokenSecretError) as raised:
        tokens.require_secrets(Settings(result_token_secrets=""))
    assert str(raised.value).startswith("CJ_RESULT_TOKEN_SECRETS is not set")
    assert raised.value.exit_code == 2
    tokens.require_secrets(Settings(result_token_secrets="s"))


def test_a_worker_refuses_to_start_without_a_secret() -> None:
    """The check runs in ``celery worker`` itself, before it consumes anything."""
    env = {
        "PATH": "/usr/bin:/bin",
        "CJ_BROKER_URL": "redis://127.0.0.1:1/0",  # never reached: it stops first
        "CJ_METRICS_PORT": "0",
    }
    done = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "cj_worker.celery_app", "worker", "--pool=solo"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert (
        done.stderr.strip()
        .splitlines()[-1]
        .startswith("cj-worker: error: CJ_RESULT_TOKEN_SECRETS is not set")
    )
