"""Task accuracy while training: the normal evaluation (``EvalContext``, the task-accuracy evaluator) on a
fixed validation subset, called by the engine at every evaluation (``training.eval_accuracy_examples``)."""

from __future__ import annotations

import random
from collections import defaultdict
from pathlib import Path

from odin_core.components.plugins import get_component
from odin_core.evaluate.context import EvalContext
from odin_core.evaluate.generation import ModelRunner
from odin_core.evaluate.rows import check_columns, rows_of
from odin_core.evaluate.stage import prediction_records, run_evaluators, write_predictions
from odin_core.foundation.layout import TRAINING_PREDICTIONS_DIR
from odin_core.foundation.records import ACCURACY_EVALUATOR
from odin_core.runtime import processes


def stratified_subset(split, size: int, seed: int) -> list[dict]:
    """``size`` rows spread evenly over the split's tasks (seeded, taken in turn from each task), in split order."""
    rows = rows_of(split)
    by_task: dict[str, list[int]] = defaultdict(list)
    for i, row in enumerate(rows):
        by_task[row["task"]].append(i)
    rng = random.Random(seed)
    queues = []
    for task in sorted(by_task):
        members = list(by_task[task])
        rng.shuffle(members)
        queues.append(members)
    picked: list[int] = []
    while len(picked) < min(size, len(rows)):
        for queue in queues:
            if queue and len(picked) < size:
                picked.append(queue.pop())
    return [rows[i] for i in sorted(picked)]


def accuracy_numbers(result: dict) -> dict[str, float]:
    """The task-accuracy evaluator's result as flat numbers: ``accuracy`` (micro), ``accuracy_macro``,
    ``format_error_rate`` and ``accuracy/<family>``."""
    overall = result.get("overall", {})
    numbers = {"accuracy": overall.get("micro"), "accuracy_macro": overall.get("macro"),
               "format_error_rate": overall.get("format_error_rate")}
    numbers |= {f"accuracy/{family}": values.get("accuracy") for family, values in result.get("per_family", {}).items()}
    return {key: float(value) for key, value in numbers.items() if isinstance(value, (int, float))}


class TrainingAccuracy:
    """Callable ``(step) -> {accuracy, accuracy_macro, accuracy/<family>, ...}`` for the engine: greedy answers
    of the model being trained on a fixed validation subset, scored by the task-accuracy evaluator.

    Prompts, tokenisation and answer budgets are those of ``odin run``'s evaluation (``ModelRunner``); the model
    is put back in training mode afterwards. Each call writes its rows to
    ``<run_dir>/training_predictions/predictions-step-NNNNNN.jsonl``."""

    def __init__(self, recipe, loaded, split, run_dir):
        size = recipe.training.eval_accuracy_examples
        self.rows = stratified_subset(split, size, recipe.seed)
        check_columns(self.rows, ("prompt", "completion", "task", "family", "answer_kind", "answer"),
                      "training.eval_accuracy_examples")
        self.loaded = loaded
        self.generation = recipe.generation
        self.evaluator = get_component("evaluator", ACCURACY_EVALUATOR).create(None)
        self.folder = Path(run_dir.path) / TRAINING_PREDICTIONS_DIR
        self.run_dir = run_dir

    def __call__(self, step: int) -> dict[str, float]:
        world = processes.current()
        size = world.world_size if processes.joined() else 1
        runner = ModelRunner(self.loaded, self.generation.batch_size, self.generation.max_new_tokens)
        # each process answers every size-th row; all of them score the whole set (early stopping needs the
        # same numbers everywhere), and one writes it
        share = self.rows[world.rank % size::size]
        answers = runner.generate(share, budget_rows=self.rows) if share else []
        generations: list = [None] * len(self.rows)
        for rank, theirs in enumerate(processes.gather(answers)):
            generations[rank::size] = theirs
        context = EvalContext(self.rows, generations=generations, stage=f"step-{step}", split="validation")
        result = run_evaluators([(ACCURACY_EVALUATOR, self.evaluator)], context)[ACCURACY_EVALUATOR]
        if world.is_main:
            write_predictions(self.folder, f"step-{step:06d}", prediction_records(context))
            if size > 1:
                self.run_dir.log(f"accuracy at step {step}: {len(self.rows)} rows answered by {size} processes "
                                 f"({len(share)} here)")
        model = self.loaded.model
        if hasattr(model, "train"):
            model.train()
        return accuracy_numbers(result)
