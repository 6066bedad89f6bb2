"""Reports and comparisons from real evaluations of tiny local models: report.md, plots, odin report/compare."""

import csv
import io
import json
import shutil

import pytest
from click.testing import CliRunner

from odin_core.cli import cli
from odin_core.components.protocols import LoadedModel
from odin_core.evaluate import evaluate_model, trivial_baselines
from odin_core.foundation.files import read_jsonl
from odin_core.report import compare_runs, render_comparison, worst_failures, write_report
from odin_core.runtime.rundir import RunDir
from test_evaluate import build_tiny_model, fit, recipe_for, tiny_rows

TASKS = {"edge_count", "connection", "shared", "path", "hyperedge_discrimination"}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def make_run(path, hidden, seed, train_steps):
    """A run directory as ``odin run`` leaves it: predictions, metrics.jsonl, metrics.json, report."""
    rows, validation, train = tiny_rows(30), tiny_rows(10, offset=100), tiny_rows(40, offset=200)
    recipe = recipe_for()
    run = RunDir(path, recipe)
    path.mkdir(parents=True)
    run.write_start_files()
    model, tokenizer = build_tiny_model([r["prompt"] + r["completion"] for r in rows] * 5, seed=seed, hidden=hidden)
    loaded = LoadedModel(model=model, tokenizer=tokenizer, engine="transformers")
    metrics = {"recipe": recipe.name, "run_dir": str(path)}
    metrics["base"] = evaluate_model(recipe, loaded, rows, run, stage="base", loss_split=validation)
    for step in range(1, 4):
        run.append_jsonl("metrics.jsonl", {"step": step * 10, "loss": 3.0 / step, "learning_rate": 1e-3})
    run.append_jsonl("metrics.jsonl", {"step": 30, "eval_loss": 1.4})
    if train_steps:
        fit(model, tokenizer, rows, steps=train_steps)
    metrics["training"] = {"steps": train_steps, "seconds": 1.5, "strategy": "finetune.full"}  # fit() trains every weight
    metrics["trained"] = evaluate_model(recipe, loaded, rows, run, stage="trained", loss_split=validation)
    metrics["baselines"] = trivial_baselines(recipe, {"train": train, "test": rows})
    run.write_json("metrics.json", metrics)
    write_report(run)
    return path


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("runs")
    return {"small": make_run(base / "small", hidden=64, seed=1, train_steps=80),
            "untrained": make_run(base / "untrained", hidden=32, seed=2, train_steps=0)}


def table_rows(text, heading):
    """Rows (lists of cells) of the first Markdown table after ``heading``."""
    section = text.split(heading + "\n", 1)[1].splitlines()
    start = next(i for i, line in enumerate(section) if line.startswith("|"))
    lines = []
    for line in section[start:]:
        if not line.startswith("|"):
            break
        lines.append(line)
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    return [dict(zip(header, [c.strip() for c in line.strip("|").split("|")])) for line in lines[2:]]


def test_report_shows_base_trained_and_baseline_per_task(runs):
    path = runs["small"]
    metrics = json.loads((path / "metrics.json").read_text())
    text = (path / "report.md").read_text()
    per_task = {row["task"]: row for row in table_rows(text, "## Accuracy per task")}
    assert set(per_task) == TASKS
    for task, row in per_task.items():
        base = metrics["base"]["metrics"]["metrics.task_accuracy"]["per_task"][task]["accuracy"]
        trained = metrics["trained"]["metrics"]["metrics.task_accuracy"]["per_task"][task]["accuracy"]
        majority = metrics["baselines"]["majority"]["metrics"]["metrics.task_accuracy"]["per_task"][task]["accuracy"]
        assert row["base %"] == f"{100 * base:.1f}" and row["trained %"] == f"{100 * trained:.1f}"
        assert row["Δ trained−base"] == f"{100 * (trained - base):+.1f}"
        assert row["majority %"] == f"{100 * majority:.1f}"
    encodings = {row["encoding"] for row in table_rows(text, "## Accuracy per encoding")}
    assert encodings == {"n_set", "n_pair"}
    families = {row["family"] for row in table_rows(text, "## Accuracy per family")}
    assert families == {"low_order", "high_order", "hyperedge_prediction"}
    set_rows = table_rows(text, "## Vertex-set answers")
    assert {row["answers of"] for row in set_rows} == {"base", "trained", "majority", "best constant set"}
    schemes = {(row["scheme"], row["stage"]) for row in table_rows(text, "## Hyperedge discrimination")}
    assert {("SNS", "trained"), ("CNS", "base"), ("all", "majority")} <= schemes
    summary = {row["stage"]: row for row in table_rows(text, "## Summary")}
    assert set(summary) == {"base", "trained", "majority"}
    assert float(summary["trained"]["accuracy % (micro)"]) > float(summary["base"]["accuracy % (micro)"])
    assert "![loss curve](loss.png)" in text and "![accuracy per task](task_accuracy.png)" in text


def test_plots_are_png_images(runs):
    import matplotlib.image

    for name in ("loss.png", "task_accuracy.png"):
        data = (runs["small"] / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        height, width = matplotlib.image.imread(runs["small"] / name).shape[:2]
        assert height > 200 and width > 400


def test_worst_failures_show_prompt_expected_and_predicted(runs):
    path = runs["untrained"]
    text = (path / "report.md").read_text()
    section = text.split("## Worst failures (trained model)", 1)[1]
    predictions = read_jsonl(path / "predictions-trained.jsonl")
    failures = worst_failures(predictions)
    assert len(failures) == 10 and all(not f["correct"] for f in failures)
    first = failures[0]
    assert f"### 1. {first['task']} ({first['encoding']})" in section
    assert first["prompt"] in section and "- expected: `" + first["expected"].strip() + "`" in section
    assert "- predicted: " in section
    # taken in turn from the tasks, worst task first, format errors first within a task
    tasks = [f["task"] for f in failures]
    assert len(set(tasks[:5])) == min(5, len({p["task"] for p in predictions if not p["correct"]}))
    for task in set(tasks):
        mine = [f for f in failures if f["task"] == task]
        flags = [f["format_error"] for f in mine]
        assert flags == sorted(flags, reverse=True)


def test_worst_failures_order_by_hand():
    records = [
        {"task": "a", "correct": True, "answer_kind": "count"},
        {"task": "a", "correct": False, "answer_kind": "count", "parsed": 4, "answer": 3, "format_error": False},
        {"task": "a", "correct": False, "answer_kind": "count", "parsed": 9, "answer": 3, "format_error": False},
        {"task": "b", "correct": False, "answer_kind": "yes_no", "parsed": None, "answer": True, "format_error": True},
        {"task": "b", "correct": False, "answer_kind": "yes_no", "parsed": False, "answer": True, "score": -2.0,
         "format_error": False},
    ]
    chosen = worst_failures(records, limit=3)
    # b (0% right) before a (33%); within a task the format error / farthest answer first
    assert chosen == [records[3], records[2], records[4]]


def test_odin_report_rebuilds_the_report(runs, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(runs["small"], copy)
    before = (copy / "report.md").read_text()
    for name in ("report.md", "loss.png", "task_accuracy.png"):
        (copy / name).unlink()
    result = CliRunner().invoke(cli, ["report", str(copy)])
    assert result.exit_code == 0, result.output
    assert (copy / "report.md").read_text() == before.replace(str(runs["small"]), str(copy))
    assert (copy / "loss.png").exists() and (copy / "task_accuracy.png").exists()


def test_odin_report_without_metrics_is_one_clear_error(tmp_path):
    (tmp_path / "recipe.toml").write_text('name = "unfinished"\n')  # a run that stopped before evaluating
    result = CliRunner().invoke(cli, ["report", str(tmp_path)])
    assert result.exit_code == 2
    assert "no metrics.json" in result.output and "odin eval" in result.output
    assert "Traceback" not in result.output


def test_compare_puts_runs_side_by_side_smallest_first(runs):
    comparison = compare_runs([runs["small"], runs["untrained"]])
    names = [r["run"] for r in comparison["runs"]]
    assert names == ["untrained", "small"]  # hidden 32 has fewer parameters than hidden 64
    small = comparison["runs"][1]
    metrics = json.loads((runs["small"] / "metrics.json").read_text())
    assert small["accuracy"] == metrics["trained"]["metrics"]["metrics.task_accuracy"]["overall"]["micro"]
    assert small["majority_accuracy"] == metrics["baselines"]["majority"]["metrics"]["metrics.task_accuracy"]["overall"]["micro"]
    assert set(comparison["tasks"]) == TASKS and set(comparison["tasks"]["shared"]) == {"small", "untrained"}

    result = CliRunner().invoke(cli, ["compare", str(runs["small"]), str(runs["untrained"])])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("| ")]
    assert lines[1].startswith("| untrained") and lines[2].startswith("| small")
    assert "Accuracy % per task" in result.output
    stages = {(row["run"], row["stage"]): row for row in table_rows(result.output, "Each run's stages:")}
    assert set(stages) == {(run, stage) for run in ("small", "untrained") for stage in ("base", "trained (full)", "majority")}
    for stage, key in (("base", ("base",)), ("trained (full)", ("trained",)), ("majority", ("baselines", "majority"))):
        record = metrics
        for k in key:
            record = record[k]
        overall = record["metrics"]["metrics.task_accuracy"]["overall"]
        assert stages[("small", stage)]["accuracy %"] == f"{100 * overall['micro']:.1f}"
        assert stages[("small", stage)]["n"] == str(overall["n"])
    parsed = list(csv.DictReader(io.StringIO(render_comparison(comparison, "csv"))))
    assert [row["run"] for row in parsed] == ["untrained", "small"]
    assert [row["strategy"] for row in parsed] == ["finetune.full", "finetune.full"]
    overall = metrics["trained"]["metrics"]["metrics.task_accuracy"]["overall"]
    k, n = overall["correct"], overall["n"]  # Wilson score interval, z = 1.96, computed here independently
    centre, half = (k + 1.96**2 / 2) / (n + 1.96**2), 1.96 * (k * (n - k) / n + 1.96**2 / 4) ** 0.5 / (n + 1.96**2)
    low, high = centre - half, centre + half
    assert float(parsed[1]["accuracy_ci95_low"]) == pytest.approx(low, abs=1e-3)
    assert float(parsed[1]["accuracy_ci95_high"]) == pytest.approx(high, abs=1e-3)
    assert json.loads(render_comparison(comparison, "json")) == json.loads(json.dumps(comparison))


def test_compare_names_a_missing_evaluation(runs):
    result = CliRunner().invoke(cli, ["compare", str(runs["small"]), "--evaluation", "frozen-v1"])
    assert result.exit_code == 2 and "no evaluation named 'frozen-v1'" in result.output


# --- the whole flow: odin run, then odin eval on other data, a frozen set, the base model --------------

RUN_RECIPE = """\
name = "{name}"
seed = {seed}

[model]
loader = "models.scratch"
max_seq_length = 1024
num_layers = 2
hidden_size = 32
num_heads = 4
vocab_size = 320

[finetune]
strategy = "finetune.lora"
r = 4
alpha = 8

[data]
tasks = ["hypernetx.hyperedge_count", "hypernetx.vertex_connection", "hypernetx.shared_vertices",
         "hypernetx.hyperedge_discrimination"]
encodings = ["hypernetx.n_set"]
cache_dir = "{cache}"

[data.num_examples]
train = 48
validation = 8
test = 12

[[data.sources]]
name = "hypernetx.synthetic"
count = 60

[training]
engine = "transformers"
max_steps = 3
batch_size = 8
logging_steps = 1
save_steps = 100

[generation]
batch_size = 8
max_new_tokens = 12
"""


def test_odin_run_then_eval_on_a_frozen_set_and_compare(tmp_path):
    from odin_core import data
    from odin_core.recipe import load_recipe

    recipe = tmp_path / "run.toml"
    recipe.write_text(RUN_RECIPE.format(name="flow", seed=5, cache=tmp_path / "cache"))
    other = tmp_path / "other.toml"
    other.write_text(RUN_RECIPE.format(name="other", seed=99, cache=tmp_path / "cache"))
    runner = CliRunner()

    result = runner.invoke(cli, ["run", str(recipe), "--output-dir", str(tmp_path / "runs")])
    assert result.exit_code == 0, result.output
    (run,) = (tmp_path / "runs").iterdir()
    metrics = json.loads((run / "metrics.json").read_text())
    assert {"base", "trained", "baselines", "training"} <= set(metrics)
    assert metrics["trained"]["metrics"]["metrics.perplexity"]["examples"] == 8  # the validation split
    # 12 asked, fewer kept when the tiny hypergraph pool repeats a prompt (a split keeps each prompt once)
    assert 9 <= metrics["trained"]["num_examples"] <= 12
    text = (run / "report.md").read_text()
    assert {row["stage"] for row in table_rows(text, "## Summary")} == {"base", "trained", "majority"}
    assert {row["task"] for row in table_rows(text, "## Accuracy per task")} == {
        "hypernetx.hyperedge_count", "hypernetx.vertex_connection", "hypernetx.shared_vertices",
        "hypernetx.hyperedge_discrimination"}
    assert (run / "loss.png").exists() and (run / "predictions-base.jsonl").exists()
    heuristics = metrics["heuristics"]  # the rules the rows record, scored on the evaluated rows
    assert heuristics["split"] == "test" and heuristics["rows"] == metrics["trained"]["num_examples"]
    assert set(heuristics["tasks"]) == {row["task"] for row in table_rows(text, "## Accuracy per task")}
    per_task = {row["task"]: row for row in table_rows(text, "## Accuracy per task")}
    connection = heuristics["tasks"]["hypernetx.vertex_connection"]  # its rows record first_option at least
    assert "first_option" in connection["rules"] and connection["n"] == connection["rows"]
    assert per_task["hypernetx.vertex_connection"]["best heuristic"].startswith(connection["best"]["rule"] + " ")

    frozen_dir, _ = data.write_frozen_eval_set(load_recipe(other), "toy-frozen", dest=tmp_path / "toy-frozen")
    result = runner.invoke(cli, ["eval", str(run), "--data", str(frozen_dir)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(cli, ["eval", str(run), "--base", "--data", str(other), "--split", "validation",
                                 "--no-baselines"])
    assert result.exit_code == 0, result.output
    evaluations = json.loads((run / "metrics.json").read_text())["evaluations"]
    assert set(evaluations) == {"toy-frozen", "base-other-validation"}
    frozen = evaluations["toy-frozen"]
    assert frozen["num_examples"] == len(data.frozen_eval_set(str(frozen_dir)))
    assert frozen["baselines"]["majority"]["num_examples"] == frozen["num_examples"]  # from the run's training split
    assert evaluations["base-other-validation"]["base_model"] is True
    assert frozen["heuristics"]["rows"] == frozen["num_examples"]
    assert evaluations["base-other-validation"]["heuristics"]["split"] == "validation"
    assert (run / "predictions-eval-toy-frozen.jsonl").exists()
    assert "### toy-frozen" in (run / "report.md").read_text()
    assert all("best heuristic" in row for row in table_rows((run / "report.md").read_text(), "### toy-frozen"))

    result = runner.invoke(cli, ["compare", str(run), "--evaluation", "toy-frozen", "--format", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["runs"][0]["examples"] == frozen["num_examples"]

    result = runner.invoke(cli, ["eval", str(tmp_path / "nowhere")])
    assert result.exit_code == 2 and "not a run directory" in result.output


def _exact_mcnemar(b, c):
    """Two-sided exact McNemar p-value, computed here independently of odin_core.foundation.stats."""
    from math import comb

    n = b + c
    if n == 0:
        return 1.0
    return min(1.0, 2 * sum(comb(n, k) for k in range(min(b, c) + 1)) / 2 ** n)


@pytest.mark.slow
def test_seeds_report_their_spread_and_compare_tests_runs_on_the_same_rows(tmp_path):
    import statistics

    recipe = tmp_path / "run.toml"
    recipe.write_text(RUN_RECIPE.format(name="seeded", seed=5, cache=tmp_path / "cache"))
    runner = CliRunner()
    result = runner.invoke(cli, ["run", str(recipe), "--seeds", "2", "--output-dir", str(tmp_path / "runs"),
                                 "--set", "training.max_steps=6"])
    assert result.exit_code == 0, result.output
    (first,) = (tmp_path / "runs").iterdir()
    (second,) = (first / "seeds").iterdir()
    metrics = json.loads((first / "metrics.json").read_text())
    other = json.loads((second / "metrics.json").read_text())
    assert metrics["seeds"]["seeds"] == [5, 6] and other["training_seed"] == 6
    accuracies = [m["trained"]["metrics"]["metrics.task_accuracy"]["overall"]["micro"] for m in (metrics, other)]
    summary = metrics["seeds"]["summary"]["trained"]
    assert summary["values"] == accuracies
    assert summary["mean"] == pytest.approx(statistics.mean(accuracies))
    assert summary["std"] == pytest.approx(statistics.stdev(accuracies))
    assert "## Across seeds" in (first / "report.md").read_text()
    # both seeds were evaluated on the same rows of the same dataset
    rows = [[json.loads(line) for line in (run / "predictions-trained.jsonl").read_text().splitlines()]
            for run in (first, second)]
    assert [r["row_key"] for r in rows[0]] == [r["row_key"] for r in rows[1]]

    result = runner.invoke(cli, ["compare", str(first), str(second), "--format", "json", "--plot",
                                 str(tmp_path / "size.png")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "size.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    comparison = json.loads(result.output)
    assert set(comparison["runs"][0]["stages"]) == {"base", "trained", "majority"}
    test = comparison["tests"][second.name]
    right = {run: {r["row_key"]: r["correct"] for r in recs} for run, recs in zip(("a", "b"), rows)}
    only_second = sum(right["b"][k] and not right["a"][k] for k in right["a"])
    only_first = sum(right["a"][k] and not right["b"][k] for k in right["a"])
    assert (test["against"], test["overall"]["only_a"], test["overall"]["only_b"]) == (first.name, only_second, only_first)
    assert test["overall"]["p_value"] == pytest.approx(_exact_mcnemar(only_first, only_second))

    different = tmp_path / "different.toml"
    different.write_text(RUN_RECIPE.format(name="different", seed=77, cache=tmp_path / "cache"))
    assert runner.invoke(cli, ["run", str(different), "--output-dir", str(tmp_path / "other-runs")]).exit_code == 0
    (third,) = (tmp_path / "other-runs").iterdir()
    result = runner.invoke(cli, ["compare", str(first), str(third)])
    assert result.exit_code == 0
    assert "not tested" in result.output and "different rows" in result.output


def test_compare_lists_the_recipe_keys_that_differ(tmp_path):
    from odin_core.report.compare import differing_settings

    for name, rate, layers in (("a", 1e-3, 2), ("b", 2e-3, 2), ("c", 1e-3, 4)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "recipe.toml").write_text(
            f'name = "{name}"\nseed = 7\n[model]\nloader = "models.scratch"\nnum_layers = {layers}\n'
            f'[training]\nlearning_rate = {rate}\n[[data.sources]]\nname = "s"\ncount = 3\n')
    (tmp_path / "c" / "recipe.toml").write_text((tmp_path / "c" / "recipe.toml").read_text() + "[finetune]\nr = 8\n")
    settings = differing_settings([tmp_path / n for n in "abc"])
    assert settings == {"finetune.r": {"a": None, "b": None, "c": 8},
                        "model.num_layers": {"a": 2, "b": 2, "c": 4},
                        "training.learning_rate": {"a": 1e-3, "b": 2e-3, "c": 1e-3}}  # names and seeds agree
    runs = [{"run": n, "model": None, "parameters": None, "split": "test", "examples": 1, "accuracy": 0.5,
             "macro_accuracy": 0.5, "base_accuracy": None, "majority_accuracy": None, "shortcut_accuracy": None,
             "format_errors": 0, "families": {}} for n in "abc"]
    text = render_comparison({"runs": runs, "tasks": {}, "tests": {}, "settings": settings})
    rows = {row["key"]: row for row in table_rows(text, "Recipe keys that differ between the runs:")}
    assert rows["finetune.r"] == {"key": "finetune.r", "a": "–", "b": "–", "c": "8"}
    assert rows["training.learning_rate"]["b"] == "0.002"
