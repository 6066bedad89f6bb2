"""Statistics for Odin's reports: intervals, paired tests, multiple-comparison
correction, stratified bootstrap and power, using the standard library only.

* ``wilson_interval``: confidence interval for one accuracy.
* ``mcnemar_exact`` / ``paired_outcomes``: two systems scored on the same rows.
* ``holm``: Holm–Bonferroni adjustment for several comparisons at once.
* ``bootstrap_interval`` / ``macro_accuracy``: percentile bootstrap, resampling
  rows within each group (e.g. per task).
* ``minimum_detectable_difference``: how large a difference n rows can detect.
* ``mean_std``, ``format_interval``, ``significance_marker``: report helpers.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping, Sequence
from statistics import NormalDist

__all__ = [
    "wilson_interval",
    "mcnemar_exact",
    "paired_outcomes",
    "holm",
    "bootstrap_interval",
    "macro_accuracy",
    "minimum_detectable_difference",
    "mean_std",
    "format_interval",
    "significance_marker",
]


def _check_probability(name: str, value: float) -> None:
    if not 0.0 < value < 1.0:
        raise ValueError(f"{name} must be strictly between 0 and 1, got {value!r}")


def _z(probability: float) -> float:
    """The standard normal quantile at ``probability``."""
    return NormalDist().inv_cdf(probability)


# --- one proportion ------------------------------------------------------------


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for the proportion ``successes / n``.

    With ``n == 0`` nothing is known and the interval is ``(0.0, 1.0)``.
    Raises ValueError unless ``0 <= successes <= n`` and ``0 < confidence < 1``.
    """
    if isinstance(successes, bool) or isinstance(n, bool) or int(successes) != successes or int(n) != n:
        raise ValueError(f"successes and n must be integers, got {successes!r} and {n!r}")
    if n < 0 or not 0 <= successes <= n:
        raise ValueError(f"need 0 <= successes <= n, got successes={successes!r}, n={n!r}")
    _check_probability("confidence", confidence)
    if n == 0:
        return (0.0, 1.0)
    z = _z(0.5 + confidence / 2)
    p = successes / n
    z2n = z * z / n
    denominator = 1 + z2n
    center = (p + z2n / 2) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z2n / (4 * n)) / denominator
    # At 0 and n one bound is exactly 0 or 1; rounding must not push it outside.
    low = 0.0 if successes == 0 else max(0.0, center - half)
    high = 1.0 if successes == n else min(1.0, center + half)
    return (low, high)


# --- paired comparison -----------------------------------------------------------


def _half_binomial_cdf(m: int, n: int) -> float:
    """P(X <= m) for X ~ Binomial(n, 1/2) and 0 <= m <= n / 2, in exact integers.

    Sums C(n, k) from k = m downwards; stops once the remaining terms (bounded by a
    geometric series, since the ratio C(n, k-1) / C(n, k) = k / (n - k + 1) shrinks as
    k falls) are below 2**-64 of the sum, far under double precision. Exact integer
    division keeps this free of overflow for any n (a result below the smallest
    float is 0.0).
    """
    term = math.comb(n, m)
    total = term
    k = m
    while k > 0:
        # remaining sum <= term * r / (1 - r) with r = k / (n - k + 1) = term * k / (n - 2k + 1)
        if (term * k) << 64 < total * (n - 2 * k + 1):
            break
        term = term * k // (n - k + 1)
        total += term
        k -= 1
    return total / (1 << n)


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value from the discordant counts.

    ``b``: rows system A got right and B wrong; ``c``: rows A got wrong and B right.
    A binomial test of ``b`` successes in ``b + c`` trials with p = 1/2:
    ``min(1, 2 * P(X <= min(b, c)))``; 1.0 when there are no discordant rows.
    """
    for name, value in (("b", b), ("c", c)):
        if isinstance(value, bool) or int(value) != value or value < 0:
            raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    b, c = int(b), int(c)
    n = b + c
    if n == 0:
        return 1.0
    return min(1.0, 2 * _half_binomial_cdf(min(b, c), n))


def paired_outcomes(a: Mapping[str, bool], b: Mapping[str, bool]) -> dict:
    """Compare two systems' per-row correctness (keyed by row id) on the same rows.

    Returns ``n`` (rows), the contingency counts ``both``, ``only_a`` (A right, B
    wrong), ``only_b``, ``neither``, the exact McNemar ``p_value`` and
    ``difference`` = accuracy of A minus accuracy of B (0.0 when there are no rows).
    Raises ValueError if the two sides were scored on different row ids.
    """
    only_in_a = a.keys() - b.keys()
    only_in_b = b.keys() - a.keys()
    if only_in_a or only_in_b:
        examples = sorted(map(str, only_in_a | only_in_b))[:3]
        raise ValueError(
            f"the two systems were scored on different rows: {len(only_in_a)} rows only in a, "
            f"{len(only_in_b)} rows only in b (e.g. {', '.join(examples)})"
        )
    counts = {(True, True): 0, (True, False): 0, (False, True): 0, (False, False): 0}
    for row_id, correct_a in a.items():
        counts[(bool(correct_a), bool(b[row_id]))] += 1
    n = len(a)
    only_a, only_b = counts[(True, False)], counts[(False, True)]
    return {
        "n": n,
        "both": counts[(True, True)],
        "only_a": only_a,
        "only_b": only_b,
        "neither": counts[(False, False)],
        "p_value": mcnemar_exact(only_a, only_b),
        # acc_a - acc_b = ((both + only_a) - (both + only_b)) / n
        "difference": (only_a - only_b) / n if n else 0.0,
    }


# --- multiple comparisons ------------------------------------------------------------


def holm(p_values: Mapping[str, float]) -> dict[str, float]:
    """Holm–Bonferroni adjusted p-values (step-down, monotone, capped at 1), same keys.

    The i-th smallest of m p-values becomes ``max_{j <= i} min(1, (m - j + 1) p_(j))``
    (as R's ``p.adjust(p, "holm")``). Compare each adjusted value with alpha.
    """
    for key, p in p_values.items():
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"p-value {key!r} must be in [0, 1], got {p!r}")
    m = len(p_values)
    ordered = sorted(p_values, key=lambda key: p_values[key])
    adjusted: dict[str, float] = {}
    running = 0.0
    for rank, key in enumerate(ordered):
        running = max(running, min(1.0, (m - rank) * p_values[key]))
        adjusted[key] = running
    return {key: adjusted[key] for key in p_values}


# --- bootstrap ------------------------------------------------------------------------


def _quantile(sorted_values: Sequence[float], q: float) -> float:
    """Quantile by linear interpolation between order statistics (R type 7, numpy's default)."""
    position = (len(sorted_values) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(sorted_values) - 1)
    fraction = position - low
    return sorted_values[low] + fraction * (sorted_values[high] - sorted_values[low])


def bootstrap_interval(
    groups: Mapping[str, Sequence],
    statistic: Callable[[dict[str, list]], float],
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Stratified percentile bootstrap interval for ``statistic(groups)``.

    Each resample draws, within every group separately, as many rows as the group
    has, with replacement; ``statistic`` receives a dict of the same shape (same
    keys, lists of rows). The interval is the ``(1 - confidence) / 2`` and
    ``(1 + confidence) / 2`` quantiles of the resampled statistics. Deterministic
    for a given seed (groups are drawn in sorted key order).
    """
    if isinstance(n_resamples, bool) or int(n_resamples) != n_resamples or n_resamples < 1:
        raise ValueError(f"n_resamples must be a positive integer, got {n_resamples!r}")
    _check_probability("confidence", confidence)
    if not groups:
        raise ValueError("bootstrap_interval needs at least one group")
    empty = [key for key, rows in groups.items() if len(rows) == 0]
    if empty:
        raise ValueError(f"cannot resample empty groups: {', '.join(map(str, sorted(empty)))}")
    rows_by_group = {key: list(rows) for key, rows in groups.items()}
    draw_order = sorted(rows_by_group)
    rng = random.Random(seed)
    estimates = []
    for _ in range(int(n_resamples)):
        drawn = {key: rng.choices(rows_by_group[key], k=len(rows_by_group[key])) for key in draw_order}
        estimates.append(float(statistic({key: drawn[key] for key in rows_by_group})))
    estimates.sort()
    tail = (1 - confidence) / 2
    return (_quantile(estimates, tail), _quantile(estimates, 1 - tail))


def macro_accuracy(groups: Mapping[str, Sequence[bool]]) -> float:
    """Mean over groups of each group's accuracy (every group weighs the same)."""
    if not groups:
        raise ValueError("macro_accuracy needs at least one group")
    accuracies = []
    for key, rows in groups.items():
        if len(rows) == 0:
            raise ValueError(f"group {key!r} has no rows")
        accuracies.append(sum(bool(row) for row in rows) / len(rows))
    return math.fsum(accuracies) / len(accuracies)  # fsum: independent of group order


# --- power -------------------------------------------------------------------------------


def minimum_detectable_difference(n: int, p: float = 0.5, alpha: float = 0.05, power: float = 0.8) -> float:
    """Smallest accuracy difference that n rows per system can detect.

    ``(z_{1-alpha/2} + z_{power}) * sqrt(2 p (1 - p) / n)``: a two-sided two-proportion
    z-test at level ``alpha`` with the given power, both accuracies near ``p``.
    Assumes two *independent* samples of n rows; when both systems answer the same
    rows, the paired McNemar test is usually more sensitive, so this is a
    conservative bound. ``n <= 0`` gives ``math.inf``.
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must be in [0, 1], got {p!r}")
    _check_probability("alpha", alpha)
    _check_probability("power", power)
    if n <= 0:
        return math.inf
    return (_z(1 - alpha / 2) + _z(power)) * math.sqrt(2 * p * (1 - p) / n)


# --- report helpers ----------------------------------------------------------------------


def mean_std(values: Sequence[float]) -> tuple[float, float | None]:
    """Mean and sample standard deviation (n - 1 denominator); the deviation is None for one value."""
    values = [float(value) for value in values]
    if not values:
        raise ValueError("mean_std needs at least one value")
    mean = math.fsum(values) / len(values)
    if len(values) == 1:
        return (mean, None)
    variance = math.fsum((value - mean) ** 2 for value in values) / (len(values) - 1)
    return (mean, math.sqrt(variance))


def format_interval(low: float, high: float) -> str:
    """A proportion interval in percent with one decimal, e.g. ``"[41.2, 58.8]"``."""
    return f"[{100 * low:.1f}, {100 * high:.1f}]"


def significance_marker(p_adjusted: float, alpha: float = 0.05) -> str:
    """``""`` when ``p_adjusted <= alpha`` (significant), ``"n.s."`` otherwise."""
    return "" if p_adjusted <= alpha else "n.s."
