"""odin_core.foundation.stats against published values (Newcombe 1998, R) and hand computations."""

import math
import random
from fractions import Fraction
from statistics import NormalDist

import pytest

from odin_core.foundation.stats import (
    bootstrap_interval,
    format_interval,
    holm,
    macro_accuracy,
    mcnemar_exact,
    mean_std,
    minimum_detectable_difference,
    paired_outcomes,
    significance_marker,
    wilson_interval,
)

Z975 = NormalDist().inv_cdf(0.975)  # 1.959964

# --- wilson_interval --------------------------------------------------------------------


# Newcombe RG (1998), "Two-sided confidence intervals for the single proportion:
# comparison of seven methods", Stat Med 17:857-872, Table II, method 3 (Wilson score
# without continuity correction), 95%: the paper's four worked examples.
@pytest.mark.parametrize("successes, n, low, high", [
    (81, 263, 0.2553, 0.3662),
    (15, 148, 0.0624, 0.1605),
    (0, 20, 0.0, 0.1611),
    (1, 29, 0.0061, 0.1718),
])
def test_wilson_matches_newcombe_1998(successes, n, low, high):
    got = wilson_interval(successes, n)
    assert got == pytest.approx((low, high), abs=5e-5)


def test_wilson_closed_forms_at_the_edges():
    # For x = 0 the Wilson bounds are 0 and z^2 / (n + z^2) (the centre equals the half-width);
    # 0/10 at 95%: 1.959964^2 / (10 + 1.959964^2) = 3.841459 / 13.841459 = 0.27753.
    low, high = wilson_interval(0, 10)
    assert low == 0.0
    assert high == pytest.approx(Z975 ** 2 / (10 + Z975 ** 2), rel=1e-12)
    assert high == pytest.approx(0.27753, abs=1e-5)
    # Symmetry: the interval for n - x is the mirror image of the one for x.
    low, high = wilson_interval(10, 10)
    assert (low, high) == pytest.approx((1 - 0.27753, 1.0), abs=1e-5)
    assert high == 1.0
    a, b = wilson_interval(81, 263)
    c, d = wilson_interval(263 - 81, 263)
    assert (c, d) == pytest.approx((1 - b, 1 - a), abs=1e-12)


def test_wilson_half_is_symmetric_around_one_half():
    # x/n = 1/2: centre 0.5, half-width z/(1 + z^2/n) * sqrt(1/(4n) + z^2/(4n^2)).
    # n = 100: 1.959964/1.038415 * sqrt(0.0025 + 0.0000960) = 1.887457 * 0.050951 = 0.096168.
    low, high = wilson_interval(50, 100)
    assert (low + high) / 2 == pytest.approx(0.5, abs=1e-12)
    assert (high - low) / 2 == pytest.approx(0.096168, abs=1e-5)


def test_wilson_no_data_and_confidence():
    assert wilson_interval(0, 0) == (0.0, 1.0)
    narrow, wide = wilson_interval(30, 100, 0.90), wilson_interval(30, 100, 0.99)
    assert wide[0] < narrow[0] < 0.3 < narrow[1] < wide[1]


def test_wilson_contains_the_point_estimate_and_stays_in_0_1():
    for n in (1, 2, 7, 50, 1000):
        for successes in range(0, n + 1, max(1, n // 25)):
            low, high = wilson_interval(successes, n)
            assert 0.0 <= low <= successes / n <= high <= 1.0


@pytest.mark.parametrize("successes, n", [(-1, 10), (11, 10), (0, -1), (2.5, 10), (True, 10)])
def test_wilson_rejects_bad_counts(successes, n):
    with pytest.raises(ValueError):
        wilson_interval(successes, n)


@pytest.mark.parametrize("confidence", [0.0, 1.0, 1.5, -0.1])
def test_wilson_rejects_bad_confidence(confidence):
    with pytest.raises(ValueError):
        wilson_interval(5, 10, confidence)


# --- mcnemar_exact -------------------------------------------------------------------------


def test_mcnemar_exact_hand_computed():
    # b=1, c=9: 2 * (C(10,0) + C(10,1)) / 2^10 = 2 * 11 / 1024 = 0.021484375 (R: binom.test(1, 10) -> 0.02148).
    assert mcnemar_exact(1, 9) == pytest.approx(22 / 1024, rel=1e-15)
    assert mcnemar_exact(9, 1) == mcnemar_exact(1, 9)
    # b=5, c=15: 2 * (1 + 20 + 190 + 1140 + 4845 + 15504) / 2^20 = 43400 / 1048576 = 0.041389
    # (R: binom.test(5, 20) -> p-value = 0.04139).
    assert mcnemar_exact(5, 15) == pytest.approx(43400 / 2 ** 20, rel=1e-15)
    # b=0, c=6: 2 / 2^6 = 0.03125; b=0, c=5: 2 / 32 = 0.0625 (five discordant pairs never reach 0.05).
    assert mcnemar_exact(0, 6) == pytest.approx(0.03125, rel=1e-15)
    assert mcnemar_exact(0, 5) == pytest.approx(0.0625, rel=1e-15)


def test_mcnemar_exact_caps_at_one():
    assert mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(7, 7) == 1.0   # 2 * P(X <= 7 | n=14) = 2 * (1/2 + C(14,7)/2^15) > 1
    assert mcnemar_exact(1, 0) == 1.0   # 2 * 1/2
    assert mcnemar_exact(4, 5) == 1.0   # 2 * P(X <= 4 | n=9) = 2 * 1/2


def test_mcnemar_exact_equals_the_full_binomial_sum():
    # The implementation stops summing once the rest is < 2^-64 of the total; compare
    # against the complete sum in exact rationals.
    rng = random.Random(1)
    cases = [(rng.randrange(0, 1200), rng.randrange(0, 1200)) for _ in range(25)] + [(0, 1), (3, 4), (300, 300)]
    for b, c in cases:
        n, m = b + c, min(b, c)
        exact = min(Fraction(1), Fraction(2 * sum(math.comb(n, k) for k in range(m + 1)), 2 ** n))
        assert mcnemar_exact(b, c) == pytest.approx(float(exact), rel=1e-14, abs=0.0)


def test_mcnemar_exact_large_n_does_not_overflow():
    # n = 100000 discordant rows: agrees with the continuity-corrected normal approximation
    # z = (|b - c| - 1) / sqrt(b + c) = 999 / 316.228 = 3.1591, 2 * (1 - Phi(z)) = 0.001583.
    p = mcnemar_exact(49500, 50500)
    z = (1000 - 1) / math.sqrt(100000)
    assert p == pytest.approx(2 * (1 - NormalDist().cdf(z)), rel=0.01)
    assert mcnemar_exact(50000, 50000) == 1.0
    assert mcnemar_exact(0, 100000) == 0.0            # 2 / 2^100000 underflows to 0.0
    assert 0.0 < mcnemar_exact(48000, 52000) < 1e-30   # z ~ 12.6: tiny but representable


@pytest.mark.parametrize("b, c", [(-1, 3), (2, -1), (1.5, 2), (True, 3)])
def test_mcnemar_rejects_bad_counts(b, c):
    with pytest.raises(ValueError):
        mcnemar_exact(b, c)


# --- paired_outcomes -------------------------------------------------------------------------


def test_paired_outcomes_counts_and_test():
    # 20 rows: 6 both right, 1 only A, 9 only B, 4 neither.
    kinds = ["both"] * 6 + ["only_a"] * 1 + ["only_b"] * 9 + ["neither"] * 4
    a = {f"r{i}": kind in ("both", "only_a") for i, kind in enumerate(kinds)}
    b = {f"r{i}": kind in ("both", "only_b") for i, kind in enumerate(kinds)}
    b = dict(reversed(list(b.items())))  # order of the ids must not matter
    result = paired_outcomes(a, b)
    assert result == {
        "n": 20, "both": 6, "only_a": 1, "only_b": 9, "neither": 4,
        "p_value": pytest.approx(22 / 1024),      # mcnemar_exact(1, 9), see above
        "difference": pytest.approx(-0.4),        # acc_a 7/20 - acc_b 15/20 = -8/20
    }


def test_paired_outcomes_identical_systems():
    a = {"x": True, "y": False, "z": True}
    assert paired_outcomes(a, dict(a)) == {
        "n": 3, "both": 2, "only_a": 0, "only_b": 0, "neither": 1, "p_value": 1.0, "difference": 0.0,
    }
    assert paired_outcomes({}, {})["n"] == 0


def test_paired_outcomes_rejects_different_rows():
    with pytest.raises(ValueError, match=r"2 rows only in a, 1 rows only in b"):
        paired_outcomes({"x": True, "y": True, "z": False}, {"x": True, "w": False})


# --- holm ------------------------------------------------------------------------------------


def test_holm_hand_computed():
    # Sorted 0.01, 0.03, 0.04 -> 3*0.01 = 0.03, 2*0.03 = 0.06, max(1*0.04, 0.06) = 0.06
    # (R: p.adjust(c(0.01, 0.04, 0.03), "holm") -> 0.03 0.06 0.06).
    adjusted = holm({"a": 0.01, "b": 0.04, "c": 0.03})
    assert list(adjusted) == ["a", "b", "c"]
    assert adjusted == pytest.approx({"a": 0.03, "b": 0.06, "c": 0.06})
    # 0.01..0.05: 5*.01 = .05, 4*.02 = .08, 3*.03 = .09, max(2*.04, .09) = .09, max(.05, .09) = .09
    # (R: p.adjust(c(0.01, 0.02, 0.03, 0.04, 0.05), "holm") -> 0.05 0.08 0.09 0.09 0.09).
    adjusted = holm({"e": 0.05, "d": 0.04, "c": 0.03, "b": 0.02, "a": 0.01})
    assert adjusted == pytest.approx({"a": 0.05, "b": 0.08, "c": 0.09, "d": 0.09, "e": 0.09})


def test_holm_caps_at_one_and_edge_cases():
    assert holm({"x": 0.6, "y": 0.7}) == {"x": 1.0, "y": 1.0}   # 2*0.6 = 1.2 -> 1
    assert holm({}) == {}
    assert holm({"only": 0.02}) == {"only": 0.02}               # one test: unchanged
    assert holm({"a": 0.02, "b": 0.02}) == {"a": 0.04, "b": 0.04}


def test_holm_is_monotone_and_never_below_the_raw_p():
    rng = random.Random(7)
    raw = {f"t{i}": rng.random() ** 3 for i in range(25)}
    adjusted = holm(raw)
    ordered = sorted(raw, key=raw.get)
    assert all(raw[k] <= adjusted[k] <= 1.0 for k in raw)
    assert all(adjusted[x] <= adjusted[y] for x, y in zip(ordered, ordered[1:]))


def test_holm_rejects_values_outside_0_1():
    with pytest.raises(ValueError):
        holm({"a": 1.2})


# --- bootstrap_interval / macro_accuracy -----------------------------------------------------


def test_macro_accuracy_hand_computed():
    # Group a: 2/4 = 0.5, group b: 1/1 = 1.0 -> macro (0.5 + 1.0) / 2 = 0.75 (micro would be 3/5).
    assert macro_accuracy({"a": [True, True, False, False], "b": [True]}) == 0.75
    with pytest.raises(ValueError):
        macro_accuracy({"a": []})
    with pytest.raises(ValueError):
        macro_accuracy({})


def test_bootstrap_is_deterministic_for_a_seed():
    rng = random.Random(3)
    groups = {task: [rng.random() < 0.6 for _ in range(40)] for task in ("count", "degree", "path")}
    first = bootstrap_interval(groups, macro_accuracy, n_resamples=300, seed=11)
    assert bootstrap_interval(groups, macro_accuracy, n_resamples=300, seed=11) == first
    # Dict insertion order does not change the draws.
    reordered = dict(reversed(list(groups.items())))
    assert bootstrap_interval(reordered, macro_accuracy, n_resamples=300, seed=11) == first
    assert bootstrap_interval(groups, macro_accuracy, n_resamples=300, seed=12) != first


def test_bootstrap_zero_width_when_every_row_is_identical():
    groups = {"a": [True] * 30, "b": [False] * 10}
    assert bootstrap_interval(groups, macro_accuracy, n_resamples=200) == (0.5, 0.5)


def test_bootstrap_resamples_within_each_group():
    seen = []

    def statistic(resampled):
        seen.append(resampled)
        return macro_accuracy(resampled)

    # Group "a" is all right, "b" all wrong: stratified resampling can never mix them,
    # so every resample has the original keys, sizes and per-group values.
    groups = {"a": [True] * 5, "b": [False] * 3}
    bootstrap_interval(groups, statistic, n_resamples=50)
    assert len(seen) == 50
    for resampled in seen:
        assert list(resampled) == ["a", "b"]
        assert resampled["a"] == [True] * 5 and resampled["b"] == [False] * 3


def test_bootstrap_matches_the_normal_interval_for_one_proportion():
    # One group, 200/400 right: the bootstrap distribution of the mean is close to
    # N(0.5, sqrt(0.25/400) = 0.025), so the 95% interval is about 0.5 -/+ 1.96*0.025 = [0.451, 0.549].
    groups = {"all": [True] * 200 + [False] * 200}
    low, high = bootstrap_interval(groups, macro_accuracy, n_resamples=2000, seed=0)
    assert low == pytest.approx(0.5 - Z975 * 0.025, abs=0.01)
    assert high == pytest.approx(0.5 + Z975 * 0.025, abs=0.01)
    assert low < 0.5 < high
    narrow = bootstrap_interval(groups, macro_accuracy, n_resamples=2000, confidence=0.5, seed=0)
    assert low < narrow[0] < 0.5 < narrow[1] < high


def test_bootstrap_contains_the_point_estimate():
    rng = random.Random(5)
    for _ in range(5):
        groups = {t: [rng.random() < rng.random() for _ in range(rng.randrange(20, 60))] for t in "abcd"}
        low, high = bootstrap_interval(groups, macro_accuracy, n_resamples=400, seed=rng.randrange(100))
        assert low <= macro_accuracy(groups) <= high


def test_bootstrap_rejects_bad_arguments():
    with pytest.raises(ValueError):
        bootstrap_interval({}, macro_accuracy)
    with pytest.raises(ValueError):
        bootstrap_interval({"a": [True], "b": []}, macro_accuracy)
    with pytest.raises(ValueError):
        bootstrap_interval({"a": [True]}, macro_accuracy, n_resamples=0)
    with pytest.raises(ValueError):
        bootstrap_interval({"a": [True]}, macro_accuracy, confidence=1.0)


# --- minimum_detectable_difference -----------------------------------------------------------


def test_mde_hand_computed():
    # (z_0.975 + z_0.8) * sqrt(2 * 0.25 / 100) = (1.959964 + 0.841621) * 0.0707107 = 0.198102
    assert minimum_detectable_difference(100) == pytest.approx((1.959964 + 0.841621) * math.sqrt(0.005), rel=1e-6)
    assert minimum_detectable_difference(100) == pytest.approx(0.1981, abs=5e-5)
    # Quadrupling n halves it; p = 0.9 scales it by sqrt(0.09 / 0.25) = 0.6.
    assert minimum_detectable_difference(400) == pytest.approx(minimum_detectable_difference(100) / 2)
    assert minimum_detectable_difference(100, p=0.9) == pytest.approx(0.6 * minimum_detectable_difference(100))
    # alpha = 0.01, power = 0.9: (2.575829 + 1.281552) * sqrt(0.005) = 0.272758
    assert minimum_detectable_difference(100, alpha=0.01, power=0.9) == pytest.approx(
        (2.575829 + 1.281552) * math.sqrt(0.005), rel=1e-6)


def test_mde_without_rows_and_bad_arguments():
    assert minimum_detectable_difference(0) == math.inf
    assert minimum_detectable_difference(-3) == math.inf
    for kwargs in ({"p": 1.5}, {"alpha": 0.0}, {"power": 1.0}):
        with pytest.raises(ValueError):
            minimum_detectable_difference(100, **kwargs)


# --- report helpers ---------------------------------------------------------------------------


def test_mean_std_hand_computed():
    # 2,4,4,4,5,5,7,9: mean 5, squared deviations sum to 32 -> sample sd sqrt(32/7) = 2.138090
    # (the population sd of this classic example is exactly 2).
    mean, std = mean_std([2, 4, 4, 4, 5, 5, 7, 9])
    assert mean == 5.0
    assert std == pytest.approx(math.sqrt(32 / 7), rel=1e-12)
    assert mean_std([0.25]) == (0.25, None)
    assert mean_std([1.0, 1.0, 1.0]) == (1.0, 0.0)
    with pytest.raises(ValueError):
        mean_std([])


def test_format_interval():
    assert format_interval(0.412, 0.588) == "[41.2, 58.8]"
    assert format_interval(0.0, 1.0) == "[0.0, 100.0]"
    low, high = wilson_interval(81, 263)
    assert format_interval(low, high) == "[25.5, 36.6]"


def test_significance_marker():
    assert significance_marker(0.01) == ""
    assert significance_marker(0.05) == ""          # p <= alpha counts as significant
    assert significance_marker(0.0501) == "n.s."
    assert significance_marker(0.02, alpha=0.01) == "n.s."
    # Holm-adjusted 0.06 from the example above is not significant at 0.05.
    assert significance_marker(holm({"a": 0.01, "b": 0.04, "c": 0.03})["b"]) == "n.s."
