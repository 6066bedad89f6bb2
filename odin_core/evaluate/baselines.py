"""Baselines with no model, chosen on the training split and scored like a model.

``majority``: the most frequent training answer of each task (for vertex-set tasks, the
most frequent set); ``constant_set``: for vertex-set tasks, the best constant set;
``learned``: the learned shortcut baseline (a classifier over cheap features of each
question); ``shortcut``: per task the better of majority and learned, which a trained
model must beat.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict

from odin_core.evaluate.context import EvalContext
from odin_core.evaluate.rows import answer_prefix, rationale_of, rows_of, select_examples
from odin_core.evaluate.stage import jsonable, prediction_records, run_evaluators, write_predictions
from odin_core.foundation.errors import DataError
from odin_core.foundation.records import SCHEMA_VERSION, decode
from odin_core.questions.answers import format_answer, is_correct
from odin_core.recipe import create_evaluators


def _mean_jaccard(candidate: frozenset, golds: list[set]) -> float:
    total = 0.0
    for gold in golds:
        union = candidate | gold
        total += (len(candidate & gold) / len(union)) if union else 1.0
    return total / len(golds) if golds else 0.0


def best_constant_set(golds: list[set]) -> frozenset:
    """The vertex set that, answered to every question, has the highest mean Jaccard with the gold sets.

    Candidates: the empty set, every gold set seen, and each prefix of the vertices
    sorted by how often they appear (ties broken by name); the best wins, ties going
    to the smaller, then alphabetically first set.
    """
    frequency = Counter(v for gold in golds for v in gold)
    ranked = sorted(frequency, key=lambda v: (-frequency[v], v))
    candidates = {frozenset()} | {frozenset(g) for g in golds}
    candidates |= {frozenset(ranked[:k]) for k in range(1, len(ranked) + 1)}
    best, best_score = frozenset(), -1.0
    for candidate in sorted(candidates, key=lambda c: (len(c), sorted(c))):
        score = _mean_jaccard(candidate, golds)
        if score > best_score + 1e-12:
            best, best_score = candidate, score
    return best


def _majority(values: list):
    """The most common value (ties: first seen)."""
    counts = Counter(json.dumps(v, sort_keys=True) for v in values)
    best = max(counts.values())
    for v in values:
        if counts[json.dumps(v, sort_keys=True)] == best:
            return v
    return None


def baseline_answers(train_rows: list[dict]) -> dict[str, dict[str, tuple[str, object]]]:
    """Constant answers per baseline and task, from the training rows: {baseline: {task: (kind, value)}}.

    ``majority``: the most frequent training answer of each task (for vertex-set
    tasks, the most frequent set). ``constant_set``: for vertex-set tasks only, the
    best constant set (``best_constant_set``).
    """
    by_task: dict[str, list] = defaultdict(list)
    kinds: dict[str, str] = {}
    for row in train_rows:
        kind = row["answer_kind"]
        kinds[row["task"]] = kind
        value = decode(row.get("answer"))
        by_task[row["task"]].append(sorted(value or ()) if kind == "vertex_set" else value)
    majority, constant_set = {}, {}
    for task, values in by_task.items():
        kind = kinds[task]
        majority[task] = (kind, _majority(values))
        if kind == "vertex_set":
            constant_set[task] = (kind, sorted(best_constant_set([set(v) for v in values])))
    return {"majority": majority, "constant_set": constant_set}


def _generation(row: dict, kind: str, value) -> str:
    """The text a baseline "generates" for ``row``: the completion's prefix and ``value`` as the answer."""
    completion = row["completion"]
    return answer_prefix(completion, rationale_of(completion)) + format_answer(kind, value)


def _baseline_stage(name: str, answers: dict, examples: list[dict], evaluators, split: str, run_dir=None) -> dict:
    """A constant answer per task (``answers``: {task: (kind, value)}) scored like a model."""
    covered = [row for row in examples if row["task"] in answers]
    per_row = [answers[row["task"]] for row in covered]
    return _rows_stage(name, covered, per_row, evaluators, split, run_dir,
                       {task: jsonable(value) for task, (_, value) in sorted(answers.items())})


def _rows_stage(name: str, covered: list[dict], per_row: list, evaluators, split: str, run_dir, answers) -> dict:
    """Per-row answers (``per_row``: (kind, value) or None for no answer) scored like a model."""
    generations, scores = [], []
    for row, answer in zip(covered, per_row):
        if answer is None:  # nothing to say (a learned baseline's rare class): a format error, never right
            generations.append("")
            scores.append(None)
            continue
        kind, value = answer
        generations.append(_generation(row, kind, value))
        scores.append((1.0 if value else -1.0) if kind == "yes_no" else None)
    stage = f"baseline-{name}"
    context = EvalContext(covered, generations=generations, choice_scores=scores, stage=stage, split=split)
    results = run_evaluators(evaluators, context) if covered else {}
    record = {
        "schema_version": SCHEMA_VERSION,
        "stage": stage,
        "split": split,
        "num_examples": len(covered),
        "answers": answers,
        "metrics": results,
    }
    if run_dir is not None and covered:
        # lean records (no prompts): enough for paired tests against the model's predictions
        lean = [{k: r[k] for k in ("id", "row_key", "task", "correct", "parsed")}
                for r in prediction_records(context)]
        record["predictions_file"] = write_predictions(run_dir, stage, lean).name
    return record


def learned_answers(train: list[dict], examples: list[dict]) -> tuple[dict, list]:
    """(the learned shortcut baseline's table without per-row predictions, each example's (kind, value) or None).

    ``None`` for rows whose task has no features or whose predicted class is a merged rare answer."""
    from odin_core.questions.learned_baseline import OTHER, learned_baseline

    keyed = [dict(row, id=f"row-{i}") for i, row in enumerate(examples)]  # ids may repeat across splits
    table = learned_baseline(train, keyed)
    predicted = table.pop("predictions")
    per_row = []
    for row in keyed:
        label = predicted.get(row["id"])
        per_row.append(None if label is None or label == OTHER else (row["answer_kind"], json.loads(label)))
    return table, per_row


def _correct(row: dict, answer) -> bool:
    if answer is None:
        return False
    kind, value = answer
    return is_correct(kind, value if kind != "vertex_set" else set(map(str, value)), decode(row.get("answer")))


def better_of(examples: list[dict], candidates: dict[str, list]) -> tuple[list, dict]:
    """Per task, the answers of the candidate baseline right on the most rows (ties: the first named):
    (each example's answer, {task: chosen baseline})."""
    tasks = sorted({row["task"] for row in examples})
    chosen = {}
    for task in tasks:
        scores = {name: sum(_correct(row, answer) for row, answer in zip(examples, answers) if row["task"] == task)
                  for name, answers in candidates.items()}
        chosen[task] = max(candidates, key=lambda name: (scores[name], -list(candidates).index(name)))
    return [candidates[chosen[row["task"]]][i] for i, row in enumerate(examples)], chosen


def trivial_baselines(recipe, datasets, *, eval_split=None, split_name: str | None = None, evaluators=None,
                      run_dir=None) -> dict:
    """Baselines with no model, chosen on the training split and scored on the evaluation split.

    Returns {baseline name: stage record}: ``majority`` (every task), ``constant_set`` (vertex-set tasks),
    ``learned`` (the learned shortcut baseline, ``odin_core.questions.learned_baseline``, where rows carry features) and
    ``shortcut``: per task the better of majority and learned on these rows, the baseline a trained model must
    beat. The evaluation examples are the same ones ``evaluate_model`` uses for the same recipe. With
    ``run_dir``, each baseline's per-row outcomes go to ``predictions-baseline-<name>.jsonl``.
    """
    split_name = split_name or recipe.generation.split
    if eval_split is None:
        eval_split = datasets[split_name]
    train = rows_of(datasets["train"]) if "train" in datasets else []
    if not train:
        raise DataError("trivial baselines need a training split with examples")
    examples = select_examples(eval_split, recipe.generation.max_examples, recipe.seed)
    evaluators = evaluators if evaluators is not None else create_evaluators(recipe)
    result = {}
    constants = baseline_answers(train)
    for name, answers in constants.items():
        if answers:
            result[name] = _baseline_stage(name, answers, examples, evaluators, split_name, run_dir)
    majority = [constants["majority"].get(row["task"]) for row in examples]
    table, learned = learned_answers(train, examples)
    if table["tasks"]:
        covered = [(row, answer) for row, answer in zip(examples, learned) if row["task"] in table["tasks"]]
        result["learned"] = _rows_stage("learned", [r for r, _ in covered], [a for _, a in covered], evaluators,
                                        split_name, run_dir, {"models": table["models"], "tasks": table["tasks"]})
        best, chosen = better_of(examples, {"majority": majority, "learned": [
            answer if row["task"] in table["tasks"] else majority[i]
            for i, (row, answer) in enumerate(zip(examples, learned))]})
        result["shortcut"] = _rows_stage("shortcut", examples, best, evaluators, split_name, run_dir,
                                         {"chosen": chosen})
    return result
