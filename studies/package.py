"""Copy what a study run's figures rest on into an evidence folder (no weights), compressing the predictions.

    python studies/package.py RUN_DIR DEST      # e.g. .../runs/curve-scratch-0m5-... studies/learning_curves/evidence/scratch_0m5

Copied: the resolved recipe, data report, environment, metrics (``metrics.json``, ``metrics.jsonl``, the RL
stage's ``rl_metrics.jsonl`` and ``rl.json``), ``resumes.jsonl``, the report, and every predictions file
(gzip). A run stopped before its end (a size trained as far as the CPU time allowed) has no metrics.json; its
parameter count is then read from the scratch base model's safetensors header and written, with the step it
reached, to ``run_state.json``.
"""

from __future__ import annotations

import gzip
import json
import shutil
import struct
import sys
from math import prod
from pathlib import Path

FILES = ("data_report.json", "environment.json", "metrics.json", "metrics.jsonl", "recipe.toml", "report.md",
         "rl_metrics.jsonl", "rl.json", "resumes.jsonl", "training.json", "prompted_metrics.json", "base_metrics.json")


def safetensors_parameters(path: Path) -> int:
    """The number of values in a safetensors file, from its header (tied weights are stored once)."""
    with open(path, "rb") as fh:
        (size,) = struct.unpack("<Q", fh.read(8))
        header = json.loads(fh.read(size))
    return sum(prod(t["shape"]) for key, t in header.items() if key != "__metadata__")


def gzip_copy(source: Path, target: Path) -> None:
    with open(source, "rb") as src, gzip.GzipFile(target, "wb", compresslevel=9, mtime=0) as dst:
        shutil.copyfileobj(src, dst)


def package(run: Path, dest: Path) -> Path:
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    for name in FILES:
        if (run / name).is_file():
            shutil.copy2(run / name, dest / name)
    for path in run.glob("predictions-*.jsonl"):
        gzip_copy(path, dest / (path.name + ".gz"))
    for path in sorted((run / "training_predictions").glob("*.jsonl")):
        (dest / "training_predictions").mkdir(exist_ok=True)
        gzip_copy(path, dest / "training_predictions" / (path.name + ".gz"))
    if not (run / "metrics.json").is_file():
        steps = [int(p.name.split("-")[1]) for p in (run / "checkpoints").glob("checkpoint-*")]
        state = {"status": "packed before the run ended (odin run RECIPE --resume RUN_DIR continues it)",
                 "last_checkpoint_step": max(steps, default=0)}
        if (run / "base_model" / "model.safetensors").is_file():  # a scratch model: its size
            state["parameters"] = safetensors_parameters(run / "base_model" / "model.safetensors")
        (dest / "run_state.json").write_text(json.dumps(state, indent=2) + "\n")
    return dest


if __name__ == "__main__":
    print(package(Path(sys.argv[1]), Path(sys.argv[2])))
