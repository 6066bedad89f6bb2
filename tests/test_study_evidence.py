"""Study figures recomputed from their committed evidence: each run's per-row predictions give the accuracies,
intervals and paired p-values its README states and its metrics.json holds."""

from __future__ import annotations

import gzip
import json
import math
import re
from pathlib import Path

import pytest

from odin_core.foundation.stats import wilson_interval

pytestmark = pytest.mark.timeout(60)

STUDY = Path(__file__).resolve().parent.parent / "studies" / "learning_mechanics"


def outcomes(run: Path, stage: str) -> dict[str, bool]:
    with gzip.open(run / f"predictions-{stage}.jsonl.gz", "rt", encoding="utf-8") as fh:
        return {r["row_key"]: bool(r["correct"]) for r in map(json.loads, fh)}


def mcnemar(only_a: int, only_b: int) -> float:
    """Exact two-sided McNemar p-value, computed here from the binomial distribution."""
    n = only_a + only_b
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, k) for k in range(min(only_a, only_b) + 1)) / 2 ** n
    return min(1.0, 2 * tail)


def table_rows() -> dict[str, list[str]]:
    rows = {}
    for line in (STUDY / "README.md").read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if re.fullmatch(r"q\d+ \(.*\)", cells[0]):
            rows[cells[0].split()[0]] = cells
    return rows


@pytest.mark.parametrize(("name", "rows", "logged"), [("q1", 180, 40), ("q2", 180, 40), ("q0", 976, 80),
                                                     ("q3", 180, 100), ("q4", 276, 480),
                                                     ("q5", 240, 320), ("q6", 244, 320),
                                                     ("q7", 85, 320), ("q8", 51, 240)])
def test_readme_figures_come_from_the_predictions(name, rows, logged):
    run = STUDY / "evidence" / name
    trained = outcomes(run, "trained")
    shortcut = outcomes(run, "baseline-shortcut")
    majority = outcomes(run, "baseline-majority")
    learned = outcomes(run, "baseline-learned")
    assert set(trained) == set(shortcut) == set(majority) == set(learned) and len(trained) == rows
    n = len(trained)
    acc = {stage: sum(o.values()) / n for stage, o in
           (("trained", trained), ("majority", majority), ("learned", learned), ("shortcut", shortcut))}
    only_a = sum(trained[k] and not shortcut[k] for k in trained)
    only_b = sum(shortcut[k] and not trained[k] for k in trained)
    p = mcnemar(only_a, only_b)
    low, high = wilson_interval(sum(trained.values()), n)
    cells = table_rows()[name]
    assert cells[1] == f"{100 * acc['trained']:.1f} [{100 * low:.1f}, {100 * high:.1f}]"
    assert [float(c) for c in cells[2:5]] == [round(100 * acc[s], 1) for s in ("majority", "learned", "shortcut")]
    assert float(cells[5].replace("−", "-")) == round(100 * (acc["trained"] - acc["shortcut"]), 1)
    assert float(cells[6]) == float(f"{p:.1g}") or float(cells[6]) == float(f"{p:.2g}") or abs(float(cells[6]) - p) < 5e-5
    # and metrics.json says the same
    metrics = json.loads((run / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["trained"]["metrics"]["metrics.task_accuracy"]["overall"]["micro"] == pytest.approx(acc["trained"])
    assert metrics["comparisons"]["trained vs shortcut"]["overall"]["p_value"] == pytest.approx(p)
    # the loss log is there, one record per logging step
    losses = [json.loads(line) for line in (run / "metrics.jsonl").read_text(encoding="utf-8").splitlines()]
    assert sum("loss" in r for r in losses) == logged


def test_the_v3_table_in_the_docs_is_the_measurement():
    """docs/data.md's learned-baseline table on hypergraph-eval-v3 is learned_v3.json, and each accuracy, interval
    and flag in the JSON follows from its own counts."""
    from odin_core.questions.learned_baseline import YES_NO_BOUND

    root = Path(__file__).resolve().parent.parent
    result = json.loads((root / "studies" / "benchmark_validity" / "learned_v3.json").read_text(encoding="utf-8"))
    tasks = result["tables"]["test"]["tasks"]
    docs = (root / "docs" / "data.md").read_text(encoding="utf-8")
    section = docs.split("### The learned baseline on hypergraph-eval-v3", 1)[1]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 7 and f"hypernetx.{cells[0]}" in tasks:
            rows[f"hypernetx.{cells[0]}"] = cells
    assert set(rows) == set(tasks) and len(tasks) == 17
    for task, entry in tasks.items():
        best = entry["best"]
        assert best["accuracy"] == pytest.approx(best["correct"] / best["n"])
        assert best["correct"] == max(m["correct"] for m in entry["models"].values())
        low, high = wilson_interval(best["correct"], best["n"])
        cells = rows[task]
        assert cells[3] == f"{100 * best['accuracy']:.1f} [{100 * low:.1f}, {100 * high:.1f}]"
        flagged = best["accuracy"] > entry["bound"] + 1e-12
        assert cells[6] == ("yes" if flagged else "no") and entry["flagged"] == flagged
        if entry["answer_kind"] == "yes_no":
            assert entry["bound"] == YES_NO_BOUND
    flagged = sum(e["flagged"] for e in tasks.values())
    assert f"**{flagged} of 17 tasks stay flagged**" in section
    readme = (root / "README.md").read_text(encoding="utf-8")
    assert f"On v3, {flagged} of its 17 tasks are still above their" in readme


def test_the_copy_failure_is_what_the_traces_show():
    """README: the first id q2's traces name is the asked one on 14 of 180 rows."""
    import re

    with gzip.open(STUDY / "evidence" / "q2" / "predictions-trained.jsonl.gz", "rt", encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh]
    first = re.compile(r"\b[ve]\d+\b")
    copied = sum(bool(first.findall(r["expected"])) and first.findall(r["expected"])[:1] == first.findall(
        r["generated"])[:1] for r in rows)
    assert len(rows) == 180 and f"**{copied} of 180**" in (STUDY / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize(("name", "every", "last"), [("q3", 250, 2500), ("q4", 1000, 12000),
                                                       ("q5", 1000, 8000), ("q6", 1000, 8000),
                                                       ("q7", 1000, 8000), ("q8", 1000, 6000)])
def test_the_learning_curve_tables_are_the_training_predictions(name, every, last):
    """README: a run's learning curve (accuracy per task at every evaluation step, and how often the trace
    copies the asked name) is what curve.py computes from the committed training predictions."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("curve", STUDY / "curve.py")
    curve = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(curve)
    records = curve.curve(STUDY / "evidence" / name)
    assert [r["step"] for r in records] == list(range(every, last + 1, every))
    readme = (STUDY / "README.md").read_text(encoding="utf-8")
    section = readme.split(f"Learning curve of {name}", 1)[1].split("\n\n", 2)[1]
    for r in records:
        tasks = " | ".join(f"{c}/{n}" for c, n in r["tasks"].values())
        line = f"| {r['step']} | {tasks} | {100 * r['overall']:.1f} | {100 * r['copy']:.1f} |"
        assert line in section.splitlines(), line


def test_the_learning_recipe_is_the_one_q4_ran_and_states_its_result():
    """recipes/learn_cpu.toml resolves to the recipe q4 recorded (name and order of tasks aside), and its header
    states q4's accuracy and interval."""
    from odin_core.flows.resume import recorded_recipe
    from odin_core.recipe import load_recipe

    root = Path(__file__).resolve().parent.parent
    shipped = load_recipe(root / "recipes" / "learn_cpu.toml").resolved()
    ran = recorded_recipe(STUDY / "evidence" / "q4")  # recorded as [lora]: read as [finetune], as a resume does

    def unset(value):
        """TOML has no null: the recorded recipe leaves out what the resolved one holds as None."""
        if isinstance(value, dict):
            return {k: unset(v) for k, v in value.items() if v is not None}
        return [unset(v) for v in value] if isinstance(value, list) else value

    def normal(recipe: dict) -> dict:
        out = {key: recipe[key] for key in ("model", "finetune", "training", "generation", "seed", "data")}
        tasks = sorted(t if isinstance(t, str) else t["name"] for t in out["data"]["tasks"])
        out["data"] = dict(out["data"], tasks=tasks)
        return unset(out)

    added_since = {("training", "eval_schedule"): "every", ("generation", "prompting"): ["zero_shot", "k_shot"],
                   ("generation", "reasoning_tokens"): 256}  # keys added after q4 ran, at their defaults
    for (section, key), default in added_since.items():
        assert shipped[section].pop(key) == default
    assert normal(shipped) == normal(ran)
    cells = table_rows()["q4"]
    header = (root / "recipes" / "learn_cpu.toml").read_text(encoding="utf-8")
    assert f"Trained {cells[1].replace(' [', '% [')} on 276 test rows" in header


RL_STUDY = Path(__file__).resolve().parent.parent / "studies" / "rl"


def tasks_of(run: Path, stage: str) -> dict[str, tuple[bool, str]]:
    with gzip.open(run / f"predictions-{stage}.jsonl.gz", "rt", encoding="utf-8") as fh:
        return {r["row_key"]: (bool(r["correct"]), r["task"].split(".")[-1]) for r in map(json.loads, fh)}


def test_the_rl_study_figures_come_from_the_predictions():
    """studies/rl/RESULTS.md: each arm's accuracy, interval and per-task counts, and the paired p-values,
    recomputed from the committed per-row predictions on the same 276 test rows."""
    arms = {"start (q4's model)": tasks_of(RL_STUDY / "evidence" / "grpo", "trained"),
            "SFT longer (1,321 steps)": tasks_of(RL_STUDY / "evidence" / "sft_longer", "trained"),
            "SFT then GRPO (52 steps)": tasks_of(RL_STUDY / "evidence" / "grpo", "rl")}
    keys = set(arms["start (q4's model)"])
    assert all(set(a) == keys for a in arms.values()) and len(keys) == 276
    text = (RL_STUDY / "RESULTS.md").read_text(encoding="utf-8")
    order = ["hyperedge_degree", "shared_vertices", "vertex_connection", "vertex_degree", "vertex_set_in_hyperedge"]
    for label, rows in arms.items():
        right = sum(c for c, _ in rows.values())
        low, high = wilson_interval(right, len(rows))
        cells = [f"{sum(c for c, t in rows.values() if t == task)}/{sum(t == task for _, t in rows.values())}"
                 for task in order]
        line = (f"| {label} | {100 * right / len(rows):.1f} [{100 * low:.1f}, {100 * high:.1f}] | "
                + " | ".join(cells) + " |")
        assert line in text.splitlines(), line

    def paired(a, b):
        only_a = sum(a[k][0] and not b[k][0] for k in keys)
        only_b = sum(b[k][0] and not a[k][0] for k in keys)
        return only_a, only_b, mcnemar(only_a, only_b)

    grpo, sft, start = arms["SFT then GRPO (52 steps)"], arms["SFT longer (1,321 steps)"], arms["start (q4's model)"]
    for label, other, shown in (("SFT then GRPO vs SFT longer", sft, "0.46"), ("SFT then GRPO vs start", start, "0.24")):
        only_a, only_b, p = paired(grpo, other)
        delta = 100 * (sum(c for c, _ in grpo.values()) - sum(c for c, _ in other.values())) / len(keys)
        assert f"| {label} | 276 | −{abs(delta):.1f} | {only_a} | {only_b} | {shown} |" in text
        assert f"{p:.2f}" == shown
    metrics = json.loads((RL_STUDY / "evidence" / "grpo" / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["comparisons"]["after RL vs trained"]["overall"]["p_value"] == pytest.approx(paired(grpo, start)[2])
    equal = json.loads((RL_STUDY / "evidence" / "equal_time.json").read_text(encoding="utf-8"))
    assert equal["sft_steps"] == 1321 == round(equal["grpo_seconds"] * equal["sft_steps_per_second"])
    assert json.loads((RL_STUDY / "evidence" / "sft_longer" / "metrics.json").read_text())["training"]["steps"] == 1321
    yes_no = ("vertex_connection", "vertex_set_in_hyperedge")
    assert sum(c for c, t in grpo.values() if t in yes_no) == 48 and sum(c for c, t in sft.values() if t in yes_no) == 41


def test_the_learning_curve_study_tables_are_its_evidence():
    """studies/learning_curves/RESULTS.md: each size's table is what curves.py computes from the committed
    training predictions and metrics logs (accuracy per task, the Wilson interval, examples and FLOPs)."""
    import importlib.util

    study = Path(__file__).resolve().parent.parent / "studies" / "learning_curves"
    spec = importlib.util.spec_from_file_location("curves", study / "curves.py")
    curves = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(curves)
    text = (study / "RESULTS.md").read_text(encoding="utf-8").splitlines()
    generated = [line for line in curves.tables().splitlines() if line.startswith(("|", "###", "Test rows"))]
    assert len(generated) > 10 and all(line in text for line in generated), [l for l in generated if l not in text]
    for _, folder, info, records in curves.committed_sizes():
        for r in records:  # the interval is the one odin_core reports
            low, high = wilson_interval(r["right"], r["rows"])
            assert r["ci95"] == pytest.approx((low, high))
            assert r["flops"] == 6 * info["parameters"] * r["tokens"] and r["examples"] == 8 * r["step"]


def test_the_rl_recipe_header_states_its_measured_run():
    """recipes/rl_cpu.toml's header: the trained and after-RL accuracies with intervals, and the paired p, from
    the committed predictions of its run."""
    run = RL_STUDY / "evidence" / "rl_cpu"
    trained, after = outcomes(run, "trained"), outcomes(run, "rl")
    assert set(trained) == set(after) and len(trained) == 921
    header = (Path(__file__).resolve().parent.parent / "recipes" / "rl_cpu.toml").read_text(encoding="utf-8")
    header = " ".join(line.lstrip("# ") for line in header.splitlines() if line.startswith("#"))
    for label, rows in (("Trained", trained), ("after RL", after)):
        right = sum(rows.values())
        low, high = wilson_interval(right, len(rows))
        assert f"{label} {100 * right / len(rows):.1f}% [{100 * low:.1f}, {100 * high:.1f}]" in header
    only_a = sum(after[k] and not trained[k] for k in trained)
    only_b = sum(trained[k] and not after[k] for k in trained)
    assert f"p = {mcnemar(only_a, only_b):.2f}" in header
    rewards = [json.loads(line)["reward"] for line in (run / "rl_metrics.jsonl").read_text().splitlines()]
    assert f"from {rewards[0]:.3f} to {rewards[-1]:.3f}" in header


def test_the_prompted_smollm2_table_is_its_predictions():
    """studies/rl/RESULTS.md, section 2: each prompted stage's accuracy, interval and unreadable answers, and the
    paired tests of Hyper-BAG and Hyper-COT against 2-shot, from the committed predictions on the same 60 rows."""
    run = RL_STUDY / "evidence" / "prompted_smollm2"
    text = (RL_STUDY / "RESULTS.md").read_text(encoding="utf-8").splitlines()
    stages = {}
    for stage, label in (("zero_shot", "zero-shot"), ("k_shot", "2-shot"), ("hyper_bag", "Hyper-BAG"),
                         ("hyper_cot", "Hyper-COT")):
        with gzip.open(run / f"predictions-{stage}.jsonl.gz", "rt", encoding="utf-8") as fh:
            rows = {r["row_key"]: r for r in map(json.loads, fh)}
        stages[stage] = rows
        right = sum(r["correct"] for r in rows.values())
        low, high = wilson_interval(right, len(rows))
        unreadable = sum(r["format_error"] for r in rows.values())
        line = f"| {label} | {len(rows)} | {100 * right / len(rows):.1f} [{100 * low:.1f}, {100 * high:.1f}] | {unreadable} |"
        assert line in text, line
    shots = stages["k_shot"]
    for stage, label in (("hyper_bag", "Hyper-BAG"), ("hyper_cot", "Hyper-COT")):
        rows = stages[stage]
        assert set(rows) == set(shots) and len(rows) == 60
        only_a = sum(rows[k]["correct"] and not shots[k]["correct"] for k in rows)
        only_b = sum(shots[k]["correct"] and not rows[k]["correct"] for k in rows)
        delta = 100 * (only_a - only_b) / len(rows)
        assert f"| {label} vs 2-shot | 60 | −{abs(delta):.1f} | {only_a} | {only_b} | {mcnemar(only_a, only_b):.2g} |" in text
