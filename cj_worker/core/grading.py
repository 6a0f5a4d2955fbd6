"""Grade projection from anchors: a probability per grade for every essay, from its SE.

Model. A grade is an interval of the latent quality scale; BT scores estimate that scale
with standard errors. Anchors (essays with a known grade) locate the intervals:

1. **Centres.** Each anchored grade's centre is the mean score of its anchors; the centres
   are made non-decreasing in grade order by weighted isotonic regression (pool adjacent
   violators, weights = anchor counts), so one misjudged anchor cannot invert the scale.
   Grades without anchors are placed by linear interpolation between the anchored grades
   around them, or, below the lowest / above the highest anchored grade, by extrapolating
   the mean anchored step per grade.
2. **Boundaries.** Between two adjacent grades the boundary is the point equally many of
   their spreads away from both centres, ``c_k + (c_k+1 - c_k) s_k / (s_k + s_k+1)`` (the
   contrasting-groups cut for two groups of unequal spread). A grade's spread is the SD of
   its anchors' scores, shrunk towards the pooled within-grade SD (which counts as
   ``POOLED_SPREAD_WEIGHT`` anchors). Midpoints would assume equal spreads; the open-ended
   top and bottom grades spread further (their anchors come from a tail), and midpoints
   measured 0.15-0.4 logits too far out there in the tests' synthetic nets.
3. **Uncertainty of the boundaries.** An anchored centre is a mean of ``n_g`` anchors:
   variance ``spread^2 / n_g``. A grade without anchors inherits the variance of the
   nearest anchored centre plus ``(d * step / 2)^2`` for ``d`` grade steps of guessing.
   A boundary's variance follows from its two centres' (weights as in 2).
4. **Honest SEs.** Fisher SEs can understate the real error: under the engine's adaptive
   pairing the harness measured scores scattered about 1.5 times their SEs at 20
   comparisons per essay (SSR is inflated for the same reason, SPEC section 7). The
   anchors measure it: for each SE scale ``kappa`` on a grid from 1 to ``MAX_SE_SCALE``,
   every anchor is graded by a calibration built without it, and the likelihood of the
   anchors' known grades (with a small chance that an anchor is simply mislabelled, so
   one bad anchor cannot inflate every SE) weighs that ``kappa``. Probabilities are the
   average over the grid under those weights (a flat prior on ``kappa``): with a few dozen
   anchors ``kappa`` is uncertain, and using its single best value measured 0.01-0.03
   more overconfidence in the tests' nets than averaging over it.
5. **Essays.** For each ``kappa`` the batch's true-score spread is estimated by maximum
   marginal likelihood (``score ~ N(mu, tau^2 + (kappa SE)^2)``), and each essay's latent
   position has the posterior ``N(mu + r (score - mu), r (kappa SE)^2)`` with
   ``r = tau^2 / (tau^2 + (kappa SE)^2)``: an essay measured precisely stays where it
   scored, one barely measured is pulled to the batch mean rather than to whichever end
   of the scale its few comparisons pointed at (with a flat prior an isolated essay would
   be half F, half A). Scores of the hierarchical fit (the default) are such posteriors
   already, so the caller turns this step off for them (``population_shrinkage``).
6. **Probabilities.** ``P(grade g) = P(latent > lower_g) - P(latent > upper_g)``, each term
   a normal CDF whose variance is the essay's posterior variance plus the boundary's. An
   essay near a boundary with a large SE is thus split between the grades either side.
   If the scale has prior shares, each grade's probability is multiplied by
   ``prior_g / population share_g`` (the share the batch's own spread gives it) and the row
   renormalised: the priors replace the batch's implied grade mix, nothing else.
7. **Outputs.** The primary grade is the most probable; the confidence is its probability
   (so essays reported with confidence 0.7 have the right grade about 70 % of the time:
   the statistical tests check this). Anchors keep their known grade (probability 1);
   what the calibration would have given them is reported beside it, so an anchor the net
   disagrees with is visible.

Fewer than two distinct anchored grades cannot fix a scale: no projection, and the status
says why.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import ndtr

from cj_worker.core.array_types import FloatArray, IntArray
from cj_worker.core.grade_scales import GradeScale

NO_GRADE = -1
"""Grade index of an essay without a grade (no projection and not an anchor)."""

POOLED_SPREAD_WEIGHT = 4.0
"""Degrees of freedom the pooled within-grade variance counts for when a grade's own
spread is estimated: with five anchors a grade's own spread and the pooled one weigh
equally, and a grade with one anchor takes the pooled spread."""
MAX_SE_SCALE = 3.0
"""Largest factor the anchors may put on the SEs (beyond it the anchors contradict
each other more than they measure the error)."""
SE_SCALES = np.round(np.arange(1.0, MAX_SE_SCALE + 0.05, 0.1), 10)
"""The grid of SE scales averaged over."""
_NEGLIGIBLE_WEIGHT = 1e-6
"""Grid points weighing less than this (relative to the total) are not evaluated."""
MISLABEL_PROBABILITY = 0.01
"""Chance that an anchor's known grade is simply wrong, in the SE-scale likelihood."""

_MIN_SPREAD = 1e-12
"""Floor of a CDF's scale: a point mass exactly on a boundary counts as half on each side
of it rather than dividing by zero."""
_MIN_SHARE = 1e-12
"""Floor of a grade's population share when priors re-weight it (a share can underflow)."""


class ProjectionStatus(enum.StrEnum):
    """Whether grades were projected, and if not, why."""

    PROJECTED = "projected"
    ONLY_ANCHORS = "only_anchors"
    """Calibrated, but every essay is an anchor: there was nothing to project."""
    NO_ANCHORS = "no_anchors"
    ONE_ANCHOR_GRADE = "one_anchor_grade"
    """Anchors of fewer than two distinct grades cannot fix a scale."""
    ANCHORS_NOT_SEPARATED = "anchors_not_separated"
    """After isotonic pooling every anchored grade has the same centre."""

    @property
    def explanation(self) -> str:
        """One sentence for results and events."""
        return _EXPLANATIONS[self]


_EXPLANATIONS = {
    ProjectionStatus.PROJECTED: "grades projected from the anchors",
    ProjectionStatus.ONLY_ANCHORS: "every essay is an anchor and keeps its known grade",
    ProjectionStatus.NO_ANCHORS: "no anchors: grades cannot be projected",
    ProjectionStatus.ONE_ANCHOR_GRADE: (
        "anchors of fewer than two distinct grades: the scale cannot be calibrated"
    ),
    ProjectionStatus.ANCHORS_NOT_SEPARATED: (
        "the anchors' scores do not separate their grades (lower grades scored as high as "
        "higher ones): the scale cannot be calibrated"
    ),
}


@dataclass(frozen=True)
class GradeGeometry:
    """Where the grades lie on the score scale, as located by a set of anchors."""

    centres: FloatArray
    """One per grade, non-decreasing."""
    centre_sds: FloatArray
    spreads: FloatArray
    """SD of a grade's anchors' scores (pooled for grades with one anchor or none)."""
    boundaries: FloatArray
    """``boundaries[k]`` separates grade k from grade k + 1."""
    boundary_sds: FloatArray
    anchor_counts: IntArray


@dataclass(frozen=True)
class Calibration:
    """The grades of one batch's score scale and how uncertain its essays' scores are."""

    scale: GradeScale
    geometry: GradeGeometry
    se_scales: FloatArray
    """SE factors (>= 1) averaged over, those with negligible weight dropped."""
    se_scale_weights: FloatArray
    """How well each factor predicted the anchors' grades (sums to 1)."""
    population_means: FloatArray
    population_sds: FloatArray
    """Estimated SD of the true scores under each factor: the prior that pulls imprecise
    essays inwards."""
    population_shrinkage: bool = True
    """Whether step 5 pulls essays towards the population mean (off for ``posterior``
    scores)."""

    @property
    def se_scale(self) -> float:
        """The anchors' average verdict on how much the SEs understate the error."""
        return float(self.se_scale_weights @ self.se_scales)

    def as_json(self) -> dict[str, Any]:
        geometry = self.geometry
        return {
            "grades": list(self.scale.grades),
            "centres": _floats(geometry.centres),
            "centre_sds": _floats(geometry.centre_sds),
            "spreads": _floats(geometry.spreads),
            "anchor_counts": [int(c) for c in geometry.anchor_counts],
            "boundaries": _floats(geometry.boundaries),
            "boundary_sds": _floats(geometry.boundary_sds),
            "se_scale": self.se_scale,
            "population_sd": float(self.se_scale_weights @ self.population_sds),
        }


@dataclass(frozen=True)
class GradeProjection:
    """Grades of every essay of a batch, indexed as the scores."""

    status: ProjectionStatus
    calibration: Calibration | None
    probabilities: FloatArray | None
    """(essays, grades); None without a calibration. Anchor rows are one-hot."""
    grades: IntArray
    """Reported grade index: the known one for anchors, else the most probable or NO_GRADE."""
    projected: IntArray
    """The calibration's most probable grade for every essay, anchors included (NO_GRADE
    without a calibration)."""
    confidence: FloatArray
    """Probability of the reported grade (1 for anchors); NaN without a grade."""


def project_grades(
    scores: FloatArray,
    standard_errors: FloatArray,
    anchor_grades: IntArray,
    scale: GradeScale,
    *,
    posterior: bool = False,
) -> GradeProjection:
    """Grade every essay; ``anchor_grades`` holds a scale index per anchor, NO_GRADE otherwise.

    Pass ``posterior=True`` for scores and SEs of the hierarchical fit
    (``PriorMode.EMPIRICAL_BAYES``, the default): they are posterior modes and SDs under the
    batch's own population prior already, so steps 4 and 5 are skipped (no SE scale, no
    second pull towards the mean). Measured (true SD 1.5, information pairing, K 20, seeds
    100-119): with both steps, exact-band agreement 0.625, top-grade ECE 0.047 and
    confidence 0.7-0.8 right 0.86 of the time (under-confident; the anchors still put the
    SE scale at 1.07-1.19); without them 0.649, 0.032 and 0.78.
    """
    scores = np.asarray(scores, dtype=np.float64)
    standard_errors = np.asarray(standard_errors, dtype=np.float64)
    anchor_grades = np.asarray(anchor_grades, dtype=np.intp)
    if not scores.shape == standard_errors.shape == anchor_grades.shape:
        raise ValueError("scores, standard_errors and anchor_grades must have the same shape")
    if np.any((anchor_grades < NO_GRADE) | (anchor_grades >= len(scale.grades))):
        raise ValueError(f"anchor grades must be scale indices 0..{len(scale.grades) - 1}")
    is_anchor = anchor_grades != NO_GRADE
    calibration = calibrate(scores, standard_errors, anchor_grades, scale, posterior=posterior)
    if isinstance(calibration, ProjectionStatus):
        return GradeProjection(
            status=calibration,
            calibration=None,
            probabilities=None,
            grades=anchor_grades.copy(),
            projected=np.full(scores.size, NO_GRADE, dtype=np.intp),
            confidence=np.where(is_anchor, 1.0, np.nan),
        )
    computed = grade_probabilities(scores, standard_errors, calibration)
    projected = np.argmax(computed, axis=1).astype(np.intp)
    grades = np.where(is_anchor, anchor_grades, projected).astype(np.intp)
    probabilities = computed.copy()
    probabilities[is_anchor] = 0.0
    probabilities[np.flatnonzero(is_anchor), anchor_grades[is_anchor]] = 1.0
    return GradeProjection(
        status=ProjectionStatus.PROJECTED if (~is_anchor).any() else ProjectionStatus.ONLY_ANCHORS,
        calibration=calibration,
        probabilities=probabilities,
        grades=grades,
        projected=projected,
        confidence=probabilities[np.arange(scores.size), grades],
    )


def calibrate(
    scores: FloatArray,
    standard_errors: FloatArray,
    anchor_grades: IntArray,
    scale: GradeScale,
    *,
    posterior: bool = False,
) -> Calibration | ProjectionStatus:
    """Locate the grades from the anchors and measure the SE scale (module docstring)."""
    n_grades = len(scale.grades)
    is_anchor = anchor_grades != NO_GRADE
    if not is_anchor.any():
        return ProjectionStatus.NO_ANCHORS
    anchors = np.flatnonzero(is_anchor)
    geometry = locate_grades(
        scores[anchors], standard_errors[anchors], anchor_grades[anchors], n_grades
    )
    if isinstance(geometry, ProjectionStatus):
        return geometry
    log_likelihood, priors = _se_scale_evidence(
        scores, standard_errors, anchors, anchor_grades[anchors], scale, not posterior
    )
    weights = np.exp(log_likelihood - log_likelihood.max())
    if posterior:
        weights = (SE_SCALES == 1.0).astype(np.float64)
    weights /= weights.sum()
    kept = weights >= _NEGLIGIBLE_WEIGHT
    return Calibration(
        scale=scale,
        geometry=geometry,
        se_scales=SE_SCALES[kept],
        se_scale_weights=weights[kept] / weights[kept].sum(),
        population_means=priors[kept, 0],
        population_sds=priors[kept, 1],
        population_shrinkage=not posterior,
    )


def grade_probabilities(
    scores: FloatArray, standard_errors: FloatArray, calibration: Calibration
) -> FloatArray:
    """P(grade) per essay and grade (rows sum to 1), as the module docstring derives."""
    geometry = calibration.geometry
    total = np.zeros((scores.size, len(calibration.scale.grades)))
    for factor, weight, mean, sd in zip(
        calibration.se_scales,
        calibration.se_scale_weights,
        calibration.population_means,
        calibration.population_sds,
        strict=True,
    ):
        total += weight * _probabilities(
            scores,
            factor * standard_errors,
            geometry.boundaries,
            geometry.boundary_sds,
            float(mean),
            float(sd),
            calibration.scale.priors,
            calibration.population_shrinkage,
        )
    return total


def locate_grades(
    anchor_scores: FloatArray,
    anchor_standard_errors: FloatArray,
    anchor_grades: IntArray,
    n_grades: int,
) -> GradeGeometry | ProjectionStatus:
    """Centres, spreads and boundaries of every grade from the anchors (steps 1-3)."""
    counts = np.bincount(anchor_grades, minlength=n_grades).astype(np.intp)
    anchored = np.flatnonzero(counts)
    if anchored.size < 2:
        return ProjectionStatus.ONE_ANCHOR_GRADE
    weights = counts[anchored].astype(np.float64)
    sums = np.bincount(anchor_grades, weights=anchor_scores, minlength=n_grades)
    means: FloatArray = sums[anchored].astype(np.float64) / weights
    fitted = isotonic_increasing(means, weights)
    span = float(fitted[-1] - fitted[0])
    if span <= 0.0:
        return ProjectionStatus.ANCHORS_NOT_SEPARATED
    positions = np.arange(n_grades)
    step = span / float(anchored[-1] - anchored[0])
    centres = np.interp(positions, anchored, fitted)
    centres = np.where(
        positions < anchored[0], fitted[0] - (anchored[0] - positions) * step, centres
    )
    centres = np.where(
        positions > anchored[-1], fitted[-1] + (positions - anchored[-1]) * step, centres
    )

    squares = np.bincount(
        anchor_grades,
        weights=(anchor_scores - means[np.searchsorted(anchored, anchor_grades)]) ** 2,
        minlength=n_grades,
    )
    freedom = np.maximum(counts - 1, 0).astype(np.float64)
    measurement = float(np.mean(anchor_standard_errors**2))
    if freedom.sum() > 0:
        # Anchors scatter at least by their own SEs, even if a small net ties their scores.
        pooled = max(float(squares.sum() / freedom.sum()), measurement)
    else:  # one anchor per grade: a band a step wide, plus the anchors' own error
        pooled = step**2 / 12.0 + measurement
    variances = (squares + POOLED_SPREAD_WEIGHT * pooled) / (freedom + POOLED_SPREAD_WEIGHT)
    spreads = np.sqrt(variances)

    centre_variances = np.zeros(n_grades)
    centre_variances[anchored] = variances[anchored] / weights
    distance = np.abs(positions[:, None] - anchored[None, :])
    nearest = anchored[np.argmin(distance, axis=1)]
    guessed = centre_variances[nearest] + (distance.min(axis=1) * step / 2.0) ** 2
    centre_variances = np.where(counts > 0, centre_variances, guessed)

    share = spreads[:-1] / (spreads[:-1] + spreads[1:])
    boundaries = centres[:-1] + (centres[1:] - centres[:-1]) * share
    boundary_variances = (1.0 - share) ** 2 * centre_variances[:-1] + share**2 * centre_variances[
        1:
    ]
    return GradeGeometry(
        centres=centres,
        centre_sds=np.sqrt(centre_variances),
        spreads=spreads,
        boundaries=boundaries,
        boundary_sds=np.sqrt(boundary_variances),
        anchor_counts=counts,
    )


def population_prior(scores: FloatArray, standard_errors: FloatArray) -> tuple[float, float]:
    """(mu, tau): maximum marginal likelihood of ``score_i ~ N(mu, tau^2 + SE_i^2)``.

    Unlike ``var(scores) - mean(SE^2)`` it weighs each essay by its precision, so a few
    barely compared essays (SE of several logits) do not wipe out the spread of the rest.
    """
    # Imported here: the database models import this module for ProjectionStatus, and
    # scipy.optimize would add a third of a second to every command-line start.
    from scipy.optimize import minimize_scalar

    if scores.size < 2:
        return (float(scores.mean()) if scores.size else 0.0), 0.0
    variance = standard_errors**2

    def weighted_mean(tau2: float) -> float:
        weights = 1.0 / (tau2 + variance)
        return float(weights @ scores / weights.sum())

    def negative_log_likelihood(tau2: float) -> float:
        total = tau2 + variance
        return float(0.5 * np.sum(np.log(total) + (scores - weighted_mean(tau2)) ** 2 / total))

    best = minimize_scalar(
        negative_log_likelihood,
        bounds=(0.0, float(np.var(scores)) + 1.0),
        method="bounded",
        options={"xatol": 1e-6},
    )
    tau2 = float(best.x)
    if negative_log_likelihood(0.0) <= negative_log_likelihood(tau2):
        tau2 = 0.0
    return weighted_mean(tau2), float(np.sqrt(tau2))


def isotonic_increasing(values: FloatArray, weights: FloatArray) -> FloatArray:
    """Weighted least-squares non-decreasing fit (pool adjacent violators)."""
    means: list[float] = []
    totals: list[float] = []
    sizes: list[int] = []
    for value, weight in zip(values.tolist(), weights.tolist(), strict=True):
        means.append(value)
        totals.append(weight)
        sizes.append(1)
        while len(means) > 1 and means[-2] > means[-1]:
            total = totals[-2] + totals[-1]
            pooled = (means[-2] * totals[-2] + means[-1] * totals[-1]) / total
            size = sizes[-2] + sizes[-1]
            del means[-1], totals[-1], sizes[-1]
            means[-1], totals[-1], sizes[-1] = pooled, total, size
    return np.repeat(np.asarray(means), sizes)


def _se_scale_evidence(
    scores: FloatArray,
    standard_errors: FloatArray,
    anchors: IntArray,
    known: IntArray,
    scale: GradeScale,
    population_shrinkage: bool = True,
) -> tuple[FloatArray, FloatArray]:
    """Per SE scale on the grid: the log-likelihood of the anchors' grades, each left out,
    and the population prior (mu, tau) under that scale.

    Anchors whose removal leaves fewer than two anchored grades say nothing and are
    skipped; with none left every scale is equally likely.
    """
    n_grades = len(scale.grades)
    held_out: list[int] = []
    boundaries: list[FloatArray] = []
    boundary_sds: list[FloatArray] = []
    for k in range(anchors.size):
        others = np.delete(anchors, k)
        geometry = locate_grades(
            scores[others], standard_errors[others], np.delete(known, k), n_grades
        )
        if isinstance(geometry, GradeGeometry):
            held_out.append(k)
            boundaries.append(geometry.boundaries)
            boundary_sds.append(geometry.boundary_sds)
    rows = np.asarray(held_out, dtype=np.intp)
    essays = anchors[rows]
    log_likelihood = np.zeros(SE_SCALES.size)
    priors = np.zeros((SE_SCALES.size, 2))
    for index, factor in enumerate(SE_SCALES):
        mean, sd = population_prior(scores, factor * standard_errors)
        priors[index] = mean, sd
        if rows.size:
            p = _probabilities(
                scores[essays],
                factor * standard_errors[essays],
                np.vstack(boundaries),
                np.vstack(boundary_sds),
                mean,
                sd,
                scale.priors,
                population_shrinkage,
            )[np.arange(rows.size), known[rows]]
            mixed = MISLABEL_PROBABILITY / n_grades + (1.0 - MISLABEL_PROBABILITY) * p
            log_likelihood[index] = float(np.sum(np.log(mixed)))
    return log_likelihood, priors


def _probabilities(
    scores: FloatArray,
    standard_errors: FloatArray,
    boundaries: FloatArray,
    boundary_sds: FloatArray,
    mean: float,
    tau: float,
    priors: tuple[float, ...] | None,
    population_shrinkage: bool = True,
) -> FloatArray:
    """Steps 5-6 of the module docstring; boundaries are one row, or one row per essay."""
    variance = standard_errors**2
    if population_shrinkage:
        shrink = tau**2 / np.maximum(tau**2 + variance, _MIN_SPREAD)
    else:
        shrink = np.ones_like(variance)
    probabilities = _interval_masses(
        mean + shrink * (scores - mean), shrink * variance, boundaries, boundary_sds
    )
    if priors is None:
        return probabilities
    population = _interval_masses(
        np.full(scores.size, mean), np.full(scores.size, tau**2), boundaries, boundary_sds
    )
    weighted = probabilities * (np.asarray(priors) / np.maximum(population, _MIN_SHARE))
    normalised: FloatArray = weighted / weighted.sum(axis=1, keepdims=True)
    return normalised


def _interval_masses(
    means: FloatArray, variances: FloatArray, boundaries: FloatArray, boundary_sds: FloatArray
) -> FloatArray:
    """P(latent in each grade's interval) for latent ~ N(mean, variance), boundaries uncertain.

    Each exceedance P(latent > boundary_k) is a normal CDF with the boundary's variance
    added; they are forced non-increasing in k (boundaries of very different uncertainty
    could otherwise cross far in the tails) so that every mass is >= 0.
    """
    spread = np.maximum(np.sqrt(variances[:, None] + boundary_sds**2), _MIN_SPREAD)
    exceed = np.minimum.accumulate(ndtr((means[:, None] - boundaries) / spread), axis=1)
    ones = np.ones((means.size, 1))
    masses: FloatArray = -np.diff(np.hstack((ones, exceed, 0.0 * ones)), axis=1)
    return masses


def _floats(values: FloatArray) -> list[float]:
    return [float(v) for v in values]
