"""The budget options of ``submit`` and ``demo``, checked at intake and said out loud.

The arithmetic is :mod:`cj_worker.budget`'s; here the options become its inputs, errors
name the option the user typed, and warnings go to stderr before anything is submitted or
run, so a budget the settings cannot spend, or too few comparisons per essay, is heard
before the batch stops short instead of after.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cj_worker.budget import BudgetPlan
    from cj_worker.core.settings import AlgorithmSettings

WARNING_PREFIX = "cj-worker: warning: "


def plan(args: argparse.Namespace, essays: int, settings: AlgorithmSettings) -> BudgetPlan:
    """The budget the options ask for, checked against ``settings``; warnings on stderr.

    A derived budget (from ``--comparisons-per-essay`` or ``--target-reliability``) is
    announced with its derivation, so the number the batch gets is never a surprise.
    """
    from cj_worker.budget import FieldNames, plan_budget

    result = plan_budget(
        essays,
        settings,
        budget=args.budget,
        comparisons_per_essay=args.comparisons_per_essay,
        target_reliability=args.target_reliability,
        names=FieldNames("--budget", "--comparisons-per-essay", "--target-reliability"),
    )
    if args.comparisons_per_essay is not None or args.target_reliability is not None:
        print(f"cj-worker: budget {result.budget} from {result.origin}", file=sys.stderr)
    for warning in result.warnings:
        print(f"{WARNING_PREFIX}{warning}", file=sys.stderr)
    return result


def chosen(args: argparse.Namespace, result: BudgetPlan) -> int | None:
    """The budget to put in the request: None when the user chose none, so the worker's
    own default applies (it may be configured differently from this machine's)."""
    given = (args.budget, args.comparisons_per_essay, args.target_reliability)
    return None if all(value is None for value in given) else result.budget
