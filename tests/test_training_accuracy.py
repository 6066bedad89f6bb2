"""Task accuracy during training, early stopping on a validation metric, and grid sweeps over whole sections."""

import json
import math
from collections import Counter
from pathlib import Path

import pytest

from conftest import REPO, run_odin
from odin_core.errors import RecipeError
from odin_core.evaluate import stratified_subset
from odin_core.flows.sweep_spec import format_value, grid_points, parse_params, parse_value
from odin_core.recipe import load_recipe
from training_support import recipe_text, toy_datasets, toy_rows, train_run, write_recipe

pytestmark = pytest.mark.usefixtures("one_torch_thread")


# --- recipe keys ------------------------------------------------------------------------------


@pytest.mark.timeout(60)
@pytest.mark.parametrize("extra, key, says", [
    ("eval_accuracy_examples = 8", "training.eval_accuracy_examples", "set training.eval_steps"),
    ("early_stopping = { patience = 2 }", "training.early_stopping", "training.eval_steps is not set"),
    ("eval_steps = 4\nearly_stopping = { patience = 2 }", "training.save_steps",
     "training.save_steps = training.eval_steps (now 2 and 4)"),
    ("eval_steps = 2\nearly_stopping = { metric = \"eval_accuracy\" }", "training.early_stopping.metric",
     "set training.eval_accuracy_examples"),
    ("eval_steps = 2\nearly_stopping = { metric = \"accuracy\" }", "training.early_stopping.metric",
     "'eval_loss', 'eval_accuracy' or 'eval_accuracy_macro'"),
    ("eval_steps = 2\nearly_stopping = { patience = 0 }", "training.early_stopping.patience", "greater than or equal"),
    ("eval_steps = 2\nearly_stopping = { patience = 2, patients = 3 }", "training.early_stopping.patients", ""),
    ("eval_accuracy_examples = -1", "training.eval_accuracy_examples", "greater than or equal"),
])
def test_bad_accuracy_and_early_stopping_keys_are_one_error_naming_the_key(core_plugin, tmp_path, extra, key, says):
    text = recipe_text(max_steps=4, save_steps=2, training_extra=extra)
    with pytest.raises(RecipeError) as caught:
        load_recipe(write_recipe(tmp_path, text))
    assert key in str(caught.value) and says in str(caught.value)


@pytest.mark.timeout(30)
def test_the_accuracy_subset_is_fixed_and_spread_over_tasks():
    rows = toy_rows(90, 3, "validation")
    subset = stratified_subset(rows, 12, seed=5)
    tasks = Counter(r["task"] for r in rows)
    assert len(subset) == 12 and set(Counter(r["task"] for r in subset).values()) == {4} and len(tasks) == 3
    assert stratified_subset(rows, 12, seed=5) == subset  # the same rows at every evaluation and every run
    ids = [r["id"] for r in rows]
    assert [r["id"] for r in subset] == sorted((r["id"] for r in subset), key=ids.index)  # the split's order
    assert len(stratified_subset(rows[:5], 12, seed=5)) == 5  # a small split: all of it


# --- a whole section from a file ---------------------------------------------------------------


@pytest.mark.timeout(60)
def test_set_key_to_a_file_replaces_the_whole_table(core_plugin, tmp_path):
    recipe = write_recipe(tmp_path, recipe_text())
    (tmp_path / "small.toml").write_text('[model]\nloader = "models.scratch"\nmax_seq_length = 128\n'
                                         'architecture = "qwen2"\nnum_layers = 1\nhidden_size = 32\n')
    (tmp_path / "bare.toml").write_text('loader = "models.scratch"\nmax_seq_length = 128\nnum_layers = 3\n')
    small = load_recipe(recipe, [f"model=@{tmp_path / 'small.toml'}"]).model
    assert (small.options.architecture, small.options.num_layers, small.options.hidden_size) == ("qwen2", 1, 32)
    assert small.options.vocab_size != 400  # replaced, not merged: the recipe's vocab_size is gone
    assert load_recipe(recipe, [f"model=@{tmp_path / 'bare.toml'}"]).model.options.num_layers == 3
    with pytest.raises(RecipeError) as caught:
        load_recipe(recipe, [f"model=@{tmp_path / 'missing.toml'}"])
    assert "--set 'model=@" in str(caught.value) and "missing.toml" in str(caught.value)
    assert "does not exist" in str(caught.value)
    (tmp_path / "broken.toml").write_text("loader = \n")
    with pytest.raises(RecipeError, match=r"broken.toml:1.*invalid TOML"):
        load_recipe(recipe, [f"model=@{tmp_path / 'broken.toml'}"])


@pytest.mark.timeout(30)
def test_grid_specs_list_every_combination_in_order(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    specs = parse_params([], [], ["model=@a.toml,@b.toml", "lora.r=4,8,16"])
    assert [s.option for s in specs] == ["--grid", "--grid"]
    assert specs[0].choices == (f"@{tmp_path / 'a.toml'}", f"@{tmp_path / 'b.toml'}")  # absolute: resumable anywhere
    points = grid_points(specs)
    assert len(points) == 6 and points[0] == {"model": f"@{tmp_path / 'a.toml'}", "lora.r": 4}
    assert [p["lora.r"] for p in points] == [4, 8, 16, 4, 8, 16]
    assert parse_value(format_value(specs[0].choices[1])) == specs[0].choices[1]
    assert format_value(specs[0].choices[1]) == f"@{tmp_path / 'b.toml'}"  # unquoted: --set reads the file
    assert parse_params([], [], [specs[0].canonical])[0].choices == specs[0].choices


@pytest.mark.timeout(30)
@pytest.mark.parametrize("params, grid, says", [
    (["lora.r=4,8"], ["model=@a.toml,@b.toml"], "--param 'lora.r=4,8': a grid sweep runs every combination"),
    ([], ["training.learning_rate=loguniform:1e-4:1e-2"], "--grid 'training.learning_rate=loguniform:1e-4:1e-2': "
                                                          "a grid takes a comma list"),
    ([], ["model=@a.toml"], "--grid 'model=@a.toml': one value is nothing to search"),
    ([], ["lora.r=4,8", "lora.r=16,32"], "lora.r is already searched by --grid 'lora.r=4,8'"),
])
def test_bad_grids_are_one_error_naming_the_option(params, grid, says):
    with pytest.raises(RecipeError) as caught:
        parse_params(params, [], grid)
    assert says in str(caught.value)


@pytest.mark.timeout(60)
def test_grid_and_prune_on_errors_come_before_any_trial(tmp_path):
    models = REPO / "tests" / "missing-model.toml"
    missing = run_odin("sweep", "recipes/quickstart.toml", "--grid", f"model=@{models},@{models}x",
                       "--output-dir", str(tmp_path))
    assert missing.returncode == 2 and "--grid" in missing.stderr and "does not exist" in missing.stderr
    assert "Traceback" not in missing.stderr and not list(tmp_path.iterdir())
    too_many = run_odin("sweep", "recipes/quickstart.toml", "--grid", "lora.r=4,8", "--trials", "3",
                        "--output-dir", str(tmp_path))
    assert too_many.returncode == 2 and "the grid has 2 combinations" in too_many.stderr
    no_accuracy = run_odin("sweep", "recipes/quickstart.toml", "--grid", "lora.r=4,8", "--prune-on", "eval_accuracy",
                           "--output-dir", str(tmp_path))
    assert no_accuracy.returncode == 2 and "training.eval_accuracy_examples" in no_accuracy.stderr
    assert not list(tmp_path.iterdir())


# --- real training runs of a scratch model ---------------------------------------------------


def _records(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def _rescored(path: Path) -> dict:
    """Accuracy of the rows a predictions file recorded, scored again from the generated text alone."""
    from odin_core.answers import is_correct, parse_answer

    records = [json.loads(line) for line in path.read_text().splitlines()]
    correct = [is_correct(r["answer_kind"], parse_answer(r["answer_kind"], r["generated"], "ids"), r["answer"])
               for r in records]
    tasks = {r["task"] for r in records}
    by_task = {t: [c for c, r in zip(correct, records) if r["task"] == t] for t in tasks}
    return {"accuracy": sum(correct) / len(correct),
            "accuracy_macro": sum(sum(v) / len(v) for v in by_task.values()) / len(by_task),
            "format_error_rate": sum(r["format_error"] for r in records) / len(records), "n": len(records)}


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_accuracy_is_logged_at_each_evaluation_and_matches_the_checkpoint(core_plugin, tmp_path):
    import dataclasses

    from transformers import AutoModelForCausalLM

    from odin_core.evaluate import evaluate_model
    from odin_core.records import task_accuracy

    # full fine-tuning learns the answer format within these steps, so the accuracies are not all zero
    extra = "eval_steps = 10\neval_accuracy_examples = 12"
    recipe_path = write_recipe(tmp_path, recipe_text(strategy="finetune.full", lora_options="", max_steps=30,
                                                     save_steps=10, logging_steps=10,
                                                     training_extra=extra).replace("3e-3", "5e-3"))
    datasets = toy_datasets(train=96, validation=30)
    seen = []
    summary, loaded, run_dir = train_run(recipe_path, tmp_path / "run", datasets,
                                         on_eval=lambda step, record: seen.append((step, dict(record))))
    evals = [r for r in _records(run_dir.path) if "eval_loss" in r]
    assert [r["step"] for r in evals] == [10, 20, 30] and [s for s, _ in seen] == [10, 20, 30]
    for record, (_, passed) in zip(evals, seen):  # the sweep's on_eval sees what metrics.jsonl records
        assert {k: v for k, v in record.items() if k.startswith("eval_")} == passed
        assert {"eval_accuracy", "eval_accuracy_macro", "eval_format_error_rate", "eval_accuracy/low_order"} <= set(record)
        rescored = _rescored(run_dir.path / "training_predictions" / f"predictions-step-{record['step']:06d}.jsonl")
        assert rescored["n"] == 12
        assert record["eval_accuracy"] == pytest.approx(rescored["accuracy"])
        assert record["eval_accuracy_macro"] == pytest.approx(rescored["accuracy_macro"])
        assert record["eval_format_error_rate"] == pytest.approx(rescored["format_error_rate"])
        assert record["eval_accuracy/low_order"] == record["eval_accuracy"]  # one family only
    assert max(r["eval_accuracy"] for r in evals) > 0, evals

    # the checkpoint of step 20, evaluated by the normal evaluator on the same rows, scores what was logged
    recipe = load_recipe(recipe_path)
    rows = stratified_subset(datasets["validation"], 12, recipe.seed)
    at_step = AutoModelForCausalLM.from_pretrained(run_dir.path / "checkpoints" / "checkpoint-20")
    stage = evaluate_model(recipe, dataclasses.replace(loaded, model=at_step), rows, tmp_path / "check",
                           stage="step-20")
    assert task_accuracy(stage)["overall"]["micro"] == pytest.approx(evals[1]["eval_accuracy"])
    assert task_accuracy(stage)["overall"]["macro"] == pytest.approx(evals[1]["eval_accuracy_macro"])


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_early_stopping_stops_after_patience_and_keeps_the_best_adapter(core_plugin, tmp_path):
    from safetensors.torch import load_file

    # a learning rate so small that the answers never change: the accuracy plateaus from the first evaluation
    extra = ('eval_steps = 2\neval_accuracy_examples = 6\n'
             'early_stopping = { metric = "eval_accuracy", patience = 2 }')
    recipe_path = write_recipe(tmp_path, recipe_text(max_steps=20, save_steps=2, logging_steps=2,
                                                     training_extra=extra).replace("3e-3", "1e-9"))
    summary, _, run_dir = train_run(recipe_path, tmp_path / "run", toy_datasets(train=64, validation=12))
    evals = [r for r in _records(run_dir.path) if "eval_loss" in r]
    assert len({r["eval_accuracy"] for r in evals}) == 1  # the plateau
    # best at the first evaluation; two more without improvement, then stop
    assert [r["step"] for r in evals] == [2, 4, 6] and summary["steps"] == 6
    stopping = summary["early_stopping"]
    assert stopping == {"metric": "eval_accuracy", "patience": 2, "best_step": 2,
                        "best_value": evals[0]["eval_accuracy"], "stopped_early": True}
    saved = load_file(run_dir.path / "adapter" / "adapter_model.safetensors")
    best = load_file(run_dir.path / "checkpoints" / "checkpoint-2" / "adapter_model.safetensors")
    last = load_file(run_dir.path / "checkpoints" / "checkpoint-6" / "adapter_model.safetensors")
    assert saved.keys() == best.keys()
    assert all(bool((saved[k] == best[k]).all()) for k in saved)
    assert any(not bool((saved[k] == last[k]).all()) for k in saved)  # training moved on after step 2
    assert "best eval_accuracy" in (run_dir.path / "odin.log").read_text()
