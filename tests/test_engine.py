"""The training engine: completion-only tokenization, both engines, artifacts and metrics, reloading and
export, and resuming a killed run to the same final loss."""

import json
import math
import signal
import subprocess
import sys
import time

import pytest

from conftest import REPO, run_odin
from odin_core import engine
from odin_core.components.protocols import LoadedModel
from odin_core.runtime import chat
from training_support import (TEXTS_FOR_TOKENIZER, recipe_text, start_paused, toy_datasets, toy_rows, train_run,
                              train_subprocess, write_recipe)



pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def tokenizer():
    from odin_models.scratch import train_tokenizer

    return train_tokenizer(TEXTS_FOR_TOKENIZER, 400, 256)


# --- tokenization ------------------------------------------------------------------------


def test_labels_cover_the_completion_and_eos_only(tokenizer):
    rows = toy_rows(4, 1, "train")
    batch = {key: [row[key] for row in rows] for key in ("prompt", "completion")}
    out = chat.tokenize_batch(tokenizer, batch, chat=False)
    for row, ids, labels in zip(rows, out["input_ids"], out["labels"]):
        assert ids[-1] == tokenizer.eos_token_id and len(ids) == len(labels)
        start = next(i for i, label in enumerate(labels) if label != -100)
        assert all(label == -100 for label in labels[:start]) and labels[start:] == ids[start:]
        assert tokenizer.decode(ids[:start]) == row["prompt"]
        assert tokenizer.decode(ids[start:], skip_special_tokens=True) == row["completion"]
    full = chat.tokenize_batch(tokenizer, batch, chat=False, completion_only_loss=False)
    assert full["labels"] == full["input_ids"]


def test_chat_rows_go_through_the_template_and_train_on_the_answer():
    from odin_models.scratch import train_tokenizer

    chat_tokenizer = train_tokenizer(TEXTS_FOR_TOKENIZER, 400, 256)
    chat_tokenizer.chat_template = ("{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}<|endoftext|>"
                                    "{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}")
    row = toy_rows(1, 2, "train")[0]
    messages = [{"role": "user", "content": row["prompt"]}, {"role": "assistant", "content": row["completion"].strip()}]
    out = chat.tokenize_batch(chat_tokenizer, {"messages": [messages]}, chat=True)
    ids, labels = out["input_ids"][0], out["labels"][0]
    start = next(i for i, label in enumerate(labels) if label != -100)
    assert chat_tokenizer.decode(ids[:start]) == f"<|user|>{row['prompt']}<|endoftext|><|assistant|>"
    assert chat_tokenizer.decode(ids[start:]) == row["completion"].strip() + "<|endoftext|>"

    loaded = LoadedModel(model=None, tokenizer=chat_tokenizer, engine="transformers", chat_template=True)
    datasets = toy_datasets(train=4, validation=0, test=0, chat=True)
    assert engine.uses_chat(loaded, datasets["train"])
    assert not engine.uses_chat(LoadedModel(None, chat_tokenizer, "transformers", chat_template=False), datasets["train"])
    assert not engine.uses_chat(loaded, toy_datasets(train=4, validation=0, test=0)["train"])  # no messages column


def test_examples_whose_completion_is_cut_off_are_dropped(tokenizer):
    loaded = LoadedModel(model=None, tokenizer=tokenizer, engine="transformers")
    split = toy_datasets(train=12, validation=0, test=0)["train"]
    lengths = [len(ids) for ids in chat.tokenize_batch(tokenizer, split[:], chat=False)["input_ids"]]
    limit = sorted(lengths)[6] - 6  # about half the prompts are longer than this
    kept, dropped = engine.tokenize_split(split, loaded, max_length=limit)
    assert dropped > 0 and len(kept) + dropped == 12
    assert all(len(ids) <= limit for ids in kept["input_ids"])
    assert all(any(label != -100 for label in labels) for labels in kept["labels"])


# --- the transformers engine, in this process ------------------------------------------------


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One transformers-engine run with evaluation during training (shared by the tests below)."""
    import odin_core
    from conftest import CoreTestPlugin

    folder = tmp_path_factory.mktemp("trained")
    mine = odin_core.pm.get_plugin("core-test") is None
    if mine:
        odin_core.register_plugin(CoreTestPlugin(), name="core-test")
    recipe = write_recipe(folder, recipe_text(max_steps=8, logging_steps=2, save_steps=3,
                                              training_extra="eval_steps = 4"))
    summary, loaded, run_dir = train_run(recipe, folder / "run", toy_datasets())
    yield summary, loaded, run_dir
    if mine:
        odin_core.unregister_plugin(name="core-test")


def test_training_writes_adapter_state_and_checkpoints(trained):
    summary, loaded, run_dir = trained
    run = run_dir.path
    assert summary["engine"] == "transformers" and summary["device"] == "cpu" and summary["steps"] == 8
    assert {"adapter_config.json", "adapter_model.safetensors", "tokenizer.json"} <= {p.name for p in (run / "adapter").iterdir()}
    state = json.loads((run / "trainer_state.json").read_text())
    assert state["global_step"] == 8 and state["num_input_tokens_seen"] == summary["tokens"] > 0
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["checkpoint-6", "checkpoint-8"]  # limit 2
    assert summary["adapter_dir"] == str(run / "adapter") and summary["train_examples"] == 96
    assert summary["tokens_per_second"] > 0 and summary["peak_memory_mb"] > 0
    assert math.isfinite(summary["final_loss"]) and summary["eval_loss"] is not None
    json.dumps(summary)  # JSON-serialisable, for metrics.json


def test_metrics_are_json_lines_per_logging_step(trained):
    summary, _, run_dir = trained
    records = run_dir.read_jsonl("metrics.jsonl")
    train = [r for r in records if "loss" in r]
    evals = [r for r in records if "eval_loss" in r]
    assert [r["step"] for r in train] == [2, 4, 6, 8] and [r["step"] for r in evals] == [4, 8]
    for record in train:
        assert {"loss", "learning_rate", "grad_norm", "tokens_per_second", "peak_memory_mb", "tokens_seen"} <= set(record)
        assert record["tokens_per_second"] > 0
    assert train[-1]["loss"] == summary["final_loss"] and evals[-1]["eval_loss"] == summary["eval_loss"]
    assert train[0]["learning_rate"] > train[-1]["learning_rate"]  # warmup then cosine decay
    log = (run_dir.path / "odin.log").read_text()
    assert "step 4/8 | loss" in log and "step 4/8 | eval_loss" in log and "checkpoint saved at step 6" in log
    assert "trained 8 steps" in log and "adapter: " in log


def test_reloaded_run_model_matches_the_trained_one(trained):
    import torch

    _, loaded, run_dir = trained
    batch = loaded.tokenizer([toy_rows(1, 5, "test")[0]["prompt"]], return_tensors="pt")
    loaded.model.eval()
    with torch.no_grad():
        expected = loaded.model(**batch).logits
        again = engine.load_run_model(run_dir.path)
        assert again.engine == "transformers" and again.info["adapter"].endswith("adapter")
        assert torch.allclose(again.model(**batch).logits, expected, atol=1e-5)
        base = engine.load_run_model(run_dir.path, adapter=False)
        assert not torch.allclose(base.model(**batch).logits, expected, atol=1e-3)


def test_export_merges_the_adapter_into_a_16_bit_model(trained):
    import torch
    from click.testing import CliRunner
    from transformers import AutoModelForCausalLM

    from odin_core.cli import cli

    _, loaded, run_dir = trained
    result = CliRunner().invoke(cli, ["export", str(run_dir.path)])
    assert result.exit_code != 0 and "--merged" in result.output
    result = CliRunner().invoke(cli, ["export", str(run_dir.path), "--merged"])
    assert result.exit_code == 0, result.output
    merged = run_dir.path / "merged"
    assert json.loads((merged / "config.json").read_text())["dtype"] == "float16"
    assert (merged / "tokenizer.json").is_file() and not (merged / "adapter_config.json").exists()
    model = AutoModelForCausalLM.from_pretrained(merged, dtype=torch.float32)
    batch = loaded.tokenizer([toy_rows(1, 6, "test")[0]["prompt"]], return_tensors="pt")
    with torch.no_grad():
        assert torch.allclose(model(**batch).logits, loaded.model(**batch).logits, atol=2e-2)


def test_packing_trains_padding_free(core_plugin, write_recipe, tmp_path):
    recipe = write_recipe(recipe_text(max_steps=3, save_steps=3, training_extra="packing = true"))
    summary, _, _ = train_run(recipe, tmp_path / "run", toy_datasets(train=64))
    # packed: fewer, longer sequences than the 64 examples, every token still counted
    assert summary["train_sequences"] < summary["train_examples"] == 64
    assert summary["steps"] == 3 and math.isfinite(summary["final_loss"])


def test_the_last_step_is_logged_when_logging_steps_exceeds_the_run(core_plugin, write_recipe, tmp_path):
    recipe = write_recipe(recipe_text(max_steps=3, logging_steps=10, save_steps=3))
    summary, _, _ = train_run(recipe, tmp_path / "run", toy_datasets(train=32))
    assert summary["steps"] == 3 and summary["final_loss"] is not None and math.isfinite(summary["final_loss"])
    assert summary["answer_distribution_loss"] >= 0  # completion-only loss, no traces: the reference is drawn


def test_on_eval_sees_each_validation_loss_and_can_stop_training(core_plugin, write_recipe, tmp_path):
    from odin_core.foundation.errors import RunStopped

    seen = []

    def on_eval(step, record):  # what odin sweep's pruner is fed
        seen.append((step, record["eval_loss"]))
        if step == 4:
            raise RunStopped("pruned", step=step, status="pruned")

    recipe = write_recipe(recipe_text(max_steps=8, save_steps=8, training_extra="eval_steps = 2"))
    with pytest.raises(RunStopped):
        train_run(recipe, tmp_path / "run", toy_datasets(train=32, validation=8), on_eval=on_eval)
    assert [step for step, _ in seen] == [2, 4] and all(math.isfinite(loss) for _, loss in seen)
    assert not (tmp_path / "run" / "adapter").exists()  # stopped before the end: nothing saved


def test_a_doubling_schedule_evaluates_at_eval_steps_times_powers_of_two_and_at_the_end(core_plugin, write_recipe,
                                                                                         tmp_path):
    from odin_core.engine.validation import doubling_steps

    seen = []
    recipe = write_recipe(recipe_text(max_steps=11, save_steps=11,
                                      training_extra='eval_steps = 2\neval_schedule = "doubling"'))
    train_run(recipe, tmp_path / "run", toy_datasets(train=32, validation=8),
              on_eval=lambda step, record: seen.append(step))
    assert seen == [2, 4, 8, 11] == doubling_steps(2, 11)
    assert doubling_steps(125, 12500) == [125, 250, 500, 1000, 2000, 4000, 8000, 12500]
    assert doubling_steps(4, 4) == [4]


def test_resume_without_a_checkpoint_starts_over(core_plugin, write_recipe, tmp_path):
    recipe = write_recipe(recipe_text(max_steps=2, save_steps=5))
    summary, _, run_dir = train_run(recipe, tmp_path / "run", toy_datasets(train=32), resume=True)
    assert summary["steps"] == 2 and summary["resumed_from_step"] is None
    assert "no complete checkpoint yet" in (run_dir.path / "odin.log").read_text()


def test_last_checkpoint_skips_a_half_written_one(tmp_path):
    for step, complete in ((4, True), (8, True), (12, False)):
        folder = tmp_path / f"checkpoint-{step}"
        folder.mkdir()
        if complete:
            (folder / "trainer_state.json").write_text("{}")
    (tmp_path / "checkpoint-x").mkdir()
    assert engine.last_checkpoint(tmp_path) == tmp_path / "checkpoint-8"
    assert engine.last_checkpoint(tmp_path / "missing") is None


# --- killed and resumed: the Unsloth engine, in its own interpreters ---------------------------------


def test_killed_unsloth_run_resumes_to_the_same_loss_and_engines_agree(core_plugin, tmp_path):
    text = recipe_text(engine="unsloth", max_steps=10, logging_steps=1, save_steps=4,
                       lora_options="r = 8\nalpha = 16\ndropout = 0.1\ngradient_checkpointing = false")
    recipe = write_recipe(tmp_path, text)
    killed = tmp_path / "killed"
    process = start_paused(recipe, killed, step=6)  # checkpoint-4 written, steps 5-6 logged after it
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert [p.name for p in (killed / "checkpoints").iterdir() if p.name.startswith("checkpoint")] == ["checkpoint-4"]
    logged_before = [json.loads(line)["step"] for line in (killed / "metrics.jsonl").read_text().splitlines()]
    assert max(logged_before) > 4

    resumed = train_subprocess(recipe, killed, "--resume")
    straight = train_subprocess(recipe, tmp_path / "straight")
    assert resumed["resumed_from_step"] == 4 and resumed["steps"] == straight["steps"] == 10
    assert resumed["final_loss"] == pytest.approx(straight["final_loss"], rel=1e-5, abs=1e-6)
    steps = [json.loads(line)["step"] for line in (killed / "metrics.jsonl").read_text().splitlines()]
    assert steps == list(range(1, 11))  # the records after the checkpoint were replaced, not duplicated
    logged = lambda run: [json.loads(line)["loss"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert logged(killed) == pytest.approx(logged(tmp_path / "straight"), rel=1e-5)

    # the transformers engine trains on the same token sequences with the same maths
    plain = write_recipe(tmp_path, text.replace('engine = "unsloth"', 'engine = "transformers"'), name="plain.toml")
    summary, _, _ = train_run(plain, tmp_path / "plain", toy_datasets())
    assert summary["final_loss"] == pytest.approx(straight["final_loss"], rel=1e-3)


# --- odin run --resume, through the command line --------------------------------------------------

QUICK = ["--set", "training.engine=transformers", "--set", "training.max_steps=24", "--set", "training.save_steps=4",
         "--set", "training.logging_steps=1", "--set", "data.num_examples.train=96",
         "--set", "data.num_examples.validation=8", "--set", "data.num_examples.test=17",
         "--set", "data.sources.0.count=60", "--set", "generation.evaluate_base=false",
         "--set", "generation.max_examples=17", "--set", "model.hidden_size=64", "--set", "model.vocab_size=400",
         "--set", "training.batch_size=4"]


def test_odin_run_resume_continues_a_killed_run(tmp_path):
    i = QUICK.index("generation.evaluate_base=false")
    quick = QUICK[: i - 1] + QUICK[i + 1 :]  # evaluate the base model too: its metrics must survive the kill
    process = subprocess.Popen([sys.executable, "-m", "odin_core", "run", "recipes/quickstart.toml", *quick,
                                "--output-dir", str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               text=True, cwd=REPO)
    deadline = time.time() + 300
    while True:
        states = list(tmp_path.glob("*/checkpoints/checkpoint-4/trainer_state.json"))
        if states:
            break
        if process.poll() is not None:
            raise AssertionError(process.stderr.read()[-3000:])
        assert time.time() < deadline
        time.sleep(0.1)
    process.send_signal(signal.SIGKILL)
    process.wait()
    run = states[0].parents[2]
    assert not (run / "metrics.json").exists() and not (run / "adapter").exists()

    assert (run / "base_metrics.json").is_file()
    done = run_odin("run", "recipes/quickstart.toml", *quick, "--resume", str(run))
    assert done.returncode == 0, done.stderr[-3000:]
    metrics = json.loads((run / "metrics.json").read_text())
    training = metrics["training"]
    assert training["steps"] == 24 and training["resumed_from_step"] >= 4
    assert "trained" in metrics and "base" in metrics  # the base evaluation survives the kill
    assert (run / "report.md").is_file() and (run / "adapter/adapter_config.json").is_file()
    steps = [r["step"] for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines()) if "loss" in r]
    assert steps == list(range(1, 25))
    assert "resuming training from" in (run / "odin.log").read_text()
