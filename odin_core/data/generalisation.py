"""Generalisation splits a run evaluates beside its test split: the extra splits of its frozen set
(``data/<set>/<split>.jsonl``: relabelled vertices, larger or real hypergraphs) and ``unseen_encodings``."""

from __future__ import annotations

from odin_core.data.frozen import frozen_eval_set, frozen_info, frozen_splits
from odin_core.foundation.errors import RecipeError
from odin_core.recipe import expand_tasks
from odin_core.recipe.schema import RESERVED_SPLITS

#: the split computed at evaluation time: frozen test rows whose encoding the run did not train on
UNSEEN_ENCODINGS = RESERVED_SPLITS[-1]


def available_splits(recipe) -> list[str]:
    """The extra splits a recipe can evaluate: its frozen set's, then ``unseen_encodings`` ([] without a set)."""
    if not recipe.data.frozen_eval:
        return []
    return [s for s in frozen_splits(recipe.data.frozen_eval) if s != "test"] + [UNSEEN_ENCODINGS]


def check_extra_splits(recipe) -> None:
    """A RecipeError naming ``generation.extra_splits`` when it lists a split the frozen set does not have."""
    wanted = recipe.generation.extra_splits
    if not wanted:
        return
    known = available_splits(recipe)
    unknown = [name for name in wanted if name not in known]
    if unknown:
        raise RecipeError(f"unknown split(s) {', '.join(map(repr, unknown))}; frozen set "
                          f"{recipe.data.frozen_eval!r} has: {', '.join(known)}", file=recipe.path,
                          key="generation.extra_splits")


def split_info(recipe, name: str) -> dict:
    """What the frozen set's recipe.json says of extra split ``name`` ({} for unseen_encodings or an old set)."""
    return (frozen_info(recipe.data.frozen_eval).get("splits") or {}).get(name) or {}


def extra_split(recipe, name: str):
    """Extra split ``name`` for a run recipe, as a ``datasets.Dataset``: its rows of the recipe's tasks and encodings
    (for ``unseen_encodings``: the frozen test rows of the recipe's tasks in the encodings it does not train on), at
    most ``data.frozen_per_task`` rows per task."""
    tasks = set(expand_tasks(recipe.data.task_names))
    encodings = set(recipe.data.encoding_names)
    unseen = name == UNSEEN_ENCODINGS
    dataset = frozen_eval_set(recipe.data.frozen_eval, "test" if unseen else name)
    per_task = recipe.data.frozen_per_task
    taken: dict[str, int] = {}
    keep = []
    for i, (task, encoding) in enumerate(zip(dataset["task"], dataset["encoding"])):
        if task in tasks and (encoding in encodings) != unseen and (per_task is None or taken.get(task, 0) < per_task):
            taken[task] = taken.get(task, 0) + 1
            keep.append(i)
    return dataset if len(keep) == len(dataset) else dataset.select(keep)
