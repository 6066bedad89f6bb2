"""Task accuracy during training, early stopping on a validation metric, and grid sweeps over whole sections."""

import json
from collections import Counter
from pathlib import Path

import pytest

from conftest import REPO, run_odin
from odin_core.evaluate import stratified_subset
from odin_core.flows.sweep_spec import format_value, grid_points, parse_params, parse_value
from odin_core.foundation.errors import RecipeError
from odin_core.recipe import load_recipe
from training_support import recipe_text, start_paused, toy_datasets, toy_rows, train_run, train_subprocess, write_recipe

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
    ('eval_schedule = "doubling"', "training.eval_schedule", "training.eval_steps, which is not set"),
    ('eval_schedule = "log"', "training.eval_schedule", "'every' or 'doubling'"),
    ('eval_steps = 2\neval_schedule = "doubling"\nearly_stopping = { patience = 2 }',
     "training.eval_schedule", "needs an evaluation and a checkpoint at every training.eval_steps"),
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
    specs = parse_params([], [], ["model=@a.toml,@b.toml", "finetune.r=4,8,16"])
    assert [s.option for s in specs] == ["--grid", "--grid"]
    assert specs[0].choices == (f"@{tmp_path / 'a.toml'}", f"@{tmp_path / 'b.toml'}")  # absolute: resumable anywhere
    points = grid_points(specs)
    assert len(points) == 6 and points[0] == {"model": f"@{tmp_path / 'a.toml'}", "finetune.r": 4}
    assert [p["finetune.r"] for p in points] == [4, 8, 16, 4, 8, 16]
    assert parse_value(format_value(specs[0].choices[1])) == specs[0].choices[1]
    assert format_value(specs[0].choices[1]) == f"@{tmp_path / 'b.toml'}"  # unquoted: --set reads the file
    assert parse_params([], [], [specs[0].canonical])[0].choices == specs[0].choices
    with pytest.raises(RecipeError, match="'model.hidden_size=64' is inside model, which each @FILE replaces whole"):
        parse_params([], ["model.hidden_size=64"], ["model=@a.toml,@b.toml"])


@pytest.mark.timeout(30)
@pytest.mark.parametrize("params, grid, says", [
    (["finetune.r=4,8"], ["model=@a.toml,@b.toml"], "--param 'finetune.r=4,8': a grid sweep runs every combination"),
    ([], ["training.learning_rate=loguniform:1e-4:1e-2"], "--grid 'training.learning_rate=loguniform:1e-4:1e-2': "
                                                          "a grid takes a comma list"),
    ([], ["model=@a.toml"], "--grid 'model=@a.toml': one value is nothing to search"),
    ([], ["finetune.r=4,8", "finetune.r=16,32"], "finetune.r is already searched by --grid 'finetune.r=4,8'"),
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
    too_many = run_odin("sweep", "recipes/quickstart.toml", "--grid", "finetune.r=4,8", "--trials", "3",
                        "--output-dir", str(tmp_path))
    assert too_many.returncode == 2 and "the grid has 2 combinations" in too_many.stderr
    no_accuracy = run_odin("sweep", "recipes/quickstart.toml", "--grid", "finetune.r=4,8", "--prune-on", "eval_accuracy",
                           "--output-dir", str(tmp_path))
    assert no_accuracy.returncode == 2 and "training.eval_accuracy_examples" in no_accuracy.stderr
    assert not list(tmp_path.iterdir())


# --- real training runs of a scratch model ---------------------------------------------------


def _records(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def _rescored(path: Path) -> dict:
    """Accuracy of the rows a predictions file recorded, scored again from the generated text alone."""
    from odin_core.questions.answers import is_correct, parse_answer

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
    from odin_core.foundation.records import task_accuracy

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

    # a kept checkpoint, evaluated by the normal evaluator on the same rows, scores what was logged at its step
    recipe = load_recipe(recipe_path)
    rows = stratified_subset(datasets["validation"], 12, recipe.seed)
    kept = [r for r in evals if (run_dir.path / "checkpoints" / f"checkpoint-{r['step']}").is_dir()]
    chosen = max(kept, key=lambda r: r["eval_accuracy"])
    assert chosen["eval_accuracy"] > 0, evals
    at_step = AutoModelForCausalLM.from_pretrained(run_dir.path / "checkpoints" / f"checkpoint-{chosen['step']}")
    stage = evaluate_model(recipe, dataclasses.replace(loaded, model=at_step), rows, tmp_path / "check",
                           stage="check")
    assert task_accuracy(stage)["overall"]["micro"] == pytest.approx(chosen["eval_accuracy"])
    assert task_accuracy(stage)["overall"]["macro"] == pytest.approx(chosen["eval_accuracy_macro"])


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_early_stopping_stops_after_patience_and_keeps_the_best_adapter(core_plugin, tmp_path):
    from safetensors.torch import load_file

    # a learning rate so small that the answers never change: the accuracy plateaus from the first evaluation
    extra = ('eval_steps = 2\neval_accuracy_examples = 6\n'
             'early_stopping = { metric = "eval_accuracy", patience = 2 }')
    recipe_path = write_recipe(tmp_path, recipe_text(max_steps=20, save_steps=2, logging_steps=2,
                                                     training_extra=extra).replace("3e-3", "1e-9"))
    from transformers import TrainerCallback

    modes = []

    class Mode(TrainerCallback):  # after each evaluation (its generation included), training goes on in train mode
        def on_evaluate(self, args, state, control, model=None, **kwargs):
            modes.append(model.training)

    summary, _, run_dir = train_run(recipe_path, tmp_path / "run", toy_datasets(train=64, validation=12),
                                    callbacks=[Mode()])
    assert modes == [True, True, True]
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


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_killed_run_resumes_early_stopping_where_it_was(core_plugin, tmp_path):
    """Killed after the second evaluation, resumed: the best step and the patience used so far come back from the
    checkpoint, so training stops where an uninterrupted run stops (step 6) and keeps the step-2 adapter."""
    import signal

    from safetensors.torch import load_file

    extra = ('eval_steps = 2\neval_accuracy_examples = 6\n'
             'early_stopping = { metric = "eval_accuracy", patience = 2 }')
    recipe = write_recipe(tmp_path, recipe_text(max_steps=20, save_steps=2, logging_steps=1,
                                                training_extra=extra).replace("3e-3", "1e-9"))
    run = tmp_path / "run"
    process = start_paused(recipe, run, step=5)  # evaluated and saved at 2 and 4, one evaluation without gain
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["checkpoint-2", "checkpoint-4"]
    summary = train_subprocess(recipe, run, "--resume")
    assert summary["resumed_from_step"] == 4 and summary["steps"] == 6
    assert summary["early_stopping"]["best_step"] == 2 and summary["early_stopping"]["stopped_early"] is True
    evals = [r for r in _records(run) if "eval_loss" in r]
    assert [r["step"] for r in evals] == [2, 4, 6]
    saved = load_file(run / "adapter" / "adapter_model.safetensors")
    best = load_file(run / "checkpoints" / "checkpoint-2" / "adapter_model.safetensors")
    assert all(bool((saved[k] == best[k]).all()) for k in saved)


# --- sweeps: pruning on accuracy, a grid over two model blocks ----------------------------------


class AccuracyFlow:
    """Stands in for RunFlow in the sweep loop: reports an accuracy that depends on finetune.r, at steps 2, 4, 6."""

    def __init__(self, recipe, *, run_dir, overrides, on_eval, resume=None):
        self.recipe, self.run_dir, self.on_eval = recipe, run_dir, on_eval

    def run(self):
        from odin_core.flows.run import RunResult

        self.run_dir.path.mkdir(parents=True)
        accuracy = self.recipe.finetune.options.r / 100
        for step in (2, 4, 6):
            self.on_eval(step, {"eval_loss": 1.0, "eval_accuracy": accuracy * step / 6})
        return RunResult(self.run_dir.path, {"training": {"eval_loss": 1.0}, "trained": {
            "metrics": {"metrics.task_accuracy": {"overall": {"micro": accuracy, "macro": accuracy}}}}})


@pytest.mark.timeout(120)
def test_a_grid_sweep_prunes_on_accuracy_in_the_study_direction(tmp_path, monkeypatch):
    import odin_core.flows.run
    from odin_core.flows.sweep import start_sweep

    monkeypatch.setattr(odin_core.flows.run, "RunFlow", AccuracyFlow)
    result = start_sweep("recipes/quickstart.toml", [], grid=["finetune.r=32,16,8,4"], trials=None,
                         metric="trained.accuracy", overrides=["training.eval_steps=2",
                                                               "training.eval_accuracy_examples=8"],
                         output_dir=tmp_path, prune_after=1, prune_on="eval_accuracy", echo=lambda m: None)
    rows = result.summary["trials_table"]
    assert [r["params"]["finetune.r"] for r in rows] == [32, 16, 8, 4]  # the grid, in order, each once
    # the first is the best (highest accuracy): the later, less accurate ones are pruned at their first report
    assert rows[0]["state"] == "complete" and rows[0]["value"] == pytest.approx(0.32)
    assert all(r["state"] == "pruned" and r["pruned_at_step"] == 2 for r in rows[1:])
    assert result.summary["prune_on"] == "eval_accuracy" and "`eval_accuracy`" in (
        Path(result.sweep_dir) / "sweep.md").read_text()


MODEL_BLOCK = """\
[model]
loader = "models.scratch"
max_seq_length = 512
architecture = "llama"
num_layers = {layers}
hidden_size = {hidden}
num_heads = 4
vocab_size = 400
"""
TINY = ["--set", "training.engine=transformers", "--set", "training.max_steps=4", "--set", "training.save_steps=2",
        "--set", "training.eval_steps=2", "--set", "training.logging_steps=2",
        "--set", "training.eval_accuracy_examples=6",
        "--set", "data.num_examples.train=48", "--set", "data.num_examples.validation=8",
        "--set", "data.num_examples.test=17", "--set", "data.sources.0.count=40",
        "--set", "generation.evaluate_base=false", "--set", "generation.max_examples=17",
        "--set", "training.batch_size=4"]


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_a_grid_over_two_model_blocks_runs_two_ordinary_trials(tmp_path):
    small, large = tmp_path / "small.toml", tmp_path / "large.toml"
    small.write_text(MODEL_BLOCK.format(layers=1, hidden=32))
    large.write_text(MODEL_BLOCK.format(layers=2, hidden=64))
    done = run_odin("sweep", "recipes/quickstart.toml", *TINY, "--grid", f"model=@{small},@{large}",
                    "--metric", "training.eval_loss", "--output-dir", str(tmp_path / "sweeps"))
    assert done.returncode == 0, done.stderr[-3000:]
    sweep_dir = next((tmp_path / "sweeps").iterdir())
    summary = json.loads((sweep_dir / "sweep.json").read_text())
    rows = summary["trials_table"]
    assert summary["trials"] == 2 and [r["state"] for r in rows] == ["complete", "complete"]
    assert [r["params"]["model"] for r in rows] == [f"@{small}", f"@{large}"]
    parameters = []
    for row, (layers, hidden) in zip(rows, ((1, 32), (2, 64))):
        run_dir = sweep_dir / row["run_dir"]
        recipe = load_recipe(run_dir / "recipe.toml")  # the run's resolved recipe holds its grid point's block
        assert (recipe.model.options.num_layers, recipe.model.options.hidden_size) == (layers, hidden)
        metrics = json.loads((run_dir / "metrics.json").read_text())
        assert metrics["training"]["eval_loss"] == row["value"]
        parameters.append(metrics["training"]["parameters"])
        assert [r["step"] for r in _records(run_dir) if "eval_accuracy" in r] == [2, 4]
        assert "![validation accuracy during training](training_accuracy.png)" in (run_dir / "report.md").read_text()
        assert (run_dir / "training_accuracy.png").stat().st_size > 0
    assert parameters[0] < parameters[1]
    assert "@small.toml" in (sweep_dir / "sweep.md").read_text()
    compared = run_odin("compare", *(str(sweep_dir / r["run_dir"]) for r in rows), "--format", "json")
    assert compared.returncode == 0, compared.stderr[-2000:]
    assert len(json.loads(compared.stdout)["runs"]) == 2
