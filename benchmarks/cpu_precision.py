"""CPU training precision: the transformers engine in float32 (``model.dtype = "auto"`` on a CPU today)
against bfloat16 weights (``model.dtype = "bfloat16"``), with Unsloth's CPU fallback (bfloat16) as the
reference, on the same data; runs alternate A B C A B C, each in its own process.

    python -m benchmarks.cpu_precision           # SmolLM2-135M-Instruct, LoRA r=16, 8 steps of 4 rows
    python -m benchmarks.cpu_precision --toy     # the quickstart's scratch model at toy size

Reported per variant (medians): tokens/s over the training phase and in the steady logging intervals,
seconds per step, peak RSS, the final loss and the dtype the base weights trained in. The losses tell
whether bfloat16 changes what is learned; the step times whether it is worth it.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from benchmarks.common import Timer, finish, median, parser, table
from benchmarks.engines import REPO, Case, _fmt, _run, prepare_data

#: (name, engine, extra overrides)
VARIANTS = (("transformers fp32", "transformers", ["model.dtype=float32"]),
            ("transformers bf16", "transformers", ["model.dtype=bfloat16"]),
            ("unsloth (bf16 fallback)", "unsloth", []))


def case(toy: bool) -> Case:
    steps = ["training.logging_steps=1", "training.save_steps=100000"]
    if toy:
        return Case("quickstart scratch model (toy)", REPO / "recipes/quickstart.toml",
                    steps + ["training.max_steps=3", "data.num_examples.train=120", "data.num_examples.validation=17",
                             "data.num_examples.test=17", "model.num_layers=1", "model.hidden_size=64"])
    return Case("SmolLM2-135M-Instruct (LoRA r=16)", REPO / "recipes/smollm2_135m.toml",
                steps + ["training.max_steps=8", "training.batch_size=4", "generation.prompted=false"])


def summarise(runs: list[dict]) -> dict:
    ok = [r for r in runs if "error" not in r]
    if not ok:
        return {"runs": 0}
    steady = [r["steady_tokens_per_second"] for r in ok if r.get("steady_tokens_per_second")]
    return {"runs": len(ok), "tokens_per_second": median([r["tokens_per_second"] for r in ok]),
            "steady_tokens_per_second": median(steady) if steady else None,
            "seconds_per_step": median([r["seconds_per_step"] for r in ok]),
            "peak_memory_mb": median([r["peak_memory_mb"] for r in ok]),
            "final_loss": median([r["final_loss"] for r in ok]), "final_losses": [r["final_loss"] for r in ok],
            "tokens_per_run": ok[0]["tokens"], "weights_dtype": ok[0].get("weights_dtype")}


def render(variants: dict) -> str:
    reference = (variants.get("transformers fp32") or {}).get("seconds_per_step")
    rows = []
    for name, v in variants.items():
        speed = reference / v["seconds_per_step"] if reference and v.get("seconds_per_step") else None
        rows.append([name, v.get("weights_dtype") or "-", _fmt(v.get("tokens_per_second")),
                     _fmt(v.get("steady_tokens_per_second")), _fmt(v.get("seconds_per_step"), ".2f"),
                     _fmt(speed, ".2f"), _fmt(v.get("peak_memory_mb")), _fmt(v.get("final_loss"), ".4f")])
    return table(["variant", "weights", "tok/s", "steady tok/s", "s/step", "speed vs fp32", "peak MB", "final loss"],
                 rows)


def main(argv=None) -> dict:
    ap = parser(__doc__.splitlines()[0])
    ap.add_argument("--alternations", type=int, default=None, help="runs per variant (default: 2; 1 at toy size)")
    ap.add_argument("--work", type=Path, default=None, help="folder for run directories (default: a temporary one)")
    args = ap.parse_args(argv)
    the_case = case(args.toy)
    alternations = args.alternations or (1 if args.toy else 2)
    runs: dict[str, list[dict]] = {name: [] for name, _, _ in VARIANTS}
    with tempfile.TemporaryDirectory(prefix="odin-bench-precision-") as tmp, Timer() as t:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        prepare_data(the_case.recipe, the_case.overrides)
        index = 0
        for _ in range(alternations):
            for name, engine, extra in VARIANTS:
                runs[name].append(_run(Case(name, the_case.recipe), engine, the_case.overrides + extra, work, index,
                                       timeout=3600))
                index += 1
    variants = {name: summarise(r) for name, r in runs.items()}
    errors = [r for rs in runs.values() for r in rs if "error" in r]
    text = render(variants)
    result = {"case": the_case.name, "alternations": alternations, "seconds": round(t.seconds, 1),
              "variants": variants, "errors": errors, "table": text}
    return finish("cpu_precision", result, args, text)


if __name__ == "__main__":
    main()
