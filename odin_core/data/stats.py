"""What a built dataset holds: counts and answer distributions per split and task, and heuristic baselines."""

from __future__ import annotations

import json
from collections import Counter, defaultdict

from odin_core.foundation.stats import minimum_detectable_difference
from odin_core.questions.heuristics import heuristic_table

_HEURISTIC_COLUMNS = ("task", "answer_kind", "answer", "meta")


def answer_stats(rows) -> dict:
    """Counts and answer distributions per split and task (yes rate, most frequent answer, value histograms), and the
    smallest accuracy difference each can detect (``odin_core.foundation.stats.minimum_detectable_difference``)."""
    stats: dict = {}
    for split, dataset in rows.items():
        per_task: dict = {}
        groups: dict[str, list] = defaultdict(list)
        for task, kind, answer, encoding in zip(dataset["task"], dataset["answer_kind"], dataset["answer"],
                                                dataset["encoding"]):
            groups[task].append((kind, json.loads(answer), encoding))
        for task, items in groups.items():
            kind = items[0][0]
            values = [a for _, a, _ in items]
            entry = {"count": len(items), "answer_kind": kind, "encodings": dict(Counter(e for _, _, e in items))}
            if kind == "vertex_set":
                keys = Counter(len(v) for v in values)
                entry["set_size"] = {str(k): c for k, c in sorted(keys.items())}
                entry["empty_rate"] = round(keys.get(0, 0) / len(values), 4)
                majority = Counter(json.dumps(sorted(v)) for v in values).most_common(1)[0]
            else:
                counter = Counter(json.dumps(v) for v in values)
                entry["answers"] = dict(sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))[:12])
                if kind == "yes_no":
                    entry["yes_rate"] = round(sum(1 for v in values if v) / len(values), 4)
                majority = counter.most_common(1)[0]
            # this split's own most frequent answer and its share: not the report's majority baseline, which
            # scores the training split's most frequent answer on the evaluated rows
            entry["most_frequent_answer"] = majority[0]
            entry["most_frequent_share"] = round(majority[1] / len(values), 4)
            # the smallest accuracy difference a comparison on these rows detects (80% power, 5% level)
            entry["detectable_difference"] = round(minimum_detectable_difference(len(values)), 4)
            per_task[task] = entry
        stats[split] = {"count": len(dataset), "tasks": per_task,
                        "detectable_difference": round(minimum_detectable_difference(len(dataset)), 4)}
    return stats



def heuristic_stats(rows) -> dict:
    """``odin_core.questions.heuristics.heuristic_table`` of every split (``{split: Dataset}``, as ``answer_stats``):
    how well the shallow rules the rows record in their meta answer them."""
    tables = {}
    for split, dataset in rows.items():
        present = [c for c in _HEURISTIC_COLUMNS if c in dataset.column_names]
        records = [dict(zip(present, values)) for values in zip(*(dataset[c] for c in present))]
        tables[split] = heuristic_table(records, split)
    return tables


def learned_stats(rows) -> dict:
    """``odin_core.questions.learned_baseline.learned_baseline`` fitted on the training split and scored on each other
    split that has rows (``{split: Dataset}``, as ``answer_stats``); {} without training rows. Per-row predictions
    are left out."""
    from odin_core.questions.learned_baseline import fit_tasks, learned_baseline

    def records(dataset):
        present = [c for c in ("id", *_HEURISTIC_COLUMNS) if c in dataset.column_names]
        return [dict(zip(present, values)) for values in zip(*(dataset[c] for c in present))]

    train = rows.get("train")
    if train is None or len(train) == 0:
        return {}
    fitted_on = records(train)
    fitted = fit_tasks(fitted_on)
    tables = {}
    for split, dataset in rows.items():
        if split != "train" and len(dataset):
            table = learned_baseline(fitted_on, records(dataset), split, fitted=fitted)
            table.pop("predictions")
            tables[split] = table
    return tables

