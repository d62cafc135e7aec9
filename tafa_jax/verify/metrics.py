"""Evaluation metrics for a fingerprint: R/U curves, ARUC, ROC, calibration, p-values.

Everything here is plain numpy over 1-D score arrays and is pure. A *score* is
what the verifier says about one suspect, usually its matching rate r(g) in
[0, 1]; the decision is "pirated" when ``score >= threshold``.

- ``pos_scores``: shape ``(n_pos,)``, scores of positive (pirated) suspects.
- ``neg_scores``: shape ``(n_neg,)``, scores of negative (independent) suspects.

Definitions (TAFA.md, Evaluation):

- R(τ) = fraction of positives with r ≥ τ (robustness).
- U(τ) = fraction of negatives with r < τ (uniqueness).
- ARUC = ∫₀¹ min(R(τ), U(τ)) dτ by the trapezoid rule on ``n_thresholds`` points.

Ties are never split: a threshold decides every suspect with the same score
the same way, so TPR at a fixed FPR and the calibrated threshold respect ties,
and ROC-AUC counts a tied positive/negative pair as 1/2.
"""

from __future__ import annotations

import math

import numpy as np
from jaxtyping import Float
from numpy.typing import ArrayLike

__all__ = [
    "aruc",
    "binomial_p_value",
    "calibrate_threshold",
    "robustness_uniqueness",
    "roc_auc",
    "roc_curve",
    "summarize",
    "tpr_at_fpr",
]

# Slack when turning an FPR budget into a count of negatives: 0.29 * 100 is
# 28.999999999999996 in floating point, and means 29 false positives.
_COUNT_EPS = 1e-9


def _scores(x: ArrayLike, name: str, *, unit: bool = False) -> Float[np.ndarray, " n"]:
    """Validate a 1-D array of finite scores (in [0, 1] when ``unit``) as float64."""
    try:
        a = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be a 1-D array of numbers; got {x!r} ({err})") from err
    if a.ndim != 1:
        raise ValueError(
            f"{name} must be a 1-D array of scores, one per suspect; got shape {a.shape}. "
            "Flatten it or pass one score per suspect."
        )
    if a.size == 0:
        raise ValueError(f"{name} is empty; at least one score is needed to compute this metric")
    bad = ~np.isfinite(a)
    if bad.any():
        idx = np.flatnonzero(bad)[:5].tolist()
        raise ValueError(
            f"{name} contains {int(bad.sum())} NaN or infinite value(s) (first indices {idx}); "
            "drop failed suspects before computing metrics"
        )
    if unit and (a.min() < 0.0 or a.max() > 1.0):
        raise ValueError(
            f"{name} must lie in [0, 1] (matching rates); got min {a.min():.6g}, max {a.max():.6g}"
        )
    return a


def _fpr_budget(fpr: float) -> float:
    fpr = float(fpr)
    if not (0.0 <= fpr <= 1.0):
        raise ValueError(f"fpr must be a rate in [0, 1]; got {fpr!r}")
    return fpr


def _n_thresholds(n: int) -> int:
    if int(n) != n or n < 2:
        raise ValueError(f"n_thresholds must be an integer >= 2; got {n!r}")
    return int(n)


def robustness_uniqueness(
    pos_scores: ArrayLike, neg_scores: ArrayLike, n_thresholds: int = 1001
) -> tuple[
    Float[np.ndarray, " n_thresholds"],
    Float[np.ndarray, " n_thresholds"],
    Float[np.ndarray, " n_thresholds"],
]:
    """R(τ) and U(τ) on an even grid of thresholds over [0, 1].

    Args:
      pos_scores: shape ``(n_pos,)``, scores of positives, in [0, 1].
      neg_scores: shape ``(n_neg,)``, scores of negatives, in [0, 1].
      n_thresholds: number of grid points, ``taus = linspace(0, 1, n_thresholds)``.

    Returns:
      ``(taus, R, U)``, each of shape ``(n_thresholds,)``: ``R[i]`` is the fraction
      of positives with score ≥ ``taus[i]``, ``U[i]`` the fraction of negatives
      with score < ``taus[i]``.
    """
    pos = np.sort(_scores(pos_scores, "pos_scores", unit=True))
    neg = np.sort(_scores(neg_scores, "neg_scores", unit=True))
    taus = np.linspace(0.0, 1.0, _n_thresholds(n_thresholds))
    # searchsorted(..., "left") counts the scores strictly below each tau.
    below_pos = np.searchsorted(pos, taus, side="left")
    below_neg = np.searchsorted(neg, taus, side="left")
    r = (pos.size - below_pos) / pos.size
    u = below_neg / neg.size
    return taus, r, u


def aruc(pos_scores: ArrayLike, neg_scores: ArrayLike, n_thresholds: int = 1001) -> float:
    """Area under the robustness-uniqueness curve, ∫₀¹ min(R(τ), U(τ)) dτ.

    Computed by the trapezoid rule on ``linspace(0, 1, n_thresholds)``. Perfect
    separation (positives all 1, negatives all 0) gives ``1 - 1 / (2 (n_thresholds - 1))``,
    not 1, because U(0) = 0: no score is below 0.

    Args:
      pos_scores: shape ``(n_pos,)``, scores of positives, in [0, 1].
      neg_scores: shape ``(n_neg,)``, scores of negatives, in [0, 1].
      n_thresholds: number of grid points.

    Returns:
      The ARUC, in [0, 1].
    """
    taus, r, u = robustness_uniqueness(pos_scores, neg_scores, n_thresholds)
    m = np.minimum(r, u)
    return float(np.sum((m[1:] + m[:-1]) * np.diff(taus)) / 2.0)


def roc_auc(pos_scores: ArrayLike, neg_scores: ArrayLike) -> float:
    """ROC-AUC as the Mann-Whitney statistic: P(pos > neg) + ½ P(pos = neg).

    Exact over all ``n_pos * n_neg`` pairs, in ``O((n_pos + n_neg) log n_neg)``.

    Args:
      pos_scores: shape ``(n_pos,)``, finite scores of positives.
      neg_scores: shape ``(n_neg,)``, finite scores of negatives.

    Returns:
      The AUC in [0, 1]; 0.5 when every score is equal.
    """
    pos = _scores(pos_scores, "pos_scores")
    neg = np.sort(_scores(neg_scores, "neg_scores"))
    lower = np.searchsorted(neg, pos, side="left")  # negatives strictly below each positive
    upper = np.searchsorted(neg, pos, side="right")  # ... plus those tied with it
    wins = lower.sum(dtype=np.float64) + 0.5 * (upper - lower).sum(dtype=np.float64)
    return float(wins / (pos.size * neg.size))


def roc_curve(
    pos_scores: ArrayLike, neg_scores: ArrayLike
) -> tuple[Float[np.ndarray, " n_points"], Float[np.ndarray, " n_points"]]:
    """The ROC curve of the rule "positive iff score ≥ t", over every distinct t.

    Points run from (0, 0) (threshold above every score) to (1, 1) (threshold at
    the lowest score). Tied scores move FPR and TPR together in one step, so the
    trapezoid area under the curve equals :func:`roc_auc`.

    Args:
      pos_scores: shape ``(n_pos,)``, finite scores of positives.
      neg_scores: shape ``(n_neg,)``, finite scores of negatives.

    Returns:
      ``(fpr, tpr)``, each of shape ``(n_unique + 1,)``, non-decreasing, where
      ``n_unique`` is the number of distinct scores among all suspects.
    """
    pos = np.sort(_scores(pos_scores, "pos_scores"))
    neg = np.sort(_scores(neg_scores, "neg_scores"))
    thresholds = np.unique(np.concatenate([pos, neg]))[::-1]  # descending
    tpr = (pos.size - np.searchsorted(pos, thresholds, side="left")) / pos.size
    fpr = (neg.size - np.searchsorted(neg, thresholds, side="left")) / neg.size
    return np.concatenate([[0.0], fpr]), np.concatenate([[0.0], tpr])


def _cutoff(neg: np.ndarray, fpr: float) -> float | None:
    """The score v such that "score > v" is the loosest rule with FPR ≤ fpr.

    Returns None when every negative may be flagged (any threshold is allowed).
    """
    allowed = math.floor(fpr * neg.size + _COUNT_EPS)  # negatives we may flag
    if allowed >= neg.size:
        return None
    # The (allowed+1)-th largest negative must not be flagged; neither may any tied with it.
    return float(np.sort(neg)[::-1][allowed])


def calibrate_threshold(neg_scores: ArrayLike, fpr: float) -> float:
    """The smallest threshold t whose empirical FPR on known-independent models is ≤ fpr.

    With the rule "pirated iff score ≥ t", the empirical FPR is the fraction of
    ``neg_scores`` that are ≥ t. If v is the (k+1)-th largest negative score,
    with k = ⌊fpr · n_neg⌋ the number of negatives we may flag, then every t ≤ v
    flags more than k negatives (ties with v cannot be split), and every t > v
    flags at most k. The smallest such float is ``nextafter(v, +inf)``, which is
    what is returned. When ``fpr · n_neg ≥ n_neg`` every threshold qualifies and
    the result is ``-inf``.

    The guarantee is empirical: on new independent models the FPR is only
    estimated, with an uncertainty of order ``1 / sqrt(n_neg)``.

    Args:
      neg_scores: shape ``(n_neg,)``, finite scores of independent models.
      fpr: the allowed false-positive rate, in [0, 1].

    Returns:
      The threshold t (a float, possibly ``-inf``).
    """
    neg = _scores(neg_scores, "neg_scores")
    v = _cutoff(neg, _fpr_budget(fpr))
    if v is None:
        return float("-inf")
    return float(np.nextafter(v, np.inf))


def tpr_at_fpr(pos_scores: ArrayLike, neg_scores: ArrayLike, fpr: float) -> float:
    """The largest TPR of a rule "positive iff score ≥ t" whose FPR is ≤ fpr.

    Ties are not split: a threshold flags every suspect with a given score or
    none of them. Uses the threshold of :func:`calibrate_threshold`, the
    smallest admissible one, hence the largest TPR.

    Args:
      pos_scores: shape ``(n_pos,)``, finite scores of positives.
      neg_scores: shape ``(n_neg,)``, finite scores of negatives.
      fpr: the allowed false-positive rate, in [0, 1].

    Returns:
      The TPR in [0, 1].
    """
    pos = _scores(pos_scores, "pos_scores")
    neg = _scores(neg_scores, "neg_scores")
    v = _cutoff(neg, _fpr_budget(fpr))
    if v is None:
        return 1.0
    return float(np.mean(pos > v))


def summarize(pos_scores: ArrayLike, neg_scores: ArrayLike) -> dict[str, float | int]:
    """The headline metrics of a verifier on one zoo.

    Args:
      pos_scores: shape ``(n_pos,)``, scores of positives, in [0, 1].
      neg_scores: shape ``(n_neg,)``, scores of negatives, in [0, 1].

    Returns:
      ``{"aruc", "roc_auc", "tpr_at_1fpr", "tpr_at_5fpr"}`` as floats and
      ``{"n_pos", "n_neg"}`` as ints.
    """
    pos = _scores(pos_scores, "pos_scores", unit=True)
    neg = _scores(neg_scores, "neg_scores", unit=True)
    return {
        "aruc": aruc(pos, neg),
        "roc_auc": roc_auc(pos, neg),
        "tpr_at_1fpr": tpr_at_fpr(pos, neg, 0.01),
        "tpr_at_5fpr": tpr_at_fpr(pos, neg, 0.05),
        "n_pos": int(pos.size),
        "n_neg": int(neg.size),
    }


def binomial_p_value(k_matches: int, n_pairs: int, p0: float) -> float:
    """One-sided exact binomial p-value P(X ≥ k) for X ~ Bin(n_pairs, p0).

    The null hypothesis is "the suspect is independent, and each of the
    ``n_pairs`` fingerprint pairs matches by chance with probability ``p0``"
    (p0 estimated, for example, as the mean matching rate of independent
    models). Pairs are treated as independent, which they need not be. Summed
    in log space, so it is accurate for large n and tiny p-values.

    Args:
      k_matches: number of matched pairs, ``0 <= k_matches <= n_pairs``.
      n_pairs: number of pairs queried, ``>= 1``.
      p0: chance match probability under the null, in [0, 1].

    Returns:
      P(X ≥ k_matches), in [0, 1].
    """
    for name, v in (("k_matches", k_matches), ("n_pairs", n_pairs)):
        if isinstance(v, bool) or int(v) != v:
            raise ValueError(f"{name} must be an integer; got {v!r}")
    k, n = int(k_matches), int(n_pairs)
    if n < 1:
        raise ValueError(f"n_pairs must be >= 1; got {n}")
    if not (0 <= k <= n):
        raise ValueError(f"k_matches must be in [0, n_pairs={n}]; got {k}")
    p0 = float(p0)
    if not (0.0 <= p0 <= 1.0):
        raise ValueError(f"p0 must be a probability in [0, 1]; got {p0!r}")
    if k == 0 or p0 == 1.0:
        return 1.0
    if p0 == 0.0:
        return 0.0
    log_p, log_q = math.log(p0), math.log1p(-p0)
    terms = [
        math.lgamma(n + 1)
        - math.lgamma(i + 1)
        - math.lgamma(n - i + 1)
        + i * log_p
        + (n - i) * log_q
        for i in range(k, n + 1)
    ]
    top = max(terms)
    total = math.exp(top) * math.fsum(math.exp(t - top) for t in terms)
    return float(min(1.0, total))
