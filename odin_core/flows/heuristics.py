"""Heuristic baselines of an evaluated split, for ``metrics.json`` (``odin_core.questions.heuristics``)."""

from __future__ import annotations

from odin_core.evaluate import select_examples
from odin_core.questions.heuristics import heuristic_table

_COLUMNS = ("task", "answer_kind", "answer", "meta")


def split_heuristics(recipe, eval_split, split_name: str | None = None) -> dict:
    """``heuristic_table`` of the rows a model is evaluated on (the same seeded sample as ``evaluate_model``)."""
    if hasattr(eval_split, "select_columns"):  # a Hugging Face Dataset: skip the prompts
        eval_split = eval_split.select_columns([c for c in _COLUMNS if c in eval_split.column_names])
    examples = select_examples(eval_split, recipe.generation.max_examples, recipe.seed)
    return heuristic_table(examples, split_name or recipe.generation.split)
