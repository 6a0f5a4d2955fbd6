"""The command line's grammar: every command parses, and the value converters."""

from __future__ import annotations

import argparse
import uuid

import pytest

from cj_worker import cli
from cj_worker.cli import parsing
from cj_worker.cli.parsing import UsageError
from cj_worker.payloads import ExternalJudge, SimulatedJudge

COMMANDS = [
    "demo",
    "migrate",
    "worker",
    "beat",
    "flower",
    "submit",
    "status",
    "harness",
    "export",
    "score",
]


def subcommands(parser: argparse.ArgumentParser) -> list[str]:
    [action] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return list(action.choices)


def test_every_command_has_a_handler_and_keeps_its_place_in_the_help() -> None:
    assert subcommands(parsing.build_parser()) == COMMANDS
    assert set(cli.HANDLERS) == set(COMMANDS)


@pytest.mark.parametrize("command", [[], *([c] for c in COMMANDS)], ids=["cj-worker", *COMMANDS])
def test_help_exits_0(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.main([*command, "--help"])

    assert exit_.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: {' '.join(['cj-worker', *command])} ")


def test_unknown_options_are_an_error_but_for_the_servers(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.main(["status", str(uuid.uuid4()), "--concurrency", "4"])

    assert exit_.value.code == 2
    assert "unrecognized arguments: --concurrency 4" in capsys.readouterr().err
    for command in parsing.PASS_THROUGH_COMMANDS:
        _, args, extra = parsing.parse_arguments([command, "--concurrency", "4"])
        assert (args.command, extra) == (command, ["--concurrency", "4"])


def test_overrides_lower_their_keys_and_read_none_as_none() -> None:
    assert parsing.overrides(["MAX_ITERATIONS=4", "pair_seed=none", "x= ", "y=a=b"]) == {
        "max_iterations": "4",
        "pair_seed": None,
        "x": None,
        "y": "a=b",
    }
    assert parsing.overrides(None) == {}


def test_a_grade_scale_is_a_name_or_a_json_object() -> None:
    assert parsing.grade_scale(None) is None
    assert parsing.grade_scale("swedish_8_anchor") == "swedish_8_anchor"
    assert parsing.grade_scale(' {"grades": ["a", "b"]}') == {"grades": ["a", "b"]}
    with pytest.raises(UsageError, match="--grade-scale is not valid JSON"):
        parsing.grade_scale("{nope")


def test_judges() -> None:
    assert isinstance(parsing.judge("simulated"), SimulatedJudge)
    external = parsing.judge("external:producer.judge")
    assert isinstance(external, ExternalJudge)
    assert external.task == "producer.judge"


def test_numbers_and_choices() -> None:
    assert parsing.numbers("2, 4,", int, "--k", minimum=1) == [2, 4]
    assert parsing.numbers("0.5,8", float, "--k", minimum=0.5) == [0.5, 8.0]
    with pytest.raises(UsageError, match="--k needs numbers of at least 1, got '0,4'"):
        parsing.numbers("0,4", int, "--k", minimum=1)
    with pytest.raises(UsageError, match="--k needs numbers"):
        parsing.numbers(",", int, "--k", minimum=1)
    assert parsing.choice("a", ["a", "b"], "--x") == "a"
    with pytest.raises(UsageError, match="--x: 'c' is not one of a, b"):
        parsing.choice("c", ["a", "b"], "--x")


def test_a_batch_id_is_a_uuid() -> None:
    batch = uuid.uuid4()
    assert parsing.batch_id(str(batch)) == batch
    with pytest.raises(UsageError) as error:
        parsing.batch_id("12345")
    assert error.value.exit_code == 2
