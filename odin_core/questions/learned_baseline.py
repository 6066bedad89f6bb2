"""The learned shortcut baseline: a classifier over cheap features of each question, scored like a model.

A hand-written rule list misses the next shortcut; a model fitted on cheap features
of the rows (``odin_core.questions.shortcut_features``: sizes, degrees, components, ids,
source, what the question names) finds what they give away, as adversarial
filtering does for SWAG and AFLite. Per task, two scikit-learn models are trained
on the training split's features and answers (each distinct answer is a class, so
counts, vertex sets and paths are treated like labels) and scored on the evaluated
split: gradient-boosted trees and a logistic regression. The better of the two on
the evaluated split is the task's learned baseline (the stronger adversary; both
are reported). A task is flagged when it beats ``bound_for``: 60% on a balanced
yes/no task, the majority answer's share plus 10 points on any other.

Rows without features (datasets built before builder version 3) are left out; a task
with no such rows, or fewer than ``MIN_TRAIN_ROWS`` training rows, has no entry.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict

from odin_core.foundation.records import decode
from odin_core.foundation.stats import wilson_interval
from odin_core.questions.shortcut_features import FEATURE_NAMES, FEATURES_KEY

MODELS = ("boosted_trees", "logistic")
#: a balanced yes/no task's learned baseline may be right on at most this share of rows
YES_NO_BOUND = 0.60
#: any other task's: the majority answer's share plus this
MARGIN = 0.10
#: a yes/no task whose majority answer is at most this share counts as balanced
BALANCED = 0.55
#: a task with fewer training rows gets no learned baseline (nothing can be learned from a handful of rows)
MIN_TRAIN_ROWS = 20


def answer_label(row) -> str:
    """A row's answer as one class label (a vertex set sorted, so the same set is the same class)."""
    value = decode(row.get("answer"))
    if row.get("answer_kind") == "vertex_set" and isinstance(value, list):
        value = sorted(str(v) for v in value)
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def features_of(row) -> list[float] | None:
    """The row's feature vector in ``FEATURE_NAMES`` order (-1 for a feature left out), or None without any."""
    meta = decode(row.get("meta"), {})
    values = meta.get(FEATURES_KEY) if isinstance(meta, dict) else None
    if not isinstance(values, dict):
        return None
    return [float(values[name]) if isinstance(values.get(name), (int, float)) else -1.0 for name in FEATURE_NAMES]


def bound_for(kind: str, labels) -> float:
    """The accuracy above which a task's learned baseline flags it (see the module docstring)."""
    counts = Counter(labels)
    share = max(counts.values()) / sum(counts.values()) if counts else 0.0
    if kind == "yes_no" and share <= BALANCED:
        return YES_NO_BOUND
    return min(1.0, share + MARGIN)


def make_model(name: str):
    """An unfitted scikit-learn classifier: one of ``MODELS``, or ``forest`` (the builder's filter)."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if name == "boosted_trees":
        return HistGradientBoostingClassifier(max_iter=60, max_leaf_nodes=15, learning_rate=0.1,
                                              early_stopping=False, random_state=0)
    if name == "forest":  # the builder's filter: many rounds of fits, cost independent of the number of classes
        from sklearn.ensemble import RandomForestClassifier

        return RandomForestClassifier(n_estimators=40, min_samples_leaf=2, random_state=0)
    if name == "logistic":
        return make_pipeline(StandardScaler(), LogisticRegression(max_iter=300))
    raise ValueError(f"unknown model {name!r}; expected one of {', '.join(MODELS)}")


class ConstantModel:
    """What a model trained on one class predicts: that class."""

    def __init__(self, label):
        self.label = label

    def predict(self, x):
        return [self.label] * len(x)


#: at most this many classes per task: answers outside the most frequent ones become ``OTHER`` (a vertex set
#: seen once cannot be learned from features, and hundreds of classes would make boosting slow)
MAX_CLASSES = 20
#: the class of every rarer answer; a prediction of it is never right
OTHER = "\x00other"


def common_labels(y) -> list:
    """``y`` with every answer outside the ``MAX_CLASSES`` most frequent (seen at least twice) as ``OTHER``."""
    counts = Counter(y)
    keep = {label for label, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:MAX_CLASSES] if n >= 2}
    return [label if label in keep else OTHER for label in y]


def fit(name: str, x, y):
    """``name`` fitted on (x, y), rare answers merged (``common_labels``); a single class gives a
    ``ConstantModel``."""
    import warnings

    y = common_labels(list(y))
    if len(set(y)) < 2:
        return ConstantModel(y[0])
    from threadpoolctl import threadpool_limits

    model = make_model(name)
    # one thread: on a few hundred rows OpenMP's start-up costs more than it saves, and results do not
    # depend on the machine's core count
    with warnings.catch_warnings(), threadpool_limits(1):
        warnings.simplefilter("ignore")  # convergence notes of the logistic regression on a few hundred rows
        model.fit(x, y)
    return model


def predict(model, x) -> list:
    """``model``'s answers for ``x`` (one thread, like ``fit``)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        return list(model.predict(x))


def _by_task(rows) -> dict[str, list[tuple[dict, list[float], str]]]:
    grouped: dict[str, list] = defaultdict(list)
    for row in rows:
        x = features_of(row)
        if x is not None:
            grouped[row.get("task") or "unknown"].append((row, x, answer_label(row)))
    return grouped


def _score(correct: int, n: int) -> dict:
    return {"correct": correct, "n": n, "accuracy": correct / n if n else None, "ci95": list(wilson_interval(correct, n))}


def fit_tasks(train_rows) -> dict:
    """Every model of ``MODELS`` fitted per task on ``train_rows`` (rows with features):
    {task: (training rows, {model: fitted})}. Score splits with ``learned_baseline(..., fitted=...)``."""
    import numpy as np

    fitted = {}
    for task, rows in _by_task(train_rows).items():
        if len(rows) < MIN_TRAIN_ROWS:
            continue
        x = np.array([x for _, x, _ in rows], dtype=float)
        y = [y for _, _, y in rows]
        fitted[task] = (len(rows), {name: fit(name, x, y) for name in MODELS})
    return fitted


def learned_baseline(train_rows, eval_rows, split: str | None = None, fitted: dict | None = None) -> dict:
    """Fit per task on ``train_rows`` (or use ``fitted``, from ``fit_tasks``), score on ``eval_rows``. Returns::

        {"split": split, "models": [...], "tasks": {task: {"answer_kind", "n", "train_rows", "bound",
            "majority_share", "models": {model: {"correct", "n", "accuracy", "ci95"}},
            "best": {"model", "correct", "n", "accuracy", "ci95"}, "flagged"}},
         "flagged": [task, ...], "predictions": {row id: answer label}}

    ``predictions`` holds the best model's answer for each evaluated row (as ``answer_label`` writes it).
    """
    import numpy as np

    fitted = fit_tasks(train_rows) if fitted is None else fitted
    evaluated = _by_task(eval_rows)
    tasks, predictions = {}, {}
    for task in sorted(evaluated):
        rows = evaluated[task]
        if task not in fitted:
            continue
        kind = rows[0][0].get("answer_kind") or ""
        x_eval = np.array([x for _, x, _ in rows], dtype=float)
        gold = [y for _, _, y in rows]
        entry = {"answer_kind": kind, "n": len(rows), "train_rows": fitted[task][0],
                 "bound": bound_for(kind, gold), "majority_share": max(Counter(gold).values()) / len(gold),
                 "models": {}}
        answers = {}
        for name in MODELS:
            guessed = predict(fitted[task][1][name], x_eval)
            answers[name] = guessed
            entry["models"][name] = _score(sum(g == y for g, y in zip(guessed, gold)), len(gold))
        best = max(MODELS, key=lambda name: (entry["models"][name]["correct"], -MODELS.index(name)))
        entry["best"] = {"model": best, **entry["models"][best]}
        entry["flagged"] = entry["best"]["accuracy"] > entry["bound"] + 1e-12
        tasks[task] = entry
        predictions.update({row.get("id"): str(guess) for (row, _, _), guess in zip(rows, answers[best])})
    table = {"split": split} if split is not None else {}
    return table | {"models": list(MODELS), "tasks": tasks, "flagged": [t for t, e in tasks.items() if e["flagged"]],
                    "predictions": predictions}


def cross_validated_truth(x, y, folds: int = 3, seed: int = 0):
    """Each row's out-of-fold probability of its own answer under a random forest (AFLite's
    predictability): high means cheap features give the row away. Deterministic for the same input."""
    import numpy as np
    from sklearn.model_selection import KFold, StratifiedKFold
    from threadpoolctl import threadpool_limits

    y = np.asarray(common_labels(list(y)), dtype=object)
    scores = np.zeros(len(y))
    counts = Counter(y.tolist())
    if len(counts) < 2:  # one answer: every row is predicted, unless it is the merged rare answers
        return np.array([float(label != OTHER) for label in y])
    stratify = min(counts.values()) >= folds
    splitter = (StratifiedKFold if stratify else KFold)(n_splits=min(folds, len(y)), shuffle=True,
                                                        random_state=seed % 2**32)
    for fit_part, score_part in splitter.split(x, y if stratify else None):
        model = fit("forest", x[fit_part], y[fit_part].tolist())
        if isinstance(model, ConstantModel):
            scores[score_part] = [float(label == model.label and label != OTHER) for label in y[score_part]]
            continue
        with threadpool_limits(1):
            probabilities = model.predict_proba(x[score_part])
        column = {label: j for j, label in enumerate(model.classes_)}
        scores[score_part] = [probabilities[i, column[label]] if label in column and label != OTHER else 0.0
                              for i, label in enumerate(y[score_part])]
    return scores


def table_lines(table: dict, indent: str = "  ") -> list[str]:
    """Plain-text lines of a ``learned_baseline`` table: per task the better model's accuracy, its interval,
    the bound and ⚠ when flagged."""
    from odin_core.foundation.stats import format_interval

    tasks = table.get("tasks") or {}
    if not tasks:
        return [f"{indent}learned shortcut baseline: none (no row records features; built before builder version 3)"]
    lines = [f"{indent}learned shortcut baseline (features only, fitted on the training split): "
             f"{len(table.get('flagged') or [])} of {len(tasks)} tasks above their bound ⚠"]
    width = max(len(task) for task in tasks)
    for task, entry in tasks.items():
        best = entry["best"]
        low, high = best["ci95"]
        lines.append(f"{indent}  {task:<{width}}  {best['model']:<13} {100 * best['accuracy']:5.1f}% "
                     f"{format_interval(low, high)} of {best['n']}  bound {100 * entry['bound']:.1f}%"
                     + ("  ⚠" if entry["flagged"] else ""))
    return lines


__all__ = ["MODELS", "YES_NO_BOUND", "MARGIN", "answer_label", "features_of", "bound_for", "make_model", "fit",
           "fit_tasks", "learned_baseline", "cross_validated_truth", "table_lines"]
