"""Metrics on hand-made score sets, and against brute-force references."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tafa_jax.verify import metrics

# Scores on a coarse grid, so that ties between and within groups are common.
_tied = st.lists(
    st.sampled_from([0.0, 0.1, 0.2, 0.25, 0.5, 0.75, 0.9, 1.0]), min_size=1, max_size=25
)
_free = st.lists(st.floats(0.0, 1.0), min_size=1, max_size=25)
_scores = st.one_of(_tied, _free)


# ---------------------------------------------------------------- references


def _auc_pairwise(pos, neg) -> float:
    total = 0.0
    for p in pos:
        for n in neg:
            total += 1.0 if p > n else 0.5 if p == n else 0.0
    return total / (len(pos) * len(neg))


def _rates(pos, neg, t) -> tuple[float, float]:
    """(FPR, TPR) of the rule "positive iff score >= t"."""
    return float(np.mean(np.asarray(neg) >= t)), float(np.mean(np.asarray(pos) >= t))


def _tpr_at_fpr_bruteforce(pos, neg, budget) -> float:
    # Every threshold is equivalent to one of the scores (or to +inf: flag nobody).
    best = 0.0
    for t in [*np.unique(np.concatenate([pos, neg])), np.inf]:
        fpr, tpr = _rates(pos, neg, t)
        if fpr <= budget + 1e-12:
            best = max(best, tpr)
    return best


# ---------------------------------------------------------------- R, U and ARUC


def test_ru_matches_definition_by_loop():
    rng = np.random.default_rng(0)
    pos, neg = rng.uniform(size=13), rng.uniform(size=7)
    taus, r, u = metrics.robustness_uniqueness(pos, neg, n_thresholds=101)
    np.testing.assert_array_equal(taus, np.linspace(0, 1, 101))
    for i, t in enumerate(taus):
        assert r[i] == np.mean(pos >= t)
        assert u[i] == np.mean(neg < t)


def test_aruc_perfect_separation_loses_only_the_first_half_step():
    # R(τ) = 1 everywhere (every 1.0 ≥ τ). U(0) = 0 (no score is < 0) and U(τ) = 1 for τ > 0.
    # So min(R, U) is 0 at τ = 0 and 1 elsewhere: the trapezoid loses half of the first step.
    for n in (1001, 11):
        h = 1.0 / (n - 1)
        got = metrics.aruc([1.0, 1.0, 1.0], [0.0, 0.0], n_thresholds=n)
        assert got == pytest.approx(1.0 - h / 2, abs=1e-12)


def test_aruc_gap_from_02_to_08_is_about_06():
    # Positives all at 0.8005 and negatives all at 0.1995, clear of the grid points (step
    # 0.001): R = 1 up to τ = 0.800 and 0 from 0.801; U = 0 up to 0.199 and 1 from 0.200.
    # min(R, U) is the indicator of (0.1995, 0.8005], whose integral is the gap 0.601; on the
    # grid it is 1 on 0.200 ... 0.800 (600 steps) and 0 at 0.199 and 0.801 (two half steps
    # of ramp), so the trapezoid gives 0.600 + 2 * 0.0005 = 0.601 exactly.
    assert metrics.aruc([0.8005] * 3, [0.1995] * 4) == pytest.approx(0.601, abs=1e-12)


def test_aruc_of_separated_groups_is_difference_of_means():
    # If every negative is below every positive, min(R, U) = U below the gap and R above it,
    # and ∫ R = mean(pos), ∫ (1 - U) = mean(neg); hence ARUC = mean(pos) - mean(neg), up to the
    # grid's discretisation (a fraction of a step per score).
    rng = np.random.default_rng(1)
    pos, neg = rng.uniform(0.8, 1.0, 40), rng.uniform(0.0, 0.2, 30)
    assert metrics.aruc(pos, neg) == pytest.approx(pos.mean() - neg.mean(), abs=1e-3)


def test_aruc_identical_uniform_distributions_is_a_quarter():
    # Both groups at the midpoints (k + 1/2)/1000: at τ = i/1000, 1000 - i scores are ≥ τ,
    # so R(τ) = 1 - τ and U(τ) = τ on the grid, min is the tent min(τ, 1 - τ) with its kink on
    # the grid point 0.5, and the trapezoid is exact: ∫ min(τ, 1 - τ) = 1/4.
    s = (np.arange(1000) + 0.5) / 1000
    assert metrics.aruc(s, s) == pytest.approx(0.25, abs=1e-12)
    assert metrics.roc_auc(s, s) == 0.5


def test_aruc_single_shared_value_is_zero():
    # R = 1 and U = 0 up to the value, R = 0 after: min is 0 everywhere.
    assert metrics.aruc([0.3, 0.3], [0.3]) == 0.0


@settings(max_examples=60, deadline=None)
@given(_scores)
def test_aruc_identical_distributions_at_most_half(s):
    # Identical sets: R(τ) + U(τ) = 1, so min(R, U) ≤ 1/2.
    assert metrics.aruc(s, s) <= 0.5 + 1e-12
    assert metrics.roc_auc(s, s) == pytest.approx(0.5, abs=1e-12)


# ---------------------------------------------------------------- ROC


def test_roc_auc_all_equal_is_half():
    assert metrics.roc_auc([0.4] * 5, [0.4] * 3) == 0.5


def test_roc_auc_hand_example_with_ties():
    # pos {0.9, 0.5}, neg {0.5, 0.1}: pairs (0.9,0.5)=1, (0.9,0.1)=1, (0.5,0.5)=½, (0.5,0.1)=1.
    assert metrics.roc_auc([0.9, 0.5], [0.5, 0.1]) == pytest.approx(3.5 / 4)


@settings(max_examples=100, deadline=None)
@given(_scores, _scores)
def test_roc_auc_matches_pairwise_loop(pos, neg):
    assert metrics.roc_auc(pos, neg) == pytest.approx(_auc_pairwise(pos, neg), abs=1e-12)


@settings(max_examples=60, deadline=None)
@given(_scores, _scores)
def test_roc_curve_area_is_auc_and_points_are_rates(pos, neg):
    fpr, tpr = metrics.roc_curve(pos, neg)
    assert (fpr[0], tpr[0]) == (0.0, 0.0)
    assert (fpr[-1], tpr[-1]) == (1.0, 1.0)
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0)
    area = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))
    assert area == pytest.approx(metrics.roc_auc(pos, neg), abs=1e-12)
    thresholds = np.unique(np.concatenate([pos, neg]))[::-1]
    for i, t in enumerate(thresholds):
        assert (fpr[i + 1], tpr[i + 1]) == _rates(pos, neg, t)


def test_roc_auc_accepts_scores_outside_unit_interval():
    assert metrics.roc_auc([2.0, 3.0], [-1.0]) == 1.0


# ---------------------------------------------------------------- TPR at FPR and calibration


def test_tpr_at_fpr_cannot_split_ties():
    pos = [0.5, 0.5, 0.9]
    # 10 negatives, one at 0.5: 5% of 10 is 0.5, so no negative may be flagged; t must exceed
    # 0.5 and only the 0.9 positive is caught.
    neg_one_high = [0.1] * 9 + [0.5]
    assert metrics.tpr_at_fpr(pos, neg_one_high, 0.05) == pytest.approx(1 / 3)
    # 10% allows one negative: t = 0.5 flags exactly that one, and every positive.
    assert metrics.tpr_at_fpr(pos, neg_one_high, 0.10) == 1.0
    # Two negatives tied at 0.5: flagging one means flagging both (20% > 10%), so t > 0.5.
    neg_two_high = [0.1] * 8 + [0.5, 0.5]
    assert metrics.tpr_at_fpr(pos, neg_two_high, 0.10) == pytest.approx(1 / 3)
    assert metrics.tpr_at_fpr(pos, neg_two_high, 0.20) == 1.0
    # Any budget: everything may be flagged.
    assert metrics.tpr_at_fpr(pos, neg_two_high, 1.0) == 1.0


def test_tpr_at_fpr_budget_is_not_lost_to_rounding():
    # 0.29 * 100 is 28.999999999999996 in floating point; 29 false positives are allowed.
    neg = np.arange(100) / 100  # 0.00 ... 0.99
    pos = [0.705]
    # At 29% the top 29 negatives (0.71 ... 0.99) may be flagged but not 0.70, so t is just
    # above 0.70 and the positive 0.705 is caught. At 28%, t is just above 0.71: it is missed.
    assert metrics.calibrate_threshold(neg, 0.29) == np.nextafter(0.70, np.inf)
    assert metrics.tpr_at_fpr(pos, neg, 0.29) == 1.0
    assert metrics.tpr_at_fpr(pos, neg, 0.28) == 0.0


@settings(max_examples=100, deadline=None)
@given(_scores, _scores, st.sampled_from([0.0, 0.01, 0.05, 0.1, 0.2, 0.34, 0.5, 1.0]))
def test_tpr_at_fpr_matches_bruteforce(pos, neg, budget):
    assert metrics.tpr_at_fpr(pos, neg, budget) == pytest.approx(
        _tpr_at_fpr_bruteforce(pos, neg, budget), abs=1e-12
    )


@settings(max_examples=100, deadline=None)
@given(_scores, st.sampled_from([0.0, 0.01, 0.05, 0.1, 0.25, 0.5, 0.99]))
def test_calibrated_threshold_is_smallest_admissible(neg, budget):
    t = metrics.calibrate_threshold(neg, budget)
    fpr_at = lambda thr: float(np.mean(np.asarray(neg) >= thr))
    assert fpr_at(t) <= budget + 1e-12
    if np.isfinite(t):
        # The next float down is no longer admissible.
        assert fpr_at(np.nextafter(t, -np.inf)) > budget


def test_calibrate_threshold_hand_example():
    # 8 negatives at 0.1 and 2 at 0.5, 10% allowed: the 0.5s cannot be split, so t just above.
    neg = [0.1] * 8 + [0.5, 0.5]
    assert metrics.calibrate_threshold(neg, 0.1) == np.nextafter(0.5, np.inf)
    # 20% allowed: both 0.5s may be flagged, but not the 0.1s.
    assert metrics.calibrate_threshold(neg, 0.2) == np.nextafter(0.1, np.inf)
    assert metrics.calibrate_threshold(neg, 1.0) == -np.inf


# ---------------------------------------------------------------- summary


def test_summarize_fields():
    s = metrics.summarize([1.0, 0.9, 0.95], [0.0, 0.1])
    assert set(s) == {"aruc", "roc_auc", "tpr_at_1fpr", "tpr_at_5fpr", "n_pos", "n_neg"}
    assert (s["n_pos"], s["n_neg"]) == (3, 2)
    assert s["roc_auc"] == 1.0 and s["tpr_at_1fpr"] == 1.0 and s["tpr_at_5fpr"] == 1.0
    assert isinstance(s["n_pos"], int) and isinstance(s["aruc"], float)


# ---------------------------------------------------------------- binomial p-value


def _binom_tail_exact(k, n, p) -> float:
    p = Fraction(p)
    return float(sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k, n + 1)))


def test_binomial_p_value_hand_values():
    assert metrics.binomial_p_value(10, 10, 0.5) == pytest.approx(1 / 1024, rel=1e-12)
    assert metrics.binomial_p_value(0, 10, 0.3) == 1.0
    # P(X ≥ 9) for Bin(10, ½) = (10 + 1) / 1024.
    assert metrics.binomial_p_value(9, 10, 0.5) == pytest.approx(11 / 1024, rel=1e-12)
    assert metrics.binomial_p_value(1, 10, 0.0) == 0.0
    assert metrics.binomial_p_value(10, 10, 1.0) == 1.0


@pytest.mark.parametrize("n", [1, 7, 40])
@pytest.mark.parametrize("p", [0.01, 0.15, 0.5, 0.9])
def test_binomial_p_value_matches_exact_sum(n, p):
    for k in range(n + 1):
        assert metrics.binomial_p_value(k, n, p) == pytest.approx(
            _binom_tail_exact(k, n, p), rel=1e-10, abs=1e-300
        )


def test_binomial_p_value_tiny_tail_in_log_space():
    # All 1000 pairs matching by chance at p0 = ½ has probability 2^-1000 ≈ 9.3e-302.
    assert metrics.binomial_p_value(1000, 1000, 0.5) == pytest.approx(2.0**-1000, rel=1e-9)


# ---------------------------------------------------------------- invalid inputs


@pytest.mark.parametrize(
    "fn",
    [
        metrics.aruc,
        metrics.roc_auc,
        metrics.roc_curve,
        metrics.summarize,
        metrics.robustness_uniqueness,
        lambda p, n: metrics.tpr_at_fpr(p, n, 0.05),
    ],
)
@pytest.mark.parametrize(
    "pos,neg,match",
    [
        ([], [0.1], "empty"),
        ([0.5], [], "empty"),
        ([0.5, np.nan], [0.1], "NaN"),
        ([0.5], [np.inf], "NaN or infinite"),
        ([[0.5, 0.6]], [0.1], "1-D"),
        (["a"], [0.1], "array of numbers"),
    ],
)
def test_invalid_scores_raise(fn, pos, neg, match):
    with pytest.raises(ValueError, match=match):
        fn(pos, neg)


@pytest.mark.parametrize("fn", [metrics.aruc, metrics.summarize, metrics.robustness_uniqueness])
@pytest.mark.parametrize("pos,neg", [([1.5], [0.1]), ([0.5], [-0.1])])
def test_scores_outside_unit_interval_raise_where_rates_are_required(fn, pos, neg):
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        fn(pos, neg)


def test_other_invalid_arguments_raise():
    with pytest.raises(ValueError, match="fpr"):
        metrics.tpr_at_fpr([0.5], [0.1], 1.5)
    with pytest.raises(ValueError, match="fpr"):
        metrics.calibrate_threshold([0.1], -0.01)
    with pytest.raises(ValueError, match="empty"):
        metrics.calibrate_threshold([], 0.05)
    with pytest.raises(ValueError, match="n_thresholds"):
        metrics.aruc([0.5], [0.1], n_thresholds=1)
    with pytest.raises(ValueError, match="k_matches"):
        metrics.binomial_p_value(11, 10, 0.5)
    with pytest.raises(ValueError, match="n_pairs"):
        metrics.binomial_p_value(0, 0, 0.5)
    with pytest.raises(ValueError, match="p0"):
        metrics.binomial_p_value(1, 10, 1.2)
    with pytest.raises(ValueError, match="integer"):
        metrics.binomial_p_value(1.5, 10, 0.2)
