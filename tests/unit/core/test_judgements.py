"""Judgements: the results' view of the succeeded comparisons."""

from __future__ import annotations

import numpy as np
import pytest

from cj_worker.core.judgements import Judgements


def test_outcomes_are_winners_and_losers() -> None:
    data = Judgements(
        3, np.array([0, 1]), np.array([1, 2]), np.array([True, False]), np.array([0, 0]), 1
    )

    winners, losers = data.outcomes()

    assert (list(winners), list(losers)) == ([0, 2], [1, 1])


def test_judgements_refuse_inconsistent_arrays() -> None:
    one = np.zeros(1, np.intp)
    with pytest.raises(ValueError, match="same length"):
        Judgements(2, one, np.ones(2, np.intp), np.zeros(1, bool), one, 1)
    with pytest.raises(ValueError, match="judge indices"):
        Judgements(2, one, one + 1, np.zeros(1, bool), one + 3, 1)
