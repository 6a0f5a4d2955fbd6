"""Set aside the judges whose decisions carry no signal, and fit without them.

The model assumes one kind of judge. When some judges answer by coin (inattentive, or a
broken integration), their decisions are noise that the fit takes for signal about the
essays, and the intervals come out too narrow: with 2 coin-flipping judges among 20 the
95 % intervals held the truth 0.87-0.89 of the time at a true SD of 1.5 and 0.82-0.89 at
2.0 (issue 10's honesty benchmark), though each coin flipper was flagged (judge misfit,
:mod:`cj_worker.core.misfit`) in every run under random pairing.

So the batch is fitted once, each judge's log-score test is read at the stricter
``SET_ASIDE_LEVEL``, and the batch is fitted again without the judges it rejects. One
round only: the second fit's judge statistics are reported, the set-aside judges among
them (against the clean fit, so their flags show), but nothing is set aside twice. Limits
keep it from turning on the batch: at least ``MIN_JUDGES`` judges must have decided, a
judge needs ``MIN_DECISIONS`` decisions, and never more than ``MAX_SHARE_SET_ASIDE`` of
the decisions go (worst-scoring judges first). A batch with a single judge (an LLM) is
never screened: there is nothing to measure that judge against.

A reliable judge is set aside with probability about ``SET_ASIDE_LEVEL`` (measured 1.5 %:
12 of 800 judges with 50 decisions each), which only costs its decisions' information:
the scores and SEs of the remaining decisions are still honest. Measured effect with 2
coin flippers among 20 (``benchmarks/honesty.py --judges 2coin/20``, random pairing):
coverage 0.886 -> 0.939 at 100 essays and K 20 (SD 1.5), 0.846 -> 0.912 at 500 essays and
K 6 (SD 2).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from cj_worker.core.array_types import IntArray
from cj_worker.core.bt import BTFit
from cj_worker.core.judgements import Judgements
from cj_worker.core.misfit import judge_fit

SET_ASIDE_LEVEL = 0.01
"""Level of the log-score test at which a judge's decisions are set aside."""
MIN_JUDGES = 3
"""Fewest judges with decisions for any to be set aside."""
MIN_DECISIONS = 20
"""Fewest decisions of a judge for its test to set it aside."""
MAX_SHARE_SET_ASIDE = 0.25
"""Largest share of a batch's decisions that may be set aside."""


@dataclass(frozen=True)
class ScreenedFit:
    """The fit without the set-aside judges, and what it was fitted on."""

    fit: BTFit
    judgements: Judgements
    """The decisions the fit used (all, if nobody was set aside)."""
    set_aside: IntArray
    """Judge indices whose decisions were left out, worst first."""


def judges_to_set_aside(fit: BTFit, judgements: Judgements) -> IntArray:
    """The judges whose decisions ``fit`` shows to be noise (module docstring)."""
    decisions = np.bincount(judgements.judge, minlength=judgements.n_judges)
    if np.count_nonzero(decisions) < MIN_JUDGES:
        return np.zeros(0, dtype=np.intp)
    stats = judge_fit(
        fit.scores,
        judgements.slot_a,
        judgements.slot_b,
        judgements.a_won,
        judgements.judge,
        judgements.n_judges,
        fit.standard_errors,
    )
    p_value = np.nan_to_num(stats.p_value, nan=1.0)
    rejected = np.flatnonzero((decisions >= MIN_DECISIONS) & (p_value < SET_ASIDE_LEVEL))
    rejected = rejected[np.argsort(p_value[rejected], kind="stable")]
    within = np.cumsum(decisions[rejected]) <= MAX_SHARE_SET_ASIDE * judgements.judge.size
    return rejected[within].astype(np.intp)


def fit_setting_aside_noise(
    judgements: Judgements, fit: Callable[[Judgements], BTFit]
) -> ScreenedFit:
    """``fit`` the batch, and again without the judges :func:`judges_to_set_aside` names."""
    first = fit(judgements)
    set_aside = judges_to_set_aside(first, judgements)
    if set_aside.size == 0:
        return ScreenedFit(first, judgements, set_aside)
    kept = judgements.without_judges(set_aside)
    return ScreenedFit(fit(kept), kept, set_aside)
