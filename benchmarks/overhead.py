"""Framework overhead: ``odin run`` against a hand-written Unsloth/TRL script (``benchmarks.hand_train``)
on the same data, base model and steps, runs alternating A B A B.

    python -m benchmarks.overhead

The dataset is the one Odin built for the recipe (built once here, then read from Odin's cache by both);
the base model is the quickstart's scratch model, built once here and given to both (``model.name``), so
neither pays for building it. Odin's run skips the base-model evaluation and evaluates one row after
training (``generation.max_examples = 1``); the script evaluates nothing. Reported: the training phase
(trainer construction to the end of ``train()``), the whole process's wall and CPU time, each as the median
of the ratios Odin / script of consecutive run pairs (target: within 5%), and the final losses, which must match since the calls are the same.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.common import Timer, median, parser, table, write_result

REPO = Path(__file__).resolve().parent.parent
RECIPE = REPO / "recipes/quickstart.toml"
TARGET = 1.05


def settings(toy: bool) -> tuple[list[str], int]:
    """(recipe overrides, alternations)."""
    steps, log = (2, 1) if toy else (30, 10)
    overrides = [f"training.max_steps={steps}", f"training.logging_steps={log}", "training.save_steps=100000",
                 "generation.evaluate_base=false", "generation.max_examples=1"]
    if toy:
        overrides += ["data.num_examples.train=120", "data.num_examples.validation=17", "data.num_examples.test=17",
                      "model.num_layers=1", "model.hidden_size=64"]
    return overrides, 1 if toy else 3


def prepare(overrides: list[str], work: Path) -> tuple[Path, Path, object]:
    """(Odin's cached dataset folder, the built base model folder, the recipe), each built once."""
    from odin_core.data import load_or_build
    from odin_core.data.cache import cache_path
    from odin_core.recipe import load_recipe
    from odin_models.scratch import build_base

    recipe = load_recipe(RECIPE, overrides)
    datasets = load_or_build(recipe)
    base = work / "base_model"
    texts = (row["prompt"] + row["completion"] for row in datasets["train"])
    build_base(recipe.model.options, base, texts, recipe.model.max_seq_length, recipe.training_seed)
    return cache_path(recipe) / "dataset", base, recipe


def _subprocess(command: list[str], log: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds: user + system) of a child process."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with Timer() as t, open(log, "w") as out:
        code = subprocess.run(command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT).returncode
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if code != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-20:])
        raise RuntimeError(f"{' '.join(command[:4])} ... exited {code}:\n{tail}")
    return t.seconds, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def odin_once(overrides: list[str], base: Path, work: Path) -> dict:
    out = work / "odin"
    before = set(out.glob("*")) if out.is_dir() else set()
    command = [sys.executable, "-m", "odin_core", "run", str(RECIPE), "--output-dir", str(out),
               *(f"--set={o}" for o in [*overrides, f"model.name={base}"])]
    seconds, cpu = _subprocess(command, work / f"odin-{len(before)}.log")
    (run_dir,) = set(out.glob("*")) - before
    training = json.loads((run_dir / "metrics.json").read_text())["training"]
    return {"whole_seconds": seconds, "whole_cpu_seconds": cpu, "train_seconds": training["train_seconds"],
            "tokens": training["tokens"],
            "steps": training["steps"], "final_loss": training["final_loss"], "run_dir": str(run_dir)}


def script_once(recipe, data: Path, base: Path, work: Path, index: int) -> dict:
    from odin_core.runtime.device import default_optimizer, training_device

    t, lora = recipe.training, recipe.finetune.options
    out = work / f"script-{index}"
    result = out / "result.json"
    out.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "benchmarks.hand_train", "--model", str(base), "--data", str(data),
               "--result", str(result), "--output-dir", str(out), "--max-seq-length", str(recipe.model.max_seq_length),
               "--r", str(lora.r), "--alpha", str(lora.alpha), "--modules-to-save", ",".join(lora.modules_to_save or []),
               "--steps", str(t.max_steps), "--batch-size", str(t.batch_size), "--learning-rate", str(t.learning_rate),
               "--warmup-ratio", str(t.warmup_ratio), "--logging-steps", str(t.logging_steps),
               "--optim", default_optimizer(training_device(recipe)), "--seed", str(recipe.training_seed)]
    seconds, cpu = _subprocess(command, work / f"script-{index}.log")
    summary = json.loads(result.read_text())
    return {"whole_seconds": seconds, "whole_cpu_seconds": cpu, **{k: summary[k] for k in ("train_seconds", "tokens", "steps", "final_loss")},
            "phases": summary["phases"]}


def main(argv=None) -> dict:
    ap = parser(__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=None, help="folder for the runs (default: a temporary one)")
    ap.add_argument("--alternations", type=int, default=None, help="runs per side (default: 3; 1 at toy size)")
    args = ap.parse_args(argv)
    overrides, alternations = settings(args.toy)
    alternations = args.alternations or alternations
    runs: dict[str, list[dict]] = {"odin": [], "script": []}
    with tempfile.TemporaryDirectory(prefix="odin-bench-overhead-") as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        data, base, recipe = prepare(overrides, work)
        for i in range(alternations):
            runs["odin"].append(odin_once(overrides, base, work))
            runs["script"].append(script_once(recipe, data, base, work, i))
    keys = ("train_seconds", "whole_seconds", "whole_cpu_seconds")
    stats = {side: {key: median([r[key] for r in rs]) for key in keys} for side, rs in runs.items()}
    ratio_train = stats["odin"]["train_seconds"] / stats["script"]["train_seconds"]
    ratio_whole = stats["odin"]["whole_seconds"] / stats["script"]["whole_seconds"]
    ratio_cpu = stats["odin"]["whole_cpu_seconds"] / stats["script"]["whole_cpu_seconds"]
    # each Odin run against the script run right after it: less exposed to load that changes over minutes
    pair_ratios = {key: [o[key] / s[key] for o, s in zip(runs["odin"], runs["script"])] for key in keys}
    loss_diff = median([o["final_loss"] - s["final_loss"] for o, s in zip(runs["odin"], runs["script"])])
    pair_medians = {key: median(values) for key, values in pair_ratios.items()}
    rows = [[label, f"{pair_medians[key]:.3f}", f"{ratio:.3f}", f"{stats['odin'][key]:.1f}",
             f"{stats['script'][key]:.1f}", "yes" if pair_medians[key] <= TARGET else "NO"]
            for label, key, ratio in (("training phase", "train_seconds", ratio_train),
                                      ("whole run", "whole_seconds", ratio_whole),
                                      ("whole run, CPU time", "whole_cpu_seconds", ratio_cpu))]
    text = table(["phase", "median pair ratio Odin/script", "ratio of medians", "odin s", "script s",
                  f"within {TARGET - 1:.0%}"], rows)
    text += "\nratios of each run pair: " + "; ".join(
        f"{key.replace('_seconds', '')} " + ", ".join(f"{r:.2f}" for r in values) for key, values in pair_ratios.items())
    text += (f"\nfinal loss Odin - script: {loss_diff:+.2e}; tokens per run: odin {runs['odin'][0]['tokens']:,}, "
             f"script {runs['script'][0]['tokens']:,}; steps {runs['odin'][0]['steps']}")
    print(text)
    result = {"recipe": str(RECIPE.relative_to(REPO)), "overrides": overrides, "alternations": alternations,
              "ratio_train": ratio_train, "ratio_whole": ratio_whole, "ratio_whole_cpu": ratio_cpu,
              "pair_ratios": pair_ratios, "pair_ratio_medians": pair_medians, "target_ratio": TARGET,
              "final_loss_difference": loss_diff, "medians": stats, "runs": runs, "table": text}
    path = write_result("overhead", result, args.out, args.toy)
    print(f"wrote {path}")
    return result


if __name__ == "__main__":
    main()
