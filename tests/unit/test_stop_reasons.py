"""Every reason code in words, with its numbers (cj_worker.stop_reasons)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from cj_worker import stop_reasons
from cj_worker.core.decision import Reason


@dataclass(frozen=True)
class Figures:
    essays: int = 40
    total_budget: int = 300
    submitted: int = 240
    failed: int = 7
    current_wave: int = 12


@pytest.mark.parametrize("reason", list(Reason))
def test_every_reason_has_a_sentence_of_its_own(reason: Reason) -> None:
    sentence = stop_reasons.explain(reason.value, Figures())

    assert not sentence.startswith("Stopped: "), "not the fallback for unknown codes"
    assert sentence.endswith(".")
    assert sentence[0].isupper()


def test_the_sentences_differ() -> None:
    sentences = {stop_reasons.explain(reason.value, Figures()) for reason in Reason}
    assert len(sentences) == len(Reason)


@pytest.mark.parametrize(
    ("reason", "says"),
    [
        ("budget_exhausted", "Used the whole budget of 300 comparisons: the normal ending."),
        ("stable", "scores stopped moving (stable)"),
        ("max_iterations", "limit of 12 waves (max_iterations) with 60 of the budget"),
        ("small_net_resampling_cap", "these 40 essays"),
        ("resampling_cap", "240 of the budget of 300 comparisons used"),
        ("low_success_rate", "Failed: 7 of 240 comparisons failed"),
        ("judge_failed_wave", "every comparison of wave 12 failed"),
        ("stalled", "stopped making progress"),
        ("insufficient_essays", "fewer than two essays"),
        ("essays_digest_mismatch", "the 40 essays that arrived do not have the digest"),
        ("intake_incomplete", "only 40 essays arrived"),
    ],
)
def test_a_sentence_quotes_its_numbers(reason: str, says: str) -> None:
    assert says in stop_reasons.explain(reason, Figures())


def test_an_unknown_code_is_quoted_and_none_is_not_finished() -> None:
    assert stop_reasons.explain("meteor_strike", Figures()) == "Stopped: meteor_strike."
    assert stop_reasons.explain(None, Figures()) == "Not finished yet."


def test_failures() -> None:
    assert {r for r in Reason if stop_reasons.is_failure(r.value)} == {
        Reason.LOW_SUCCESS_RATE,
        Reason.JUDGE_FAILED_WAVE,
        Reason.STALLED,
        Reason.JUDGE_UNAUTHORIZED,
        Reason.ESSAYS_DIGEST_MISMATCH,
        Reason.INTAKE_INCOMPLETE,
    }
    assert not stop_reasons.is_failure(None)
