"""The flow of ``odin eval``: a saved run's model (or its base) on any dataset, recorded in its metrics.json."""

from __future__ import annotations

from pathlib import Path

from odin_core import data as odin_data
from odin_core import engine, evaluate, report
from odin_core.flows.heuristics import split_heuristics
from odin_core.foundation.errors import DataError
from odin_core.foundation.layout import METRICS_FILE, RECIPE_FILE
from odin_core.recipe import load_recipe
from odin_core.runtime.rundir import RunDir


def _dataset_label(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "._-" else "-" for ch in text).strip("-") or "data"


def resolve_eval_data(spec: str | None, recipe, split: str):
    """(datasets dict or None, evaluation split, label) for ``odin eval --data SPEC --split SPLIT``.

    ``spec``: None (the run's own dataset), a recipe TOML file (its dataset), a
    directory written by ``datasets.save_to_disk`` (a DatasetDict or a Dataset),
    or a frozen evaluation set: its name under ``data/`` or its folder
    (``odin_core.data.frozen_eval_set``).
    """
    def pick(datasets, where):
        if split not in datasets:
            raise DataError(f"has no {split!r} split (it has: {', '.join(datasets)})", file=where)
        return datasets[split]

    if spec is None:
        datasets = odin_data.load_or_build(recipe)
        if split not in datasets:  # an extra split of the run's frozen set, or unseen_encodings
            from odin_core.flows.extra_splits import split_for_run

            label = f"{Path(recipe.data.frozen_eval).name}-{split}"
            return datasets, split_for_run(recipe, split, list(datasets)), label
        return datasets, pick(datasets, "the run's dataset"), f"{recipe.name}-{split}"
    path = Path(spec)
    if path.suffix == ".toml":
        if not path.is_file():
            raise DataError("does not exist; expected a recipe TOML file", file=path)
        other = load_recipe(path)
        datasets = odin_data.load_or_build(other)
        return datasets, pick(datasets, path), f"{other.name}-{split}"
    if path.is_dir() and not (path / odin_data.CHECKSUM_FILE).exists():  # a frozen set's folder has its checksums
        import datasets as hf_datasets

        try:
            loaded = hf_datasets.load_from_disk(str(path))
        except (FileNotFoundError, ValueError) as exc:
            raise DataError(f"is not a dataset saved with save_to_disk ({exc})", file=path) from None
        if isinstance(loaded, hf_datasets.DatasetDict):
            return dict(loaded), pick(loaded, path), f"{_dataset_label(path.name)}-{split}"
        return None, loaded, _dataset_label(path.name)
    frozen = odin_data.frozen_eval_set(spec, split)  # the set's test split, or one of its extra splits
    if hasattr(frozen, "keys") and not hasattr(frozen, "column_names"):
        return dict(frozen), pick(frozen, f"frozen evaluation set {spec!r}"), f"{_dataset_label(spec)}-{split}"
    name = _dataset_label(Path(spec).name or spec)
    return None, frozen, name if split == "test" else f"{name}-{split}"


def evaluate_run(run_dir, data: str | None = None, split: str = "test", *, base: bool = False,
                 label: str | None = None, max_examples: int | None = None, batch_size: int | None = None,
                 baselines: bool = True) -> dict:
    """Evaluate a saved run's model (its adapter, or the base model with ``base``) on any dataset.

    The stage record (plus ``data``, ``base_model``, ``baselines`` and ``heuristics``, the
    heuristic rules' table of the evaluated rows) is stored in the
    run's ``metrics.json`` under ``evaluations[label]``, the predictions in
    ``predictions-eval-<label>.jsonl``, and the report is rebuilt.
    """
    run = RunDir.existing(run_dir)
    path = run.path
    recipe = load_recipe(path / RECIPE_FILE)
    run.recipe = recipe
    updates = {k: v for k, v in (("max_examples", max_examples), ("batch_size", batch_size)) if v is not None}
    if updates:
        recipe.generation = recipe.generation.model_copy(update=updates)
    datasets, eval_split, data_label = resolve_eval_data(data, recipe, split)
    label = _dataset_label(label or (("base-" if base else "") + data_label))
    loaded = engine.load_run_model(path, adapter=not base)
    loss_split = (datasets or {}).get("validation")
    if data is None and datasets is not None and split not in datasets:
        from odin_core.flows.extra_splits import evaluate_split

        record = evaluate_split(recipe, loaded, run, split, eval_split, f"eval-{label}", "base" if base else "trained")
    else:
        record = evaluate.evaluate_model(recipe, loaded, eval_split, run, stage=f"eval-{label}", loss_split=loss_split,
                                         split_name=split)
    record["data"] = data or f"{recipe.name} (the run's dataset)"
    record["base_model"] = base
    record["heuristics"] = split_heuristics(recipe, eval_split, split)
    if baselines:
        train_source = datasets if datasets and "train" in datasets else None
        if train_source is None:
            train_source = odin_data.load_or_build(recipe)  # the run's own training split
        record["baselines"] = evaluate.trivial_baselines(recipe, {"train": train_source["train"]}, eval_split=eval_split,
                                                         split_name=split)
    metrics = run.read_json(METRICS_FILE) or {"recipe": recipe.name, "run_dir": str(path)}
    metrics.setdefault("evaluations", {})[label] = record
    run.write_json(METRICS_FILE, metrics)
    report.write_report(path)
    return record
