"""Pair generation for COVERAGE (Phase 1) and RESAMPLING (Phase 2) waves (SPEC section 4).

COVERAGE picks among unordered pairs that have no success yet (failed-only pairs stay
eligible until ``max_attempts_per_pair`` failures); every essay appears at most once per
wave. Which eligible pairs are picked depends on the policy:

- ``information`` (the engine's): expected information p(1-p)(Var_i + Var_j) from a
  *selection* fit whose prior variance is learned from the data by EM (empirical Bayes).
  The pairing study measured this needing 10-17 % fewer comparisons than random for
  Spearman 0.90 and ~30 % fewer for true reliability 0.80, whereas the same rule on the
  weakly regularised reported fit (precision 0.01) stretches the scale and needs 30-64 %
  *more*. Reported scores still come from the ``bt_prior_precision`` fit.
- ``random``: uniformly random eligible pairs (the baseline the harness measures against).
- ``proximity``: the earlier service's count fairness + score proximity on the reported
  fit, kept only as a reference.
- ``hybrid``: ``information`` with a share ``hybrid_random_share`` of every wave matched
  uniformly at random first (the study's hybrid (d)).

Candidates are all pairs for up to ``FULL_ENUMERATION_MAX_ESSAYS`` essays; above that, each
essay's neighbours in selection-score order plus random partners, so a wave costs
O(n log n) rather than O(n^2). Matching is greedy on descending weight.

RESAMPLING re-judges pairs that already have a success, never a new pair or essay:
least-judged pairs first, then pairs whose essays have the fewest comparisons (counting the
ones already planned in the wave), with a per-essay cap of max(1, ceil(2 * wave / n)) per
wave, so one wave with enough budget is a full pass over the judged pairs and no essay can
take more than its share.

Orientation: every essay's A/B counts are balanced; a resampled pair gets the orientation
it has not had yet. All randomness comes from the one ``numpy.random.Generator`` passed in.
"""

from __future__ import annotations

import enum
import heapq
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.special import expit

from cj_worker.core.array_types import FloatArray, IntArray
from cj_worker.core.bt import PairTable, centred_variances, map_scores
from cj_worker.core.history import ComparisonHistory
from cj_worker.core.pair_index import PairIndex, sorted_unique
from cj_worker.core.settings import AlgorithmSettings, PairingPolicy

FULL_ENUMERATION_MAX_ESSAYS = 1000
"""Up to this many essays every pair is a candidate; above, a windowed candidate set."""
_WINDOW = 12
"""Neighbours on each side, in selection-score order, offered to every essay."""
_RANDOM_PARTNERS = 8
"""Random partners offered to every essay besides its neighbours."""
_SWAP_MAX_STRANDED = 8
_SWAP_SEARCH_PAIRS = 2000
_EB_MIN_SD, _EB_MAX_SD = 0.5, 5.0
INITIAL_SELECTION_PRECISION = 1.0
"""Prior precision of the first selection fit (SD 1 logit), as in the pairing study."""


class PairGenerationMode(enum.StrEnum):
    COVERAGE = "coverage"
    RESAMPLING = "resampling"


@dataclass(frozen=True)
class PlannedComparison:
    """One comparison to dispatch: essays by position, already oriented."""

    slot_a: int
    slot_b: int
    attempt: int
    """1-based attempt number of this unordered pair."""


@dataclass(frozen=True)
class WavePlan:
    """The next wave, and the selection prior precision to carry to the wave after it."""

    comparisons: list[PlannedComparison]
    selection_precision: float


def plan_wave(
    mode: PairGenerationMode,
    history: ComparisonHistory,
    max_pairs: int,
    rng: np.random.Generator,
    settings: AlgorithmSettings,
    selection_precision: float = INITIAL_SELECTION_PRECISION,
    index: PairIndex | None = None,
) -> WavePlan:
    """Choose and orient up to ``max_pairs`` comparisons for the next wave.

    ``max_pairs`` is the caller's remaining budget (already reduced by any wave cap); it is
    never exceeded. The comparisons are empty only if no pair is eligible or ``max_pairs``
    is 0. ``selection_precision`` is the prior precision of the information policy's
    selection fit, carried between waves by the caller (the worker in the batch's
    ``processing_metadata``, the harness in memory): each COVERAGE wave takes one EM step
    from it, as the pairing study's policy (e) did; iterating EM to its fixed point every
    wave instead drove the prior SD to the 0.5 floor and lost to random pairing at 1,000
    essays with noisy judges (harness runs). ``index`` is the step's pair index over
    ``history`` (built here when not given), the same one the decision counted pairs on.
    """
    n = history.n_essays
    if max_pairs <= 0 or n < 2:
        return WavePlan([], selection_precision)
    index = PairIndex(history) if index is None else index
    if mode is PairGenerationMode.COVERAGE:
        first, second, selection_precision = _coverage_pairs(
            history, index, max_pairs, rng, settings, selection_precision
        )
    else:
        first, second = _resampling_pairs(history, index, max_pairs, rng)
    return WavePlan(_orient(history, index, first, second, mode, rng), selection_precision)


# ---------------------------------------------------------------------------- COVERAGE


def _coverage_pairs(
    history: ComparisonHistory,
    index: PairIndex,
    max_pairs: int,
    rng: np.random.Generator,
    settings: AlgorithmSettings,
    selection_precision: float,
) -> tuple[IntArray, IntArray, float]:
    n = history.n_essays
    policy = settings.pairing_policy
    order_scores, variance, selection_precision = _policy_state(
        history, settings, selection_precision
    )
    first, second = _candidates(n, order_scores, rng)
    keep = index.coverage_eligible(index.key(first, second), settings.max_attempts_per_pair)
    first, second = first[keep], second[keep]
    weights = _weights(policy, history, first, second, order_scores, variance, rng)
    used = bytearray(n)
    chosen_first: list[int] = []
    chosen_second: list[int] = []
    if policy is PairingPolicy.HYBRID:
        # The random share is matched first, uniformly among eligible pairs; information
        # fills the rest of the wave among the essays still free.
        share = settings.hybrid_random_share * min(max_pairs, n // 2)
        random_count = int(share) + int(rng.random() < share - int(share))
        random_weights = rng.random(first.size)
        _greedy_matching(
            n, first, second, random_weights, random_count, used, chosen_first, chosen_second
        )
    _greedy_matching(n, first, second, weights, max_pairs, used, chosen_first, chosen_second)
    # Essays left unmatched by the candidate set get a second chance among themselves, so a
    # wave is about n/2 pairs whenever eligible pairs allow it.
    while len(chosen_first) < max_pairs:
        leftover = np.flatnonzero(np.frombuffer(bytes(used), dtype=np.uint8) == 0)
        if leftover.size < 2:
            break
        extra_first, extra_second = _leftover_candidates(leftover, rng)
        keep = index.coverage_eligible(
            index.key(extra_first, extra_second), settings.max_attempts_per_pair
        )
        if not keep.any():
            break
        extra_first, extra_second = extra_first[keep], extra_second[keep]
        extra = _weights(policy, history, extra_first, extra_second, order_scores, variance, rng)
        before = len(chosen_first)
        _greedy_matching(
            n, extra_first, extra_second, extra, max_pairs, used, chosen_first, chosen_second
        )
        if len(chosen_first) == before:
            break
    if not chosen_first:
        # The windowed candidates (above FULL_ENUMERATION_MAX_ESSAYS) can miss the last few
        # eligible pairs late in Phase 1; the decision counted them on the same index, so
        # find them directly rather than return an empty wave.
        extra_first, extra_second = _remaining_eligible(index, settings.max_attempts_per_pair)
        _greedy_matching(
            n,
            extra_first,
            extra_second,
            rng.random(extra_first.size),
            max_pairs,
            used,
            chosen_first,
            chosen_second,
        )
    blocked = set(index.coverage_blocked(settings.max_attempts_per_pair).tolist())
    _repair_by_swaps(n, blocked, chosen_first, chosen_second, max_pairs)
    return (
        np.asarray(chosen_first, np.intp),
        np.asarray(chosen_second, np.intp),
        selection_precision,
    )


def _remaining_eligible(
    index: PairIndex, max_attempts: int, max_essays: int = 256
) -> tuple[IntArray, IntArray]:
    """Every eligible pair of the (at most ``max_essays``) least-blocked essays.

    An essay with fewer than n - 1 blocked partners has an eligible pair, so this finds one
    whenever any exists, in O(max_essays * n) rather than enumerating n^2 pairs.
    """
    n = index.n
    blocked = index.coverage_blocked(max_attempts)
    low, high = np.divmod(blocked, np.int64(n))
    degree = np.bincount(low, minlength=n) + np.bincount(high, minlength=n)
    open_essays = np.flatnonzero(degree < n - 1)[:max_essays]
    if open_essays.size == 0:
        return np.zeros(0, np.intp), np.zeros(0, np.intp)
    first = np.repeat(open_essays, n).astype(np.intp)
    second = np.tile(np.arange(n, dtype=np.intp), open_essays.size)
    first, second = _unique_pairs(n, first, second)
    keep = index.coverage_eligible(index.key(first, second), max_attempts)
    return first[keep], second[keep]


def _repair_by_swaps(
    n: int, blocked: set[int], chosen_first: list[int], chosen_second: list[int], limit: int
) -> None:
    """Grow the wave in place: stranded u, v and a chosen (a, b) become (u, a) and (v, b).

    Greedy matching can strand two essays whose own pair is used up although a larger
    matching exists, and one swap usually frees them. Small nets feel this most: 8 essays
    whose wave drops from 4 pairs to 3 need an extra wave to finish coverage. The search is
    bounded (few stranded essays, the first ``_SWAP_SEARCH_PAIRS`` chosen pairs).
    """
    used = set(chosen_first) | set(chosen_second)
    stranded = [essay for essay in range(n) if essay not in used]
    if not 2 <= len(stranded) <= _SWAP_MAX_STRANDED:
        return

    def free(x: int, y: int) -> bool:
        return min(x, y) * n + max(x, y) not in blocked

    while len(chosen_first) < limit and len(stranded) >= 2:
        swap = _find_swap(stranded, chosen_first, chosen_second, free)
        if swap is None:
            return
        k, u, v, x, y = swap
        chosen_first[k], chosen_second[k] = u, x
        chosen_first.append(v)
        chosen_second.append(y)
        stranded.remove(u)
        stranded.remove(v)


def _find_swap(
    stranded: list[int],
    chosen_first: list[int],
    chosen_second: list[int],
    free: Callable[[int, int], bool],
) -> tuple[int, int, int, int, int] | None:
    """(k, u, v, x, y) such that chosen pair k = {x, y} can become (u, x) and (v, y)."""
    for u, v in itertools.combinations(stranded, 2):
        for k in range(min(len(chosen_first), _SWAP_SEARCH_PAIRS)):
            a, b = chosen_first[k], chosen_second[k]
            for x, y in ((a, b), (b, a)):
                if free(u, x) and free(v, y):
                    return k, u, v, x, y
    return None


def _policy_state(
    history: ComparisonHistory, settings: AlgorithmSettings, selection_precision: float
) -> tuple[FloatArray | None, FloatArray | None, float]:
    """Scores that order candidates, the ``information`` variances, and the next precision."""
    if settings.pairing_policy is PairingPolicy.RANDOM:
        return None, None, selection_precision
    winners, losers = history.outcomes()
    table = PairTable.from_outcomes(history.n_essays, winners, losers)
    if settings.pairing_policy is PairingPolicy.PROXIMITY:
        return map_scores(table, settings.bt_prior_precision).scores, None, selection_precision
    fit = selection_fit(table, selection_precision)
    return fit.scores, fit.variance, fit.next_precision


@dataclass(frozen=True)
class SelectionFit:
    scores: FloatArray
    variance: FloatArray
    """Posterior variance of each score, the prior's share of the mean included."""
    next_precision: float
    """The EM update of the prior precision, clipped to SD in [0.5, 5] logits."""


def selection_fit(table: PairTable, precision: float) -> SelectionFit:
    """MAP scores and posterior variances under prior precision ``precision``, plus one EM step.

    The EM update for the prior variance under the Laplace posterior is
    1/lambda = mean(theta^2 + Var). Starting from SD 1 with no data it stays at SD 1, so the
    first wave is random. Variances are exact for components of up to 2,000 essays.
    """
    n = table.n_items
    estimate = map_scores(table, precision)
    centred, _ = centred_variances(table, estimate.pair_weights, precision)
    variance = centred + 1.0 / (n * precision)
    second_moment = float(np.mean(estimate.scores**2 + variance))
    updated = float(np.clip(1.0 / second_moment, 1.0 / _EB_MAX_SD**2, 1.0 / _EB_MIN_SD**2))
    return SelectionFit(estimate.scores, variance, updated)


def _candidates(
    n: int, order_scores: FloatArray | None, rng: np.random.Generator
) -> tuple[IntArray, IntArray]:
    if n <= FULL_ENUMERATION_MAX_ESSAYS:
        first, second = np.triu_indices(n, 1)
        return first.astype(np.intp), second.astype(np.intp)
    order = rng.permutation(n) if order_scores is None else np.argsort(order_scores, kind="stable")
    parts_first, parts_second = [], []
    for offset in range(1, _WINDOW + 1):
        parts_first.append(order[:-offset])
        parts_second.append(order[offset:])
    for _ in range(_RANDOM_PARTNERS):
        parts_first.append(np.arange(n))
        parts_second.append((np.arange(n) + rng.integers(1, n, size=n)) % n)
    return _unique_pairs(n, np.concatenate(parts_first), np.concatenate(parts_second))


def _leftover_candidates(leftover: IntArray, rng: np.random.Generator) -> tuple[IntArray, IntArray]:
    size = leftover.size
    if size * (size - 1) // 2 <= 200_000:
        i, j = np.triu_indices(size, 1)
        return leftover[i], leftover[j]
    parts_first, parts_second = [], []
    for _ in range(_WINDOW + _RANDOM_PARTNERS):
        shuffled = rng.permutation(leftover)
        parts_first.append(shuffled[:-1])
        parts_second.append(shuffled[1:])
    n = int(leftover.max()) + 1
    return _unique_pairs(n, np.concatenate(parts_first), np.concatenate(parts_second))


def _unique_pairs(n: int, first: IntArray, second: IntArray) -> tuple[IntArray, IntArray]:
    keep = first != second
    low = np.minimum(first[keep], second[keep]).astype(np.int64)
    high = np.maximum(first[keep], second[keep]).astype(np.int64)
    keys, _ = sorted_unique(low * np.int64(n) + high)
    low_out, high_out = np.divmod(keys, np.int64(n))
    return low_out.astype(np.intp), high_out.astype(np.intp)


def _weights(
    policy: PairingPolicy,
    history: ComparisonHistory,
    first: IntArray,
    second: IntArray,
    scores: FloatArray | None,
    variance: FloatArray | None,
    rng: np.random.Generator,
) -> FloatArray:
    """Higher is picked first; a tiny random jitter breaks ties without bias."""
    jitter = rng.random(first.size)
    if policy is PairingPolicy.RANDOM or scores is None:
        return jitter
    if policy is PairingPolicy.PROXIMITY:
        counts = history.appearances()
        distance = np.abs(scores[first] - scores[second])
        fairness = 1.0 / (1.0 + counts[first]) + 1.0 / (1.0 + counts[second])
        proximity = np.where(distance < 2.0, np.exp(-distance), 0.0)
        return fairness + 0.5 * proximity + 0.001 * jitter
    assert variance is not None
    p: FloatArray = expit(scores[first] - scores[second])
    information = p * (1.0 - p) * (variance[first] + variance[second])
    return information * (1.0 + 1e-9 * jitter)


def _greedy_matching(
    n: int,
    first: IntArray,
    second: IntArray,
    weights: FloatArray,
    limit: int,
    used: bytearray,
    chosen_first: list[int],
    chosen_second: list[int],
) -> None:
    """Take pairs by descending weight while both essays are free, until the wave has
    ``min(limit, n // 2)`` pairs; extends ``chosen_*`` and marks ``used`` in place, so
    several passes (a random share, then information; leftovers) build one matching."""
    target = min(limit, n // 2)
    if len(chosen_first) >= target:
        return
    order = np.argsort(-weights, kind="stable")
    for i, j in zip(first[order].tolist(), second[order].tolist(), strict=True):
        if used[i] or used[j]:
            continue
        used[i] = used[j] = 1
        chosen_first.append(i)
        chosen_second.append(j)
        if len(chosen_first) >= target:
            break


# -------------------------------------------------------------------------- RESAMPLING


def resampling_cap_per_essay(wave_size: int, n_essays: int) -> int:
    """Most appearances one essay may make in a RESAMPLING wave of ``wave_size`` pairs.

    The generator applies the cap of the wave it plans, min(max_pairs, judged pairs). On
    complete coverage the wave it returns keeps within the cap of its own size too; on a
    sparse judged graph it can come out shorter than planned and exceed that smaller cap.
    """
    return max(1, math.ceil(2 * wave_size / n_essays))


def _resampling_pairs(
    history: ComparisonHistory, index: PairIndex, max_pairs: int, rng: np.random.Generator
) -> tuple[IntArray, IntArray]:
    n = history.n_essays
    candidates = index.resampling_candidates()
    if candidates.size == 0:
        return np.zeros(0, np.intp), np.zeros(0, np.intp)
    first, second = np.divmod(candidates, np.int64(n))
    first, second = first.astype(np.intp), second.astype(np.intp)
    judged = index.attempts_of(candidates).tolist()
    load = history.appearances(history.succeeded).tolist()
    tie = rng.random(candidates.size)
    wave = min(max_pairs, candidates.size)
    cap = resampling_cap_per_essay(wave, n)
    degree = np.bincount(first, minlength=n) + np.bincount(second, minlength=n)
    if wave == candidates.size and int(degree.max()) <= cap:
        # A full pass that the cap cannot bind: every pair is taken, in random order.
        order = np.argsort(tie)
        return first[order], second[order]
    # Least-judged pair first, then the pair whose essays have the fewest comparisons
    # *counting those already planned in this wave*: with loads frozen at the start, the
    # essays one comparison behind would take every slot up to the cap and leave the others
    # far behind after a short wave. Loads only grow, so a popped entry whose load is stale
    # goes back with its current load (lazy priority queue).
    first_list, second_list = first.tolist(), second.tolist()
    queue = [
        (judged[k], load[i] + load[j], jitter, k)
        for k, (i, j, jitter) in enumerate(zip(first_list, second_list, tie.tolist(), strict=True))
    ]
    heapq.heapify(queue)
    taken = [0] * n
    chosen_first: list[int] = []
    chosen_second: list[int] = []
    while queue and len(chosen_first) < wave:
        times_judged, pair_load, jitter, k = heapq.heappop(queue)
        i, j = first_list[k], second_list[k]
        if taken[i] >= cap or taken[j] >= cap:
            continue
        if load[i] + load[j] != pair_load:
            heapq.heappush(queue, (times_judged, load[i] + load[j], jitter, k))
            continue
        for essay in (i, j):
            taken[essay] += 1
            load[essay] += 1
        chosen_first.append(i)
        chosen_second.append(j)
    return np.asarray(chosen_first, np.intp), np.asarray(chosen_second, np.intp)


# ------------------------------------------------------------------------- orientation


def _orient(
    history: ComparisonHistory,
    index: PairIndex,
    first: IntArray,
    second: IntArray,
    mode: PairGenerationMode,
    rng: np.random.Generator,
) -> list[PlannedComparison]:
    """Assign slots: unseen orientation first (RESAMPLING), else balance A/B skews."""
    skew = (history.slot_a_counts() - history.slot_b_counts()).astype(np.int64)
    keys = index.key(first, second)
    attempts = index.attempts_of(keys)
    seen_forward = index.judged_forward(keys)
    seen_backward = index.judged_backward(keys)
    coin = rng.random(first.size) < 0.5
    planned: list[PlannedComparison] = []
    for k, (x, y) in enumerate(zip(first.tolist(), second.tolist(), strict=True)):
        low, high = min(x, y), max(x, y)
        if mode is PairGenerationMode.RESAMPLING and seen_forward[k] != seen_backward[k]:
            a, b = (high, low) if seen_forward[k] else (low, high)
        else:
            # The essay with the lower A-minus-B skew takes slot A. (Summed |skew| cannot
            # choose: it ties whenever both skews lie on the same side, exactly when one of
            # the two orientations would push the larger skew further out.)
            if skew[x] != skew[y]:
                a, b = (x, y) if skew[x] < skew[y] else (y, x)
            else:
                a, b = (x, y) if coin[k] else (y, x)
        skew[a] += 1
        skew[b] -= 1
        planned.append(PlannedComparison(slot_a=a, slot_b=b, attempt=int(attempts[k]) + 1))
    return planned
