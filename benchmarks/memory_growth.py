"""Does memory grow on a long run? Trains the quickstart recipe and compares peak RSS at step 100 with the last step.

    python -m benchmarks.memory_growth [--engine unsloth|transformers|both] [--steps N] [--toy] [--out DIR]

Each engine trains in a fresh interpreter (peak RSS is per process, and the transformers engine must not have
Unsloth imported) through Odin's own run flow: recipe, run directory, dataset, model, LoRA, ``engine.train``;
the evaluation stages are left out. A callback samples the peak and the current RSS after every step. The
target: peak RSS grows by less than 5% between the reference step and the last one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.common import Timer, parser, table, write_result

ROOT = Path(__file__).resolve().parent.parent
RECIPE = ROOT / "recipes" / "quickstart.toml"
ENGINES = ("unsloth", "transformers")
TARGET_GROWTH_PCT = 5.0
REFERENCE_STEP = 100
#: at toy size: a small dataset built into the output folder, a few steps, the reference step early
TOY_STEPS, TOY_REFERENCE_STEP = 6, 2
TOY_DATA = ["data.num_examples.train=48", "data.num_examples.validation=0", "data.num_examples.test=17"]


def _rss_mb() -> float:
    """Current resident set size of this process, from /proc (what the allocator holds now, not the peak)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _sampler(samples: list):
    from transformers import TrainerCallback

    from odin_core.runtime.device import peak_memory_mb

    class MemorySampler(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            samples.append({"step": int(state.global_step), "peak_mb": round(peak_memory_mb("cpu"), 1),
                            "rss_mb": round(_rss_mb(), 1)})

    return MemorySampler()


def train_engine(engine: str, steps: int, workdir: Path, toy: bool) -> dict:
    """Train the quickstart recipe on ``engine`` for ``steps`` steps in this process; the samples and summary."""
    from odin_core.flows.run import RunFlow
    from odin_core.recipe import load_recipe

    overrides = [f"training.engine={engine}", f"training.max_steps={steps}", "training.save_steps=100000",
                 "generation.evaluate_base=false"]
    if toy:
        overrides += [*TOY_DATA, f"data.cache_dir={workdir / 'datasets'}", "training.logging_steps=2"]
    samples: list = []
    flow = RunFlow(load_recipe(RECIPE, overrides), callbacks=[_sampler(samples)], output_dir=str(workdir / "runs"),
                   overrides=overrides)
    with Timer() as timer:
        flow.setup_strategy()
        flow.setup_run_dir()
        flow.setup_engine()
        flow.setup_data()
        flow.setup_model()
        flow.train()
    return {"samples": samples, "training": flow.metrics["training"], "seconds": round(timer.seconds, 1)}


def summarise(engine: str, run: dict, reference_step: int) -> dict:
    """Peak and current RSS at the reference step and the last step, and the growth of the peak between them."""
    by_step = {s["step"]: s for s in run["samples"]}
    last = max(by_step)
    ref = by_step[min(reference_step, last)]
    end = by_step[last]
    growth = 100 * (end["peak_mb"] - ref["peak_mb"]) / ref["peak_mb"]
    return {"engine": engine, "steps": last, "reference_step": ref["step"], "peak_mb_at_reference": ref["peak_mb"],
            "peak_mb_at_end": end["peak_mb"], "rss_mb_at_reference": ref["rss_mb"], "rss_mb_at_end": end["rss_mb"],
            "peak_growth_pct": round(growth, 2), "within_target": growth < TARGET_GROWTH_PCT,
            "seconds": run["seconds"], "tokens_per_second": run["training"].get("tokens_per_second"),
            "samples": run["samples"]}


def _run_child(engine: str, steps: int, workdir: Path, toy: bool) -> dict:
    out = workdir / f"{engine}.json"
    cmd = [sys.executable, "-m", "benchmarks.memory_growth", "--worker", engine, "--steps", str(steps),
           "--workdir", str(workdir)] + (["--toy"] if toy else [])
    done = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if done.returncode != 0:
        raise SystemExit(f"the {engine} run failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(out.read_text())


def main(argv=None) -> int:
    ap = parser(__doc__.splitlines()[0])
    ap.add_argument("--engine", choices=[*ENGINES, "both"], default="both")
    ap.add_argument("--steps", type=int, default=None, help=f"training steps (default 300; {TOY_STEPS} with --toy)")
    ap.add_argument("--worker", choices=ENGINES, help="internal: train one engine in this process")
    ap.add_argument("--workdir", type=Path, help="internal: the worker's scratch folder")
    args = ap.parse_args(argv)
    steps = args.steps or (TOY_STEPS if args.toy else 300)
    reference = TOY_REFERENCE_STEP if args.toy else REFERENCE_STEP
    if steps <= reference:
        ap.error(f"--steps must be above the reference step {reference}")
    if args.worker:
        run = train_engine(args.worker, steps, args.workdir, args.toy)
        (args.workdir / f"{args.worker}.json").write_text(json.dumps(run))
        return 0
    engines = ENGINES if args.engine == "both" else (args.engine,)
    with tempfile.TemporaryDirectory(prefix="odin-memory-") as tmp:
        results = [summarise(e, _run_child(e, steps, Path(tmp), args.toy), reference) for e in engines]
    from odin_core.engine.trainers import PAD_TO_MULTIPLE_OF

    rows = [[r["engine"], r["steps"], f"{r['peak_mb_at_reference']:,.0f}", f"{r['peak_mb_at_end']:,.0f}",
             f"{r['peak_growth_pct']:+.1f}%", f"{r['rss_mb_at_reference']:,.0f}", f"{r['rss_mb_at_end']:,.0f}",
             "yes" if r["within_target"] else "NO", f"{r['seconds']:.0f}"] for r in results]
    print(table(["engine", "steps", f"peak@{reference} MB", "peak@end MB", "growth", f"rss@{reference} MB",
                 "rss@end MB", f"<{TARGET_GROWTH_PCT:g}%", "seconds"], rows))
    path = write_result("memory_growth", {"recipe": str(RECIPE.relative_to(ROOT)), "steps": steps,
                                          "reference_step": reference, "target_growth_pct": TARGET_GROWTH_PCT,
                                          "pad_to_multiple_of": PAD_TO_MULTIPLE_OF, "engines": results},
                        out=args.out, toy=args.toy)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
