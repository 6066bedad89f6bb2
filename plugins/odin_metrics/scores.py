"""Metric arithmetic, free of models: set overlap, accuracy tallies, ranking scores.

Set conventions (per example, predicted set P, gold set G):
precision = |P∩G|/|P|, recall = |P∩G|/|G|, F1 = 2|P∩G|/(|P|+|G|), Jaccard = |P∩G|/|P∪G|;
a side that is empty makes its ratio 0, except that an empty prediction of an
empty gold set scores 1 on all four. A format error counts as the empty set but
never as a correct empty answer: with an empty gold set it scores 0.
Micro averages pool the counts over examples; macro averages the per-example values.
"""

from __future__ import annotations

from dataclasses import dataclass

from odin_core import FORMAT_ERROR, bootstrap_interval, wilson_interval

#: bootstrap resamples behind each interval of a mean over examples
BOOTSTRAP_RESAMPLES = 1000

OVERLAP_METRICS = ("precision", "recall", "f1", "jaccard")


@dataclass(frozen=True)
class SetScore:
    """Overlap of one predicted vertex set with its gold set."""

    tp: int
    fp: int
    fn: int
    exact: bool
    format_error: bool
    precision: float
    recall: float
    f1: float
    jaccard: float


def set_score(predicted, gold) -> SetScore:
    """Score a parsed prediction (a set, or ``FORMAT_ERROR``) against the gold set."""
    format_error = predicted is FORMAT_ERROR
    pred = set() if format_error else set(predicted)
    gold = set(gold)
    tp, fp, fn = len(pred & gold), len(pred - gold), len(gold - pred)
    if not pred and not gold:
        value = 0.0 if format_error else 1.0
        return SetScore(0, 0, 0, not format_error, format_error, value, value, value, value)
    precision = tp / len(pred) if pred else 0.0
    recall = tp / len(gold) if gold else 0.0
    f1 = 2 * tp / (len(pred) + len(gold))
    jaccard = tp / len(pred | gold)
    return SetScore(tp, fp, fn, (not format_error) and pred == gold, format_error, precision, recall, f1, jaccard)


def _ratio(num: float, den: float, empty: float) -> float:
    return num / den if den else empty


def summarize_sets(scores: list[SetScore]) -> dict:
    """Exact match, format errors, and micro and macro precision/recall/F1/Jaccard of many set scores."""
    n = len(scores)
    if n == 0:
        return {"n": 0}
    tp = sum(s.tp for s in scores)
    fp = sum(s.fp for s in scores)
    fn = sum(s.fn for s in scores)
    # pooled counts of nothing at all: perfect only if every example was a correct empty answer
    empty = 1.0 if all(s.exact for s in scores) else 0.0
    micro_p = _ratio(tp, tp + fp, empty if tp + fn == 0 else 0.0)
    micro_r = _ratio(tp, tp + fn, empty if tp + fp == 0 else 0.0)
    micro = {"precision": micro_p, "recall": micro_r, "f1": _ratio(2 * tp, 2 * tp + fp + fn, empty),
             "jaccard": _ratio(tp, tp + fp + fn, empty)}
    macro = {name: sum(getattr(s, name) for s in scores) / n for name in OVERLAP_METRICS}
    # 95% bootstrap intervals (over examples) of the macro F1 and Jaccard
    for name in ("f1", "jaccard"):
        macro[f"{name}_ci95"] = list(bootstrap_interval({"all": [getattr(s, name) for s in scores]}, _mean_of_all,
                                                        n_resamples=BOOTSTRAP_RESAMPLES))
    exact = sum(s.exact for s in scores)
    return {"n": n, "exact_match": exact / n, "exact_match_ci95": list(wilson_interval(exact, n)),
            "format_errors": sum(s.format_error for s in scores), "micro": micro, "macro": macro}


def _mean_of_all(groups) -> float:
    values = groups["all"]
    return sum(values) / len(values)


def tally(correct: list[bool], format_errors: list[bool]) -> dict:
    """n, correct, accuracy and format errors of a group of examples."""
    n = len(correct)
    hits = sum(correct)
    return {"n": n, "correct": hits, "accuracy": hits / n if n else None,
            "ci95": list(wilson_interval(hits, n)) if n else None, "format_errors": sum(format_errors)}


def ranking_scores(labels: list[bool], scores: list[float]) -> dict:
    """AUROC and average precision (positive class: True) with scikit-learn; None when a class is missing."""
    positives = sum(1 for y in labels if y)
    negatives = len(labels) - positives
    result = {"positives": positives, "negatives": negatives, "auroc": None, "average_precision": None}
    if positives == 0 or negatives == 0:
        return result
    from sklearn.metrics import average_precision_score, roc_auc_score

    y = [1 if label else 0 for label in labels]
    result["auroc"] = float(roc_auc_score(y, scores))
    result["average_precision"] = float(average_precision_score(y, scores))
    # 95% bootstrap interval of the AUROC, positives and negatives resampled apart (both classes always present)
    pos = [s for s, label in zip(scores, labels) if label]
    neg = [s for s, label in zip(scores, labels) if not label]
    result["auroc_ci95"] = list(bootstrap_interval({"pos": pos, "neg": neg}, _auroc, n_resamples=200))
    return result


def _auroc(groups) -> float:
    """AUROC as the probability that a positive outscores a negative (ties count half)."""
    pos, neg = sorted(groups["pos"]), sorted(groups["neg"])
    from bisect import bisect_left, bisect_right

    wins = sum(bisect_left(neg, p) + 0.5 * (bisect_right(neg, p) - bisect_left(neg, p)) for p in pos)
    return wins / (len(pos) * len(neg))
