"""``odin sweep``: --param specs and metric paths (fast), a real sweep of tiny trials, a killed sweep resumed."""

import json
import signal
import subprocess
import sys
import time

import pytest

from conftest import REPO, run_odin
from odin_core.flows.sweep_spec import (
    default_direction,
    format_value,
    overrides_for,
    parse_param,
    parse_params,
    parse_value,
    resolve_metric,
)
from odin_core.foundation.errors import RecipeError

# --- --param specs --------------------------------------------------------------------------------


@pytest.mark.timeout(30)
def test_param_specs_become_categories_and_distributions():
    spec = parse_param("finetune.r=8,16,32")
    assert (spec.key, spec.kind, spec.choices) == ("finetune.r", "categorical", (8, 16, 32))
    assert parse_param("finetune.strategy=finetune.lora, finetune.dora").choices == ("finetune.lora", "finetune.dora")
    assert parse_param("training.packing=true,false").choices == (True, False)
    spec = parse_param("training.learning_rate=loguniform:1e-5:1e-3")
    assert (spec.kind, spec.low, spec.high) == ("loguniform", 1e-5, 1e-3)
    spec = parse_param("finetune.r=int:4:64")
    assert (spec.kind, spec.low, spec.high) == ("int", 4, 64) and isinstance(spec.low, int)
    assert parse_param("finetune.dropout=uniform:0:0.2").kind == "uniform"


@pytest.mark.timeout(30)
@pytest.mark.parametrize("text, says", [
    ("finetune.r", "expected KEY=VALUES"),
    ("=8,16", "expected KEY=VALUES"),
    ("finetune.r=", "no values"),
    ("finetune.r=8", "one value is nothing to search"),
    ("finetune.r=8,,16", "empty item"),
    ("finetune.r=8,8", "appears twice"),
    ("training.learning_rate=normal:0:1", "unknown distribution 'normal'"),
    ("training.learning_rate=loguniform:1e-3", "two bounds"),
    ("training.learning_rate=loguniform:1e-3:1e-5", "must be below"),
    ("training.learning_rate=loguniform:0:1e-3", "positive low bound"),
    ("finetune.r=int:4:x", "'x' is not an integer"),
    ("finetune.r=int:4.5:8", "not an integer"),
    ("finetune.dropout=uniform:0:nan", "finite"),
    ("finetune.target_modules=[1],[2]", "numbers, booleans or strings"),
])
def test_a_bad_param_spec_is_one_error_naming_it(text, says):
    with pytest.raises(RecipeError) as caught:
        parse_param(text)
    assert f"--param {text!r}" in str(caught.value) and says in str(caught.value)


@pytest.mark.timeout(30)
def test_a_key_searched_twice_or_also_set_is_refused():
    with pytest.raises(RecipeError, match="already searched"):
        parse_params(["finetune.r=8,16", "finetune.r=int:4:8"])
    with pytest.raises(RecipeError, match="also fixed by --set 'finetune.r=8'"):
        parse_params(["finetune.r=8,16"], ["finetune.r=8"])
    with pytest.raises(RecipeError, match="no --param"):
        parse_params([])


@pytest.mark.timeout(30)
def test_values_are_written_as_set_overrides_that_read_back():
    for value in (8, 1e-5, 0.000123, 2.0, True, "finetune.dora", "org/model", "two words", "1e5x"):
        assert parse_value(format_value(value)) == value
    assert overrides_for({"finetune.r": 16, "training.learning_rate": 1e-4}) == ["finetune.r=16",
                                                                            "training.learning_rate=0.0001"]


# --- metric paths ---------------------------------------------------------------------------------

METRICS = {
    "trained": {"stage": "trained", "num_examples": 17, "metrics": {
        "metrics.task_accuracy": {"overall": {"micro": 0.5, "macro": 0.25, "format_error_rate": 0.1}},
        "metrics.perplexity": {"loss": 2.5, "perplexity": 12.2}}},
    "training": {"eval_loss": 3.25, "final_loss": 3.5, "steps": 12},
}


@pytest.mark.timeout(30)
def test_metric_paths_read_metrics_json():
    assert resolve_metric(METRICS, "trained.accuracy_macro") == 0.25
    assert resolve_metric(METRICS, "trained.accuracy") == 0.5
    assert resolve_metric(METRICS, "training.eval_loss") == 3.25
    assert resolve_metric(METRICS, "trained.metrics.metrics.perplexity.loss") == 2.5  # a key holding a dot
    assert resolve_metric(METRICS, "trained.metrics.metrics.task_accuracy.overall.micro") == 0.5
    assert default_direction("training.eval_loss") == "minimize"
    assert default_direction("trained.format_error_rate") == "minimize"
    assert default_direction("trained.accuracy_macro") == "maximize"


@pytest.mark.timeout(30)
@pytest.mark.parametrize("path, says", [
    ("accuracy", "starting with one of"),
    ("trained.acuracy", "trained has no 'acuracy'; expected one of metrics"),
    ("training.eval_los", "training has no 'eval_los'"),
    ("base.accuracy", "metrics.json has no 'base.accuracy'; it has trained, training"),
    ("trained.metrics.metrics.perplexity.los", "trained.metrics.metrics.perplexity has no 'los'; it has loss, perplexity"),
    ("trained.metrics", "is a table"),
])
def test_a_wrong_metric_path_lists_what_exists(path, says):
    with pytest.raises(RecipeError) as caught:
        resolve_metric(METRICS, path)
    assert f"--metric {path!r}" in str(caught.value) and says in str(caught.value)


@pytest.mark.timeout(60)
def test_sweep_errors_are_one_line_before_any_trial(tmp_path):
    bad_key = run_odin("sweep", "recipes/quickstart.toml", "--param", "lora.rr=8,16", "--trials", "2",
                       "--output-dir", str(tmp_path))
    assert bad_key.returncode == 2 and "--param 'lora.rr=8,16'" in bad_key.stderr and "did you mean 'r'" in bad_key.stderr
    assert "Traceback" not in bad_key.stderr and not list(tmp_path.iterdir())
    bad_metric = run_odin("sweep", "recipes/quickstart.toml", "--param", "finetune.r=8,16", "--trials", "2",
                          "--metric", "trained.acc", "--output-dir", str(tmp_path))
    assert bad_metric.returncode == 2 and "--metric 'trained.acc'" in bad_metric.stderr
    no_trials = run_odin("sweep", "recipes/quickstart.toml", "--param", "finetune.r=8,16")
    assert no_trials.returncode == 2 and "--trials" in no_trials.stderr
    not_sweep = run_odin("sweep", "--resume", str(tmp_path))
    assert not_sweep.returncode == 2 and "not a sweep directory" in not_sweep.stderr


# --- real sweeps of a tiny scratch model ----------------------------------------------------------

TINY = ["--set", "training.engine=transformers", "--set", "training.max_steps=8", "--set", "training.save_steps=4",
        "--set", "training.eval_steps=4", "--set", "training.logging_steps=4",
        "--set", "data.num_examples.train=96", "--set", "data.num_examples.validation=8",
        "--set", "data.num_examples.test=17", "--set", "data.sources.0.count=60",
        "--set", "generation.evaluate_base=false", "--set", "generation.max_examples=17",
        "--set", "model.hidden_size=64", "--set", "model.vocab_size=400", "--set", "training.batch_size=4"]
PARAMS = ["--param", "finetune.r=4,8", "--param", "training.learning_rate=loguniform:1e-4:1e-2"]
SWEEP = ["sweep", "recipes/quickstart.toml", *TINY, *PARAMS, "--metric", "training.eval_loss"]


def _summary(sweep_dir):
    return json.loads((sweep_dir / "sweep.json").read_text())


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_a_sweep_writes_its_summary_and_the_best_values_reproduce(tmp_path):
    done = run_odin(*SWEEP, "--trials", "3", "--output-dir", str(tmp_path / "sweeps"))
    assert done.returncode == 0, done.stderr[-3000:]
    sweep_dir = next((tmp_path / "sweeps").iterdir())
    assert f"sweep directory: {sweep_dir}" in done.stdout
    summary = _summary(sweep_dir)
    assert summary["finished"] == 3 and summary["direction"] == "minimize"
    rows = summary["trials_table"]
    assert [r["number"] for r in rows] == [0, 1, 2] and all(r["state"] == "complete" for r in rows)
    for row in rows:
        assert set(row["params"]) == {"finetune.r", "training.learning_rate"} and row["params"]["finetune.r"] in (4, 8)
        assert 1e-4 <= row["params"]["training.learning_rate"] <= 1e-2
        run = json.loads((sweep_dir / row["run_dir"] / "metrics.json").read_text())
        assert run["training"]["eval_loss"] == row["value"]
    best = summary["best"]
    assert best["value"] == min(r["value"] for r in rows)
    assert (sweep_dir / "study.db").is_file() and (sweep_dir / "optimization_history.png").stat().st_size > 0
    assert (sweep_dir / "param_importances.png").stat().st_size > 0
    report = (sweep_dir / "sweep.md").read_text()
    assert best["set"] in report and "odin compare" in report and "![history](optimization_history.png)" in report

    # the best trial's overrides, pasted into odin run, train the same model
    again = run_odin("run", "recipes/quickstart.toml", *TINY, *(p for o in best["overrides"] for p in ("--set", o)),
                     "--output-dir", str(tmp_path / "again"))
    assert again.returncode == 0, again.stderr[-3000:]
    rerun = json.loads(next((tmp_path / "again").glob("*/metrics.json")).read_text())
    assert rerun["training"]["eval_loss"] == pytest.approx(best["value"], rel=1e-4)

    compared = run_odin("compare", *(r["run_dir"] for r in rows), "--format", "json")
    assert compared.returncode == 0, compared.stderr[-2000:]


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_a_killed_sweep_resumes_without_losing_or_repeating_trials(tmp_path):
    output = tmp_path / "sweeps"
    process = subprocess.Popen([sys.executable, "-m", "odin_core", *SWEEP, "--trials", "3",
                                "--output-dir", str(output)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               text=True, cwd=REPO)
    deadline = time.time() + 600

    def wait_for(pattern):
        while not list(output.glob(pattern)):
            if process.poll() is not None:
                raise AssertionError(process.stderr.read()[-3000:])
            assert time.time() < deadline, f"the sweep never wrote {pattern}"
            time.sleep(0.1)

    # killed twice: in trial 1 after its first checkpoint, then (resumed) in trial 3 before any checkpoint
    wait_for("*/trials/trial-0001/checkpoints/checkpoint-4/trainer_state.json")
    process.send_signal(signal.SIGKILL)
    process.wait()
    sweep_dir = next(output.iterdir())
    assert [r["state"] for r in _summary(sweep_dir)["trials_table"]] == ["complete"]  # written after trial 0
    first = _summary(sweep_dir)["trials_table"][0]
    process = subprocess.Popen([sys.executable, "-m", "odin_core", "sweep", "--resume", str(sweep_dir)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=REPO)
    wait_for("*/trials/trial-0003/recipe.toml")
    process.send_signal(signal.SIGKILL)
    process.wait()

    done = run_odin("sweep", "--resume", str(sweep_dir))
    assert done.returncode == 0, done.stderr[-3000:]
    assert "trial 3 was running when the sweep stopped" in done.stderr and "no checkpoint yet" in done.stderr
    summary = _summary(sweep_dir)
    rows = {r["number"]: r for r in summary["trials_table"]}
    assert rows[0] == first  # kept as it was, not run again
    # trial 1 was continued from its checkpoint by trial 2, in its own run directory
    assert rows[1]["state"] == "interrupted" and rows[1]["rerun_as"] == 2
    assert rows[2]["rerun_of"] == 1 and rows[2]["continued"] and rows[2]["params"] == rows[1]["params"]
    assert rows[2]["run_dir"] == rows[1]["run_dir"] and rows[2]["state"] == "complete"
    continued = json.loads((sweep_dir / rows[2]["run_dir"] / "metrics.json").read_text())
    assert continued["training"]["resumed_from_step"] == 4 and continued["training"]["eval_loss"] == rows[2]["value"]
    # trial 3, killed before its first checkpoint, was run again from the start by trial 4
    assert rows[3]["state"] == "interrupted" and rows[4]["rerun_of"] == 3 and not rows[4].get("continued")
    assert rows[4]["params"] == rows[3]["params"] and rows[4]["run_dir"] != rows[3]["run_dir"]
    counted = [r for r in rows.values() if r["state"] in ("complete", "pruned", "failed")]
    assert summary["finished"] == len(counted) == 3 and sorted(rows) == [0, 1, 2, 3, 4]
    assert not (sweep_dir / "sweep.lock").exists()

    # finished: resuming again runs nothing
    again = run_odin("sweep", "--resume", str(sweep_dir))
    assert again.returncode == 0 and _summary(sweep_dir)["trials_table"] == summary["trials_table"]


# --- the sweep loop with stand-in runs (no training): pruning, interruption, resume ------------------


class FakeFlow:
    """Stands in for RunFlow: reports a validation loss that depends on the learning rate, at steps 4, 8, 12."""

    interrupt_at_trial = None
    started: list = []

    def __init__(self, recipe, *, run_dir, overrides, on_eval, resume=None):
        self.recipe, self.run_dir, self.on_eval = recipe, run_dir, on_eval

    def run(self):
        import math

        from odin_core.flows.run import RunResult

        number = int(self.run_dir.path.name.split("-")[1])
        FakeFlow.started.append(number)
        self.run_dir.path.mkdir(parents=True)
        if number == FakeFlow.interrupt_at_trial:
            raise KeyboardInterrupt
        distance = abs(math.log10(self.recipe.training.learning_rate) + 3)  # best at 1e-3
        for step in (4, 8, 12):
            loss = 2 + distance + 4 / step
            self.on_eval(step, {"eval_loss": loss})
        return RunResult(self.run_dir.path, {"training": {"eval_loss": loss}})


@pytest.mark.timeout(120)
def test_sweep_loop_prunes_counts_and_resumes(tmp_path, monkeypatch):
    from optuna.trial import TrialState

    import odin_core.flows.run
    from odin_core.flows.sweep import resume_sweep, start_sweep

    monkeypatch.setattr(odin_core.flows.run, "RunFlow", FakeFlow)
    FakeFlow.started, FakeFlow.interrupt_at_trial = [], 3
    messages = []
    with pytest.raises(KeyboardInterrupt):
        start_sweep("recipes/quickstart.toml", ["training.learning_rate=loguniform:1e-5:1e-1", "finetune.r=8,16"],
                    trials=8, metric="training.eval_loss", output_dir=tmp_path, prune_after=1, echo=messages.append)
    sweep_dir = next(tmp_path.iterdir())
    assert FakeFlow.started == [0, 1, 2, 3] and not (sweep_dir / "sweep.lock").exists()
    assert "interrupted during trial 3" in messages[-1]

    FakeFlow.interrupt_at_trial = None
    result = resume_sweep(sweep_dir, echo=messages.append)
    rows = {r["number"]: r for r in result.summary["trials_table"]}
    assert rows[3]["state"] == "interrupted" and rows[4]["rerun_of"] == 3 and rows[4]["params"] == rows[3]["params"]
    assert FakeFlow.started[:5] == [0, 1, 2, 3, 4] and len(FakeFlow.started) == 9  # 8 counted + 1 interrupted
    assert result.summary["finished"] == 8 and sum(r["state"] in ("complete", "pruned") for r in rows.values()) == 8
    pruned = [r for r in rows.values() if r["state"] == "pruned"]
    assert pruned and all(r["pruned_at_step"] in (4, 8, 12) for r in pruned)
    best = result.summary["best"]
    assert best["value"] == min(r["value"] for r in rows.values() if r["state"] == "complete")
    assert best["overrides"][0].startswith("training.learning_rate=")

    import optuna

    study = optuna.load_study(study_name="odin-sweep", storage=f"sqlite:///{sweep_dir / 'study.db'}")
    states = [t.state for t in study.trials]
    assert states.count(TrialState.FAIL) == 1 and TrialState.RUNNING not in states

    again = resume_sweep(sweep_dir, trials=9, echo=messages.append)  # one more
    assert again.summary["finished"] == 9 and len(FakeFlow.started) == 10


@pytest.mark.timeout(120)
def test_a_metric_missing_from_the_first_trial_stops_the_sweep(tmp_path, monkeypatch):
    import odin_core.flows.run
    from odin_core.flows.sweep import start_sweep

    monkeypatch.setattr(odin_core.flows.run, "RunFlow", FakeFlow)
    FakeFlow.started, FakeFlow.interrupt_at_trial = [], None
    with pytest.raises(RecipeError) as caught:
        start_sweep("recipes/quickstart.toml", ["finetune.r=8,16"], trials=4, metric="trained.accuracy_macro",
                    output_dir=tmp_path, echo=lambda m: None)
    message = str(caught.value)
    assert "metrics.json has no 'trained.accuracy_macro'; it has training" in message and "trial 0" in message
    assert FakeFlow.started == [0]
    summary = json.loads((next(tmp_path.iterdir()) / "sweep.json").read_text())
    assert summary["trials_table"][0]["state"] == "failed"


@pytest.mark.timeout(120)
def test_values_drawn_again_reuse_the_earlier_result(tmp_path, monkeypatch):
    import odin_core.flows.run
    from odin_core.flows.sweep import start_sweep

    monkeypatch.setattr(odin_core.flows.run, "RunFlow", FakeFlow)
    FakeFlow.started, FakeFlow.interrupt_at_trial = [], None
    result = start_sweep("recipes/quickstart.toml", ["training.learning_rate=1e-3,1e-2"], trials=5,
                         metric="training.eval_loss", output_dir=tmp_path, prune=False, echo=lambda m: None)
    rows = result.summary["trials_table"]
    assert result.summary["finished"] == 5 and len(FakeFlow.started) <= 2  # two distinct values: at most two runs
    for row in rows:
        if "duplicate_of" in row:
            earlier = rows[row["duplicate_of"]]
            assert row["params"] == earlier["params"] and row["value"] == earlier["value"]
            assert row["run_dir"] == earlier["run_dir"]
    assert result.summary["best"]["params"] == {"training.learning_rate": 1e-3}
