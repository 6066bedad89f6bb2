"""Helpers for the training tests: a small hypergraph-style dataset, scratch-model recipes, a training driver.

Run as a script it trains in a fresh interpreter (the Unsloth engine must not be
imported into the pytest process, whose transformers-engine tests need plain
transformers)::

    python tests/training_support.py RECIPE RUN_DIR [--resume] [--pause-at-step N]

``--pause-at-step N`` writes ``RUN_DIR/paused`` after optimizer step N and sleeps,
so a test can kill the process at a known point. The summary is printed as JSON
on the last line.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
import textwrap
from pathlib import Path

TESTS = Path(__file__).resolve().parent
SUPPORT = Path(__file__).resolve()
REPO = TESTS.parent

RECIPE = """\
name = "train-test"
seed = 11

[model]
{model}

[finetune]
strategy = "{strategy}"
{lora_options}

[data]
encodings = ["test.encoder"]
tasks = ["test.edge_count"]

[[data.sources]]
name = "test.source"

[training]
engine = "{engine}"
max_steps = {max_steps}
batch_size = 4
gradient_accumulation_steps = 2
learning_rate = 3e-3
warmup_ratio = 0.1
logging_steps = {logging_steps}
save_steps = {save_steps}
save_total_limit = 2
{training_extra}
"""


SCRATCH_MODEL = """\
loader = "models.scratch"
max_seq_length = 256
architecture = "{architecture}"
num_layers = 2
hidden_size = 64
num_heads = 4
vocab_size = 400"""


def local_model(loader: str, name, extra: str = "") -> str:
    """A ``[model]`` body loading ``name`` (a local directory or hub name) with a family loader."""
    return f'loader = "{loader}"\nname = "{name}"\nmax_seq_length = 256\n{extra}'


def recipe_text(*, engine="transformers", strategy="finetune.lora", architecture="llama", model=None, max_steps=6,
                logging_steps=2, save_steps=3, lora_options='r = 8\nalpha = 16\ngradient_checkpointing = false',
                training_extra="") -> str:
    """A recipe training a tiny model (the scratch model of ``architecture`` unless ``model`` is given)."""
    model = model or SCRATCH_MODEL.format(architecture=architecture)
    return RECIPE.format(model=model, engine=engine, strategy=strategy, max_steps=max_steps,
                         logging_steps=logging_steps, save_steps=save_steps, lora_options=lora_options,
                         training_extra=training_extra)


def toy_rows(n: int, seed: int, split: str) -> list[dict]:
    """Rows in the data builder's schema: hyperedge lists and a few questions with canonical answers."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        num_vertices = rng.randint(4, 8)
        edges = [sorted(rng.sample(range(num_vertices), rng.randint(2, 3))) for _ in range(rng.randint(2, 5))]
        text = ", ".join("(" + ", ".join(f"v{v}" for v in e) + ")" for e in edges)
        vertex = rng.randrange(num_vertices)
        task = rng.choice(["hyperedge_count", "vertex_degree", "vertex_connection"])
        if task == "hyperedge_count":
            question, kind, answer = "How many hyperedges are in G?", "count", len(edges)
        elif task == "vertex_degree":
            question, kind, answer = f"What is the degree of vertex v{vertex}?", "count", sum(vertex in e for e in edges)
        else:
            other = (vertex + 1) % num_vertices
            question, kind = f"Is vertex v{vertex} connected to vertex v{other}?", "yes_no"
            answer = any(vertex in e and other in e for e in edges)
        completion = " Ans: [" + (("Yes" if answer else "No") if kind == "yes_no" else str(answer)) + "]"
        rows.append({
            "id": f"{split}-{i:06d}", "prompt": f"G describes a hypergraph: {text}.\n\nQ: {question}\nA:",
            "completion": completion, "task": task, "family": "low_order", "encoding": "test.encoder",
            "answer_kind": kind, "answer": json.dumps(answer), "graph_id": f"toy-{seed}-{i}",
            "generator": "{}", "meta": "{}",
        })
    return rows


#: text to train a scratch tokenizer on when no dataset is at hand
TEXTS_FOR_TOKENIZER = [row["prompt"] + row["completion"] for row in toy_rows(64, 99, "train")]


def toy_datasets(train: int = 96, validation: int = 16, test: int = 16, seed: int = 0, chat: bool = False):
    """A DatasetDict train/validation/test of ``toy_rows`` (with ``messages`` when ``chat``)."""
    from datasets import Dataset, DatasetDict

    splits = {}
    for offset, (name, n) in enumerate((("train", train), ("validation", validation), ("test", test))):
        rows = toy_rows(n, seed + offset, name)
        if chat:
            for row in rows:
                row["messages"] = [{"role": "user", "content": row["prompt"]},
                                   {"role": "assistant", "content": row["completion"].strip()}]
        splits[name] = Dataset.from_list(rows)
    return DatasetDict(splits)


def register_core_test_plugin():
    """The core test components (conftest's) that the recipes' data section names."""
    import odin_core

    sys.path.insert(0, str(TESTS))
    from conftest import CoreTestPlugin

    if odin_core.pm.get_plugin("core-test") is None:
        odin_core.register_plugin(CoreTestPlugin(), name="core-test")


def write_recipe(folder: Path, text: str, name: str = "recipe.toml") -> Path:
    path = Path(folder) / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def train_run(recipe_path, run_path, datasets, resume: bool = False, callbacks=(), on_eval=None):
    """The training steps of ``odin run`` (``RunFlow``) on given datasets, without the evaluations.

    Returns (training summary, loaded model, run dir)."""
    from odin_core.flows.run import RunFlow
    from odin_core.recipe import load_recipe
    from odin_core.runtime.rundir import RunDir

    recipe = load_recipe(recipe_path)
    flow = RunFlow(recipe, resume=str(run_path) if resume else None, datasets=datasets, callbacks=callbacks,
                   run_dir=RunDir(run_path, recipe), on_eval=on_eval)
    flow.setup_run_dir()
    flow.events.start()
    flow.setup_strategy()
    flow.setup_engine()
    flow.setup_data()
    flow.setup_model()
    flow.train()
    flow.events.end("completed", flow.metrics["training"])
    return flow.metrics["training"], flow.loaded, flow.run_dir


def _pause_callback(run_path: Path, step: int):
    import time

    from transformers import TrainerCallback

    class Pause(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == step:
                (run_path / "paused").write_text(str(step))
                time.sleep(600)

    return Pause()


def start_paused(recipe, run, step, env=None):
    """Start a training process that stops after optimizer step ``step`` and wait for it to get there."""
    process = subprocess.Popen([sys.executable, str(SUPPORT), str(recipe), str(run), "--pause-at-step", str(step)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=REPO, env=env)
    deadline = time.time() + 300
    while not (run / "paused").exists():
        if process.poll() is not None:
            raise AssertionError(process.stderr.read()[-3000:])
        assert time.time() < deadline, "the training process never reached the pause"
        time.sleep(0.2)
    return process


def train_subprocess(recipe, run, *args, env=None):
    """Train in a fresh interpreter (``RUN_DIR`` and flags as for this script); the printed summary."""
    done = subprocess.run([sys.executable, str(SUPPORT), str(recipe), str(run), *args], capture_output=True,
                          text=True, timeout=600, cwd=REPO, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv):
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("recipe")
    parser.add_argument("run_dir")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--pause-at-step", type=int, default=None)
    parser.add_argument("--chat", action="store_true")
    args = parser.parse_args(argv)
    recipe = Path(args.recipe)
    with open(recipe, encoding="utf-8") as fh:
        engine = "unsloth" if 'engine = "unsloth"' in fh.read() else "transformers"
    if engine == "unsloth":
        import unsloth  # noqa: F401  (first, as in `odin run`)
    register_core_test_plugin()
    run_path = Path(args.run_dir)
    callbacks = [_pause_callback(run_path, args.pause_at_step)] if args.pause_at_step else []
    summary, _, _ = train_run(recipe, run_path, toy_datasets(chat=args.chat), resume=args.resume, callbacks=callbacks)
    print(json.dumps(summary))


if __name__ == "__main__":
    main(sys.argv[1:])
