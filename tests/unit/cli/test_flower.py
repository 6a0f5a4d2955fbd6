"""``cj-worker flower`` never serves task arguments to the network without a login."""

from __future__ import annotations

import pytest

from cj_worker import cli
from cj_worker.celery_app import app


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The argv of every ``celery`` command the CLI starts, instead of starting it."""
    calls: list[list[str]] = []
    monkeypatch.setattr(app, "start", lambda argv: calls.append(list(argv)))
    for name in ("FLOWER_ADDRESS", "FLOWER_BASIC_AUTH", "FLOWER_AUTH"):
        monkeypatch.delenv(name, raising=False)
    return calls


@pytest.mark.parametrize("address", ["0.0.0.0", "", "10.1.2.3", "::", "monitor.example.org"])
def test_another_address_without_a_login_is_refused(
    started: list[list[str]], capsys: pytest.CaptureFixture[str], address: str
) -> None:
    assert cli.main(["flower", f"--address={address}"]) == 2

    assert started == [], "Flower was not started"
    error = capsys.readouterr().err
    assert error.startswith("cj-worker: error: flower would serve every task's arguments")
    assert "--basic_auth=user:password" in error
    assert len(error.strip().splitlines()) == 1


def test_an_address_from_the_environment_is_checked_too(
    started: list[list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOWER_ADDRESS", "0.0.0.0")
    assert cli.main(["flower"]) == 2
    assert started == []


@pytest.mark.parametrize(
    ("options", "environment"),
    [
        pytest.param(["--basic_auth=ops:pw"], {}, id="basic-auth-option"),
        pytest.param(["--auth=.*@example\\.org"], {}, id="oauth-option"),
        pytest.param([], {"FLOWER_BASIC_AUTH": "ops:pw"}, id="basic-auth-variable"),
    ],
)
def test_another_address_with_a_login_is_served(
    started: list[list[str]],
    monkeypatch: pytest.MonkeyPatch,
    options: list[str],
    environment: dict[str, str],
) -> None:
    for name, value in environment.items():
        monkeypatch.setenv(name, value)

    assert cli.main(["flower", "--address=0.0.0.0", *options]) == 0

    assert started == [["flower", "--port=5555", "--address=0.0.0.0", *options]]


@pytest.mark.parametrize("address", ["127.0.0.1", "127.0.0.2", "localhost", "::1"])
def test_this_host_needs_no_login(started: list[list[str]], address: str) -> None:
    assert cli.main(["flower", f"--address={address}"]) == 0
    assert started == [["flower", "--port=5555", f"--address={address}"]]
