"""Evaluating one model on one split: every evaluator on one context, the stage record
(``odin_core.foundation.records``), the predictions file."""

from __future__ import annotations

import time
from pathlib import Path

from odin_core.evaluate.context import EvalContext
from odin_core.evaluate.generation import ModelRunner
from odin_core.evaluate.rows import check_columns, rows_of, select_examples
from odin_core.foundation import console
from odin_core.foundation.errors import DataError
from odin_core.foundation.files import write_jsonl
from odin_core.foundation.layout import predictions_file
from odin_core.foundation.records import SCHEMA_VERSION, row_key, task_accuracy
from odin_core.questions.answers import FORMAT_ERROR
from odin_core.recipe import create_evaluators
from odin_core.runtime.chat import model_uses_chat
from odin_core.runtime.device import parameter_count

def run_evaluators(evaluators, context: EvalContext) -> dict:
    """Each evaluator's metrics, by name."""
    results = {}
    for name, evaluator in evaluators:
        check_columns(context.examples, getattr(evaluator, "requires_columns", ()), f"evaluator {name!r}")
        results[name] = evaluator.evaluate(context)
    return results


# --- predictions -------------------------------------------------------------------


def jsonable(value):
    """A parsed answer as JSON: sets sorted, a format error as None."""
    if value is FORMAT_ERROR:
        return None
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    return value


def prediction_records(context: EvalContext) -> list[dict]:
    """One record per example: what was asked, expected, generated, parsed, and whether it was right."""
    scores = context.scored or [None] * len(context.examples)
    predictions, correct = context.predictions, context.correct
    records = []
    for i, row in enumerate(context.examples):
        pred = predictions[i]
        records.append({
            "id": row.get("id"), "task": row["task"], "family": row.get("family"), "encoding": row.get("encoding"),
            "answer_kind": row["answer_kind"], "prompt": row["prompt"], "expected": row["completion"],
            "answer": context.gold[i], "generated": context.generations[i], "parsed": jsonable(pred),
            "format_error": pred is FORMAT_ERROR, "correct": correct[i], "score": scores[i],
            "row_key": row_key(row),
        })
    return records


def write_predictions(run_dir, stage: str, records: list[dict]) -> Path:
    """Write ``predictions-<stage>.jsonl`` into the run directory atomically."""
    path = Path(getattr(run_dir, "path", run_dir)) / predictions_file(stage)
    write_jsonl(path, records)
    return path




def evaluate_model(recipe, loaded, eval_split, run_dir, stage: str = "base", *, loss_split=None,
                   split_name: str | None = None, evaluators=None, max_examples: int | None = None,
                   reasoning_tokens: int | None = None) -> dict:
    """Evaluate ``loaded`` on ``eval_split`` with the recipe's evaluators; returns the stage record.

    Writes ``predictions-<stage>.jsonl`` into ``run_dir`` (a ``RunDir`` or a path).
    ``loss_split`` (the validation split) feeds the loss/perplexity evaluator. ``max_examples`` caps the rows
    further than ``generation.max_examples`` (a seeded sample). ``reasoning_tokens``: the model reasons before
    its answer (Hyper-BAG, Hyper-COT): this many new tokens per row, generation stopping at the end of the answer.
    """
    generation = recipe.generation
    cap = min((n for n in (generation.max_examples, max_examples) if n is not None), default=None)
    examples = select_examples(eval_split, cap, recipe.seed)
    if not examples:
        raise DataError(f"the {split_name or generation.split} split has no examples to evaluate")
    check_columns(examples, ("prompt", "completion", "task", "answer_kind", "answer"), "evaluation")
    runner = ModelRunner(loaded, generation.batch_size, reasoning_tokens or generation.max_new_tokens,
                         reasoning=reasoning_tokens is not None)
    context = EvalContext(examples, runner=runner, loss_examples=rows_of(loss_split) if loss_split is not None else None,
                          stage=stage, split=split_name or generation.split)
    evaluators = evaluators if evaluators is not None else create_evaluators(recipe)
    console.say(f"evaluating {stage} model on {len(examples)} {context.split} examples ({loaded.engine} engine)",
                run_dir)
    start = time.perf_counter()
    results = run_evaluators(evaluators, context)
    seconds = time.perf_counter() - start
    record = {
        "schema_version": SCHEMA_VERSION,
        "stage": stage,
        "split": context.split,
        "num_examples": len(examples),
        "model": {"loader": recipe.model.loader, "name": recipe.model.name, "engine": loaded.engine,
                  "parameters": parameter_count(loaded.model), "chat_template": model_uses_chat(loaded)},
        "generation": {"batch_size": generation.batch_size, "max_new_tokens": dict(runner.budgets),
                       "seconds": round(seconds, 3)},
        "metrics": results,
    }
    for key, value in context.timings.items():
        record["generation"][key] = round(value, 3)
    if runner.over_context:
        record["generation"]["prompts_over_context"] = runner.over_context
        console.warn(f"warning: {runner.over_context} of {len(examples)} prompts plus their answer budget are longer "
                     f"than the model's context ({loaded.tokenizer.model_max_length} tokens)", run_dir)
    if "generation_seconds" in context.timings and context.timings["generation_seconds"] > 0:
        record["generation"]["examples_per_second"] = round(len(examples) / context.timings["generation_seconds"], 2)
    if context.generated:
        path = write_predictions(run_dir, stage, prediction_records(context))
        record["predictions_file"] = path.name
    summary = task_accuracy(record).get("overall", {})
    if summary:
        console.say(f"{stage}: accuracy {summary.get('micro', 0):.3f} (macro {summary.get('macro', 0):.3f}), "
                    f"{summary.get('format_errors', 0)} format errors, {seconds:.1f} s", run_dir)
    return record

