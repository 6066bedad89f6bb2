"""One training run of a recipe through Odin's own flow, without evaluation, in this process.

    python -m benchmarks.train_once RECIPE --set key=value ... --result PATH

Runs ``RunFlow``'s steps up to training (strategy, run directory, engine import, dataset, model, LoRA
and training) and writes the training summary, the per-step records and the wall time of each phase
to PATH as JSON. The engine benchmark starts one such process per run: Unsloth patches transformers
when it is imported, so two engines never share a process.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from odin_core.foundation.files import atomic_write_json
from odin_core.foundation.layout import METRICS_LOG


def steady_tokens_per_second(records: list[dict], skip: int = 1) -> float | None:
    """Median tokens/s of the logged steps after the first ``skip`` records (warm-up), or None."""
    import statistics

    values = [r["tokens_per_second"] for r in records if "tokens_per_second" in r][skip:]
    return float(statistics.median(values)) if values else None


def metric_records(run_dir: Path) -> list[dict]:
    """The per-logging-step records of a run directory's metrics log."""
    path = run_dir / METRICS_LOG
    if not path.is_file():
        return []
    lines = (json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
    return [line for line in lines if "tokens_per_second" in line or "loss" in line]


def weights_dtype(model) -> str:
    """The dtype the model's (frozen, where there are any) base weights are held in, e.g. "bfloat16"."""
    params = list(model.parameters())
    frozen = [p for p in params if not p.requires_grad] or params
    return str(frozen[0].dtype).removeprefix("torch.")


def train_once(recipe_path, overrides, output_dir) -> dict:
    """Train once; returns the summary with ``phases`` (seconds per step of the flow) and ``records``."""
    from odin_core.flows.run import RunFlow
    from odin_core.recipe import load_recipe

    started = time.perf_counter()
    phases = {}
    recipe = load_recipe(recipe_path, overrides)
    flow = RunFlow(recipe, output_dir=output_dir, overrides=overrides)
    for name, step in (("setup", flow.setup_strategy), ("run_dir", flow.setup_run_dir),
                       ("engine_import", flow.setup_engine), ("data", flow.setup_data),
                       ("model", flow.setup_model), ("train", flow.train)):
        t0 = time.perf_counter()
        step()
        phases[name] = round(time.perf_counter() - t0, 3)
    summary = dict(flow.metrics["training"])
    records = metric_records(flow.run_dir.path)
    summary.update(phases=phases, wall_seconds=round(time.perf_counter() - started, 3), records=records,
                   weights_dtype=weights_dtype(flow.loaded.model),
                   steady_tokens_per_second=steady_tokens_per_second(records),
                   run_dir=str(flow.run_dir.path))
    return summary


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("recipe")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--output-dir", default=None, help="parent folder of the run directory")
    ap.add_argument("--result", type=Path, required=True, help="JSON file for the summary")
    args = ap.parse_args(argv)
    atomic_write_json(args.result, train_once(args.recipe, args.overrides, args.output_dir))


if __name__ == "__main__":
    main()
