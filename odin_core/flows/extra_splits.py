"""Generalisation splits in a run: the trained model on each of ``generation.extra_splits``, and in ``odin eval``.

Each record is a stage record (``odin_core.evaluate.evaluate_model``) plus ``extra_split``
(its name), ``frozen_set``, ``prompt_tokens`` (min/median/mean/max of its prompts), ``heuristics``
(the shallow rules' table of its evaluated rows, ``odin_core.questions.heuristics``) and,
for a split whose rows pair with the test split's (relabelled vertices),
``consistency``: the paired outcomes of each row and its original.
"""

from __future__ import annotations

from pathlib import Path

from odin_core import data as odin_data
from odin_core import evaluate
from odin_core.flows.heuristics import split_heuristics
from odin_core.foundation.errors import DataError
from odin_core.foundation.files import read_jsonl
from odin_core.foundation.layout import predictions_file
from odin_core.foundation.stats import paired_outcomes, wilson_interval


def split_for_run(recipe, name: str, run_splits=()):
    """Extra split ``name`` of a run's recipe; a DataError listing every split there is when it has none such."""
    known = odin_data.available_splits(recipe)
    if name not in known:
        where = (f"; extra splits of frozen set {recipe.data.frozen_eval!r}: {', '.join(known)}" if known
                 else " (no frozen set with extra splits: the recipe sets no data.frozen_eval)")
        raise DataError(f"no split {name!r}; the run's dataset has: {', '.join(run_splits) or 'train, validation, test'}"
                        + where, file=recipe.path)
    return odin_data.extra_split(recipe, name)


def consistency(original_file: Path, relabelled_file: Path) -> dict:
    """Paired outcomes of relabelled rows and their original rows (matched by id): ``both``, ``original_only``,
    ``relabelled_only``, ``neither``, the exact McNemar p-value, ``kept`` (share of the rows right on the original
    that stay right relabelled, with its Wilson interval) and ``agreement`` (share with the same outcome)."""
    original = {r["id"]: bool(r.get("correct")) for r in read_jsonl(original_file)}
    relabelled = {odin_data.paired_id(r["id"] or ""): bool(r.get("correct")) for r in read_jsonl(relabelled_file)}
    shared = original.keys() & relabelled.keys()
    if not shared:
        return {"pairs": 0, "note": f"no evaluated row of {relabelled_file.name} pairs with one of {original_file.name}"}
    paired = paired_outcomes({k: original[k] for k in shared}, {k: relabelled[k] for k in shared})
    right = paired["both"] + paired["only_a"]
    return {"pairs": paired["n"], "original_file": original_file.name, "both": paired["both"],
            "original_only": paired["only_a"], "relabelled_only": paired["only_b"], "neither": paired["neither"],
            "p_value": paired["p_value"], "difference": paired["difference"],
            "kept": paired["both"] / right if right else None,
            "kept_ci95": list(wilson_interval(paired["both"], right)) if right else None,
            "agreement": (paired["both"] + paired["neither"]) / paired["n"]}


def _originals_only(split, original_file: Path):
    """The rows of a paired split whose original row was evaluated (so a sampled test split still pairs)."""
    evaluated = {r["id"] for r in read_jsonl(original_file)}
    keep = [i for i, row_id in enumerate(split["id"]) if odin_data.paired_id(row_id) in evaluated]
    return split.select(keep) if keep and len(keep) < len(split) else split


def evaluate_split(recipe, loaded, run_dir, name: str, split, stage: str, original_stage: str) -> dict:
    """Evaluate ``loaded`` on extra split ``name`` (a Dataset) as ``stage``; ``original_stage``: the stage whose
    predictions of the test split a paired split is matched with (``trained``, or ``base`` for the base model)."""
    path = Path(getattr(run_dir, "path", run_dir))
    info = odin_data.split_info(recipe, name)
    original_file = path / predictions_file(original_stage)
    pairs = info.get("pairs_with") == "test" and original_file.exists()
    if pairs:
        split = _originals_only(split, original_file)
    record = evaluate.evaluate_model(recipe, loaded, split, run_dir, stage=stage, split_name=name)
    record.update(extra_split=name, frozen_set=recipe.data.frozen_eval,
                  prompt_tokens=odin_data.prompt_token_summary(split["meta"]),
                  heuristics=split_heuristics(recipe, split, name))
    if info.get("description"):
        record["description"] = info["description"]
    if name == odin_data.UNSEEN_ENCODINGS:
        record["encodings"] = sorted(set(split["encoding"]))
    if pairs and record.get("predictions_file"):
        record["consistency"] = consistency(original_file, path / record["predictions_file"])
    return record


def evaluate_extra_splits(recipe, loaded, run_dir) -> dict:
    """{split: record or {"skipped": reason}} for each of ``generation.extra_splits``."""
    results = {}
    for name in recipe.generation.extra_splits:
        split = split_for_run(recipe, name)
        if len(split) == 0:
            reason = ("the recipe trains on every encoding of its tasks' rows" if name == odin_data.UNSEEN_ENCODINGS
                      else "no row of the recipe's tasks and encodings")
            results[name] = {"skipped": reason}
            continue
        results[name] = evaluate_split(recipe, loaded, run_dir, name, split, f"split-{name}", "trained")
    return results
