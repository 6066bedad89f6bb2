"""The RL stage (``[rl]``): rewards read answers as the evaluators do, GRPO raises the reward of a scratch model
after supervised training, the report gains the "after RL" stage, and a stopped RL stage resumes its curve."""

import json
import math
import os
import signal
import threading
import time

import pytest

import odin_core
from odin_core.evaluate import EvalContext
from odin_core.foundation.errors import RecipeError
from odin_core.recipe import load_recipe
from test_evaluate import tiny_rows
from training_support import recipe_text, toy_datasets, write_recipe

pytestmark = pytest.mark.usefixtures("one_torch_thread")

RL = """
[rl]
max_steps = {steps}
batch_size = 4
num_generations = {generations}
max_completion_length = 8
learning_rate = {lr}
logging_steps = 1
save_steps = {save_steps}
{extra}
"""


def rl_recipe(folder, *, sft_steps=60, rl_steps=60, lr=5e-4, generations=8, save_steps=50, extra="",
              training_extra=""):
    """Full training of a tiny scratch model (it learns the answer format and little else), then GRPO."""
    text = recipe_text(strategy="finetune.full", lora_options="", max_steps=sft_steps, save_steps=100,
                       logging_steps=10, training_extra=training_extra)
    text += '\n[generation]\nevaluate_base = false\nbatch_size = 16\n'
    text += RL.format(steps=rl_steps, lr=lr, save_steps=save_steps, generations=generations, extra=extra)
    return write_recipe(folder, text)


def completions_for(rows):
    """For each row: its gold completion, a wrong answer of its kind, a partly right set, and an unreadable text."""
    out = []
    for row in rows:
        gold = json.loads(row["answer"]) if isinstance(row["answer"], str) else row["answer"]
        kind = row["answer_kind"]
        wrong = {"count": "Ans: [99]", "yes_no": "Ans: [Maybe No]" if gold else "Ans: [Yes]",
                 "vertex_set": "Ans: [v9]", "path_length": "Ans: [7]", "label": "Ans: [nothing]"}[kind]
        partial = f"Ans: [{(gold or ['v9'])[0]}, v9]" if kind == "vertex_set" else wrong
        out += [(row, row["completion"]), (row, wrong), (row, partial), (row, "I think so")]
    return out


@pytest.mark.timeout(60)
def test_the_rewards_agree_with_the_evaluator_on_every_row():
    pairs = completions_for(tiny_rows(40))
    rows, texts = [r for r, _ in pairs], [t for _, t in pairs]
    context = EvalContext(rows, generations=texts)
    decoded = [dict(row, answer=gold) for row, gold in zip(rows, context.gold)]
    exact = odin_core.get_component("reward", "metrics.correct").create(
        odin_core.get_component("reward", "metrics.correct").options(partial_credit=False))
    assert exact.score(decoded, texts) == [1.0 if c else 0.0 for c in context.correct]
    partial = odin_core.get_component("reward", "metrics.correct").create().score(decoded, texts)
    fmt = odin_core.get_component("reward", "metrics.answer_format").create().score(decoded, texts)
    assert fmt == [0.0 if p is odin_core.FORMAT_ERROR else 1.0 for p in context.predictions]
    for row, gold, pred, right, value in zip(rows, context.gold, context.predictions, context.correct, partial):
        if row["answer_kind"] != "vertex_set":
            assert value == (1.0 if right else 0.0)
            continue
        predicted = set() if pred is odin_core.FORMAT_ERROR else set(pred)
        truth = set(gold)
        f1 = 1.0 if not predicted and not truth and pred is not odin_core.FORMAT_ERROR else (
            2 * len(predicted & truth) / (len(predicted) + len(truth)) if predicted or truth else 0.0)
        assert math.isclose(value, f1) and (value == 1.0) == right  # exact sets, and only they, earn 1
    assert 0 < sum(0 < v < 1 for v in partial)  # the fixture has partly right sets


@pytest.mark.timeout(60)
@pytest.mark.parametrize("override, key, says", [
    ("rl.num_generations=1", "rl.num_generations", "greater than or equal to 2"),
    ('rl.rewards=[{ name = "metrics.corect" }]', "rl.rewards.0.name", "metrics.correct"),
    ('rl.rewards=[{ name = "metrics.correct", partial = true }]', "rl.rewards.0.partial", "partial_credit"),
    ("rl.rewards=[]", "rl.rewards", "at least 1"),
    ('rl.method="ppo"', "rl.method", "'grpo'"),
])
def test_bad_rl_keys_are_one_error_naming_the_key(core_plugin, tmp_path, override, key, says):
    text = recipe_text() + RL.format(steps=2, lr=1e-3, save_steps=2, generations=4, extra="")
    with pytest.raises(RecipeError) as caught:
        load_recipe(write_recipe(tmp_path, text), [override])
    assert key in str(caught.value) and says in str(caught.value), str(caught.value)


@pytest.mark.timeout(60)
def test_a_reward_that_returns_a_non_finite_number_or_a_wrong_count_stops_naming_its_entry(core_plugin, tmp_path):
    from odin_core.engine.rl import reward_functions

    @odin_core.register_reward("python.broken")
    class Broken:
        def __init__(self, options=None):
            self.values = [float("nan")]

        def score(self, rows, completions):
            return [] if completions == ["?"] else self.values * len(completions)

    try:
        text = recipe_text() + RL.format(steps=2, lr=1e-3, save_steps=2, generations=4, extra="")
        recipe = load_recipe(write_recipe(tmp_path, text), ['rl.rewards=[{ name = "metrics.correct" }, '
                                                            '{ name = "python.broken", weight = 0.5 }]'])
        functions, weights = reward_functions(recipe)
        assert [f.__name__ for f in functions] == ["metrics.correct", "python.broken"] and weights == [1.0, 0.5]
        columns = {"answer_kind": ["count"], "answer": ["3"], "task": ["t"]}
        assert functions[0](["Q"], ["Ans: [3]"], **columns) == [1.0]  # the answer column decoded, as the evaluators read it
        with pytest.raises(RecipeError, match=r"rl\.rewards\.1.*'python.broken' returned nan"):
            functions[1](["Q"], ["Ans: [3]"], **columns)
        with pytest.raises(RecipeError, match=r"rl\.rewards\.1.*returned 0 scores for 1 completions"):
            functions[1](["Q"], ["?"], **columns)
    finally:
        from odin_core.components.plugins import _local, invalidate

        _local["reward"][:] = [e for e in _local["reward"] if e[0] != "python.broken"]
        invalidate()


def run_flow(recipe, folder, datasets, resume=None):
    from odin_core.flows.run import RunFlow
    from odin_core.runtime.rundir import RunDir

    loaded = load_recipe(recipe)
    flow = RunFlow(loaded, datasets=datasets, run_dir=RunDir(folder, loaded), resume=str(folder) if resume else None)
    return flow.run()


def rewards_of(folder):
    return [(r["step"], r["reward"]) for r in map(json.loads, (folder / "rl_metrics.jsonl").read_text().splitlines())
            if "reward" in r]


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_grpo_after_supervised_training_raises_the_reward_and_reports_the_after_rl_stage(core_plugin, tmp_path):
    datasets = toy_datasets(train=96, validation=16, test=32)
    recipe = rl_recipe(tmp_path)
    result = run_flow(recipe, tmp_path / "run", datasets)
    curve = [reward for _, reward in rewards_of(tmp_path / "run")]
    assert len(curve) == 60
    first, last = sum(curve[:15]) / 15, sum(curve[-15:]) / 15
    assert last > first + 0.1, curve  # the mean sampled reward rose over the stage
    metrics = result.metrics
    assert metrics["rl"]["stage"] == "rl" and metrics["rl"]["num_examples"] == 32
    assert metrics["rl_training"]["steps"] == 60 and metrics["rl_training"]["questions_seen"] == 240
    assert (tmp_path / "run" / "rl" / "config.json").is_file()  # full fine-tuning: the whole model after RL
    report = (tmp_path / "run" / "report.md").read_text()
    assert "| after RL |" in report and "after RL vs trained" in report and "## Reinforcement learning" in report
    assert metrics["comparisons"]["after RL vs trained"]["overall"]["n"] == 32
    assert (tmp_path / "run" / "rl.png").is_file()
    import torch

    from odin_core.engine import load_run_model

    final, supervised = load_run_model(tmp_path / "run"), load_run_model(tmp_path / "run", after_rl=False)
    # odin eval and odin export take the run's final model: the one after RL, not the supervised one
    assert any(not torch.equal(a, b) for a, b in zip(final.model.state_dict().values(),
                                                     supervised.model.state_dict().values()))


def stop_when(folder, records: int):
    """SIGTERM this process once the RL stage has logged ``records`` steps (as a kill would, but catchable)."""
    def watch():
        log = folder / "rl_metrics.jsonl"
        while not (log.is_file() and len(log.read_text().splitlines()) >= records):
            time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, daemon=True).start()


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_stopped_rl_stage_resumes_from_its_checkpoint_and_continues_the_same_curve(core_plugin, tmp_path):
    datasets = toy_datasets(train=96, validation=16, test=16)
    recipe = rl_recipe(tmp_path, sft_steps=16, rl_steps=8, generations=4, save_steps=3)
    run_flow(recipe, tmp_path / "whole", datasets)
    whole = rewards_of(tmp_path / "whole")
    stop_when(tmp_path / "stopped", 5)
    with pytest.raises(KeyboardInterrupt):
        run_flow(recipe, tmp_path / "stopped", datasets)
    assert not (tmp_path / "stopped" / "rl").exists()  # nothing half-done is kept as the RL model
    sft_log = (tmp_path / "stopped" / "metrics.jsonl").read_text()
    result = run_flow(recipe, tmp_path / "stopped", datasets, resume=True)
    assert (tmp_path / "stopped" / "metrics.jsonl").read_text() == sft_log  # supervised training not redone
    resumed = rewards_of(tmp_path / "stopped")
    assert [step for step, _ in resumed] == list(range(1, 9))  # each step once, none lost or repeated
    assert result.metrics["rl_training"]["resumed_from_step"] in (5, 6)
    for (step, a), (_, b) in zip(whole, resumed):
        assert math.isclose(a, b, rel_tol=1e-4, abs_tol=1e-6), (step, whole, resumed)  # the same curve
