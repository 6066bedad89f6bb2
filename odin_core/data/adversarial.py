"""Step 4b of a dataset build: questions that cheap features give away are dropped (adversarial filtering).

Each split is generated ``data.adversarial_pool`` times larger than asked. Per task,
the rows' features (``odin_core.questions.shortcut_features``) and answers go through
AFLite-style rounds: a small boosted-trees model scores every row out of fold
(the probability it gives the row's own answer), and the rows it finds most
predictable are dropped, a slice at a time, until the task has the rows it was
asked for. Yes/no tasks lose as many "Yes" as "No" rows, so they stay balanced.
Then duplicate prompts are dropped (the first kept) and the split is shuffled, so
no answer follows a row's position. Everything is seeded: the same recipe keeps
the same rows.
"""

from __future__ import annotations

import math
import random
from collections import Counter, defaultdict

from odin_core.foundation.seeds import derive_seed
from odin_core.questions.learned_baseline import answer_label, cross_validated_truth, features_of

#: share of a task's pool dropped per round at most (AFLite removes a slice, then fits again)
SLICE = 0.25
#: a task's pool smaller than this is cut to size without fitting (a few dozen rows teach a classifier nothing)
MIN_POOL = 25


def drop_duplicate_prompts(rows: list[dict], drops: list, split: str) -> list[dict]:
    """``rows`` with each prompt once (the first row keeps it); the rest recorded as ``duplicate`` drops."""
    seen, kept = set(), []
    for row in rows:
        if row["prompt"] in seen:
            drops.append((split, "duplicate", row["task"], row["encoding"]))
            continue
        seen.add(row["prompt"])
        kept.append(row)
    return kept


def _drop_order(rows: list[dict], labels: list[str], scores, balanced: bool, excess: int, per_label: int) -> set[int]:
    """Indices of the rows to drop this round: the ``excess`` highest scores; when ``balanced``, from each label
    the highest scores of its rows above ``per_label``, at most a proportional share of ``excess`` per label."""
    ranked = sorted(range(len(rows)), key=lambda i: (-scores[i], rows[i]["id"]))
    if not balanced:
        return set(ranked[:excess])
    by_label: dict[str, list[int]] = defaultdict(list)
    for i in ranked:
        by_label[labels[i]].append(i)
    over = {label: len(indices) - per_label for label, indices in by_label.items()}
    total = sum(over.values())
    return {i for label, indices in by_label.items()
            for i in indices[:max(1, math.ceil(excess * over[label] / total)) if over[label] > 0 else 0][:over[label]]}


def filter_task(rows: list[dict], keep: int, seed: int) -> tuple[list[dict], dict]:
    """(``keep`` of ``rows``, the round log): the rows cheap features predict least, in generation order."""
    import numpy as np

    kind = rows[0]["answer_kind"] if rows else ""
    labels = [answer_label(r) for r in rows]
    counts = Counter(labels)
    balanced = kind == "yes_no" and len(counts) == 2
    if balanced:  # as many of each answer, as far as the pool allows
        keep = 2 * min(keep // 2, *counts.values())
    rounds = []
    if len(rows) < MIN_POOL:  # too few to fit anything: the first rows (of each answer, when balanced)
        room = Counter({label: keep // 2 for label in counts}) if balanced else None
        kept = []
        for row, label in zip(rows, labels):
            if len(kept) < keep and (room is None or room[label] > 0):
                kept.append(row)
                if room is not None:
                    room[label] -= 1
        return kept, {"rounds": [], "kept": len(kept), "unfiltered": "pool under MIN_POOL rows"}
    while len(rows) > keep:
        x = np.array([features_of(r) for r in rows], dtype=float)
        scores = cross_validated_truth(x, labels, seed=seed)
        excess = min(len(rows) - keep, max(2, math.ceil(SLICE * len(rows))))
        dropped = _drop_order(rows, labels, scores, balanced, excess, keep // 2)
        if not dropped:
            break
        rounds.append({"rows": len(rows), "predictability": round(float(np.mean(scores)), 4), "dropped": len(dropped)})
        rows = [r for i, r in enumerate(rows) if i not in dropped]
        labels = [label for i, label in enumerate(labels) if i not in dropped]
    return rows, {"rounds": rounds, "kept": len(rows)}


def expected_per_task(requested: int, tasks: int) -> list[int]:
    """How many of ``requested`` examples each of ``tasks`` tasks gets when example i asks task i mod tasks."""
    return [requested // tasks + (1 if t < requested % tasks else 0) for t in range(tasks)]


def filter_split(rows: list[dict], requested: int, task_order: list[str], seed: int, split: str,
                 drops: list) -> tuple[list[dict], dict]:
    """One split after filtering: each task cut to its share of ``requested``, duplicates dropped, shuffled."""
    rows = drop_duplicate_prompts(rows, drops, split)
    by_task: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        by_task[row["task"]].append(row)
    wanted = dict(zip(task_order, expected_per_task(requested, len(task_order))))
    kept, log = [], {}
    for task in task_order:
        pool = by_task.get(task) or []
        if not pool:
            continue
        task_rows, log[task] = filter_task(pool, min(wanted[task], len(pool)), derive_seed(seed, "filter", split, task))
        ids = {row["id"] for row in task_rows}
        drops.extend((split, "predictable", task, row["encoding"]) for row in pool if row["id"] not in ids)
        kept.extend(task_rows)
    random.Random(derive_seed(seed, "shuffle", split)).shuffle(kept)
    return kept, log


def shuffle_split(rows: list[dict], seed: int, split: str, drops: list) -> list[dict]:
    """Without filtering: duplicates dropped and the split shuffled all the same."""
    rows = drop_duplicate_prompts(rows, drops, split)
    random.Random(derive_seed(seed, "shuffle", split)).shuffle(rows)
    return rows
