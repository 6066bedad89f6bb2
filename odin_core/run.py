"""The training flow of ``odin run``: explicit steps, in order, torchtune style.

1. load and validate the recipe        5. evaluate the base model
2. make (or reopen) the run directory  6. apply the LoRA strategy and train
3. build or reuse the dataset          7. evaluate the trained model, baselines
4. load the base model                 8. write metrics.json and report.md
"""

from __future__ import annotations

import json
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from odin_core.errors import OdinError, RecipeError
from odin_core.events import RunEvents
from odin_core.plugins import get_component
from odin_core.recipe import load_recipe
from odin_core.rundir import RunDir


@dataclass
class RunResult:
    run_dir: Path
    metrics: dict = field(default_factory=dict)


def _find_resume_dir(recipe, resume, output_dir) -> Path:
    if resume != "latest":
        path = Path(resume)
        if not path.is_dir():
            raise RecipeError(f"--resume {resume!r}: no such run directory")
        return path
    base = Path(output_dir or recipe.output_dir)
    candidates = sorted(base.glob(f"{recipe.name}-*/"), key=lambda p: p.stat().st_mtime) if base.is_dir() else []
    if not candidates:
        raise RecipeError(f"--resume: no earlier run of {recipe.name!r} under {base}/")
    return candidates[-1]


def check_device(recipe, strategy) -> str:
    """The device training will use; a clear error when the recipe needs CUDA and there is none."""
    import torch

    has_cuda = torch.cuda.is_available()
    if recipe.training.device == "cuda" and not has_cuda:
        raise RecipeError("training.device is 'cuda' but no CUDA GPU is visible", file=recipe.path, key="training.device")
    if getattr(strategy, "requires_cuda", False) and not has_cuda:
        raise RecipeError(f"strategy {recipe.lora.strategy!r} needs a CUDA GPU (4-bit bitsandbytes) and none is visible; "
                          "use strategy = \"lora\" on this machine", file=recipe.path, key="lora.strategy")
    return "cuda" if has_cuda and recipe.training.device != "cpu" else "cpu"


def run(recipe_path, overrides=None, resume=None, output_dir=None) -> RunResult:
    """Run a recipe end to end and return where its outputs are."""
    from odin_core import data, engine, evaluate, report

    # 1. recipe
    recipe = load_recipe(recipe_path, overrides)

    # 2. run directory
    if resume:
        run_dir = RunDir(_find_resume_dir(recipe, resume, output_dir), recipe)
        run_dir.log(f"resuming {recipe_path}")
    else:
        run_dir = RunDir.create(recipe, output_dir)
    run_dir.write_start_files()
    events = RunEvents(run_dir)
    events.start()
    status, summary = "failed", {}
    try:
        # the strategy's hardware needs are checked before anything is built or loaded
        strategy = get_component("lora", recipe.lora.strategy).create(recipe.lora.options)
        device = check_device(recipe, strategy)
        if recipe.training.engine == "unsloth":
            import unsloth  # noqa: F401  (must patch transformers, trl and peft before anything imports them)

        # 3. data
        data_report = {}
        datasets = data.load_or_build(recipe, report_out=data_report)
        run_dir.log(("reused cached" if data_report.get("cached") else "built") + " dataset "
                    + ", ".join(f"{k}={len(v)}" for k, v in datasets.items())
                    + f"; dropped {data_report.get('dropped_total', 0)} over the token budget")
        for warning in data_report.get("warnings", []):
            run_dir.log(f"warning: {warning}")
        run_dir.write_json("data_report.json", data_report)

        # 4. model
        loader = get_component("loader", recipe.model.loader).create(recipe.model.options)
        train_texts = (row["prompt"] + row["completion"] for row in datasets["train"])
        loaded = loader.load(recipe.model, strategy, run_dir, train_texts)
        run_dir.write_start_files()  # environment.json now knows the device
        run_dir.log(f"model loaded with {loaded.engine} on {device}")

        eval_split = datasets[recipe.generation.split]
        metrics = {"recipe": recipe.name, "run_dir": str(run_dir.path)}

        # 5. base model (kept in base_metrics.json, so a resumed run still reports it)
        base_file = run_dir.file("base_metrics.json")
        if recipe.generation.evaluate_base and resume and base_file.exists():
            metrics["base"] = json.loads(base_file.read_text(encoding="utf-8"))
        elif recipe.generation.evaluate_base and not resume:
            metrics["base"] = evaluate.evaluate_model(recipe, loaded, eval_split, run_dir, stage="base",
                                                      loss_split=datasets.get("validation"))
            run_dir.write_json("base_metrics.json", metrics["base"])

        # 6. train
        loaded.model = strategy.apply(loaded, recipe.seed)
        train_summary = engine.train(recipe, loaded, datasets, run_dir, events, resume=bool(resume))
        metrics["training"] = train_summary

        # 7. evaluate trained model, baselines
        metrics["trained"] = evaluate.evaluate_model(recipe, loaded, eval_split, run_dir, stage="trained",
                                                     loss_split=datasets.get("validation"))
        metrics["baselines"] = evaluate.trivial_baselines(recipe, datasets)

        # 8. report
        run_dir.write_json("metrics.json", metrics)
        report.write_report(run_dir)
        status, summary = "completed", train_summary
        return RunResult(run_dir.path, metrics)
    except KeyboardInterrupt:
        status = "interrupted"
        run_dir.log("interrupted; continue with: odin run RECIPE --resume " + str(run_dir.path))
        raise
    except OdinError as exc:
        run_dir.log(f"error: {exc.format()}")
        raise
    except Exception:
        run_dir.log("unexpected error:\n" + traceback.format_exc())
        raise
    finally:
        run_dir.log(f"run {status}")
        events.end(status, summary)
