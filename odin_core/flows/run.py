"""The flow of ``odin run``: explicit named steps, in order, torchtune style.

1. load and validate the recipe        5. evaluate the base model (and prompted: zero-shot, k-shot)
2. make (or reopen) the run directory  6. apply the fine-tuning strategy and train
3. build or reuse the dataset          7. evaluate the trained model, baselines
4. load the base model                 8. evaluate the trained model on the extra splits
                                       9. the RL stage (``[rl]``) and its evaluation
                                      10. write metrics.json and report.md

``run_recipe(..., seeds=N)`` repeats steps 2-9 with training seeds ``s, s+1, ...`` on
the same dataset (the recipe's ``seed`` fixes the data) and adds the spread across
seeds to the first run's report.
"""

from __future__ import annotations

import shlex
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from odin_core import data, engine, evaluate, report
from odin_core.components.plugins import get_component, get_engine
from odin_core.components.protocols import LoadSettings
from odin_core.flows.heuristics import split_heuristics
from odin_core.flows.interrupts import sigterm_interrupts
from odin_core.flows.resume import check_resume, find_resume_dir, finished_metrics, record_changes
from odin_core.foundation import console
from odin_core.foundation.errors import OdinError, RecipeError, RunStopped
from odin_core.foundation.files import storage_fault
from odin_core.foundation.layout import (
    BASE_METRICS_FILE,
    DATA_REPORT_FILE,
    LOG_FILE,
    METRICS_FILE,
    PROMPTED_METRICS_FILE,
    RL_DIR,
    RL_SUMMARY,
    SEEDS_DIR,
    TRAINING_SUMMARY,
)
from odin_core.foundation.records import task_accuracy
from odin_core.foundation.stats import mean_std
from odin_core.recipe import load_recipe
from odin_core.recipe.schema import Recipe
from odin_core.runtime import processes
from odin_core.runtime.device import check_device, torch_threads
from odin_core.runtime.events import RunEvents
from odin_core.runtime.rundir import FollowerRunDir, RunDir, is_run_dir


#: rows the base evaluation of an untrained (scratch) model uses, at most
UNTRAINED_BASE_ROWS = 64


@dataclass
class RunResult:
    run_dir: Path
    metrics: dict = field(default_factory=dict)


class RunFlow:
    """One training run of a recipe, step by step; ``run()`` calls the steps in order.

    From Python: ``datasets`` (a DatasetDict with train/validation/test) replaces the
    recipe's data build, ``callbacks`` adds ``transformers.TrainerCallback`` objects,
    ``run_dir`` (a ``RunDir``) places the run in a given folder, and ``on_eval(step, record)`` is called
    with each validation record during training (raising ``RunStopped`` there ends the run early)."""

    def __init__(self, recipe: Recipe, *, resume=None, output_dir=None, datasets=None, callbacks=(), run_dir=None,
                 allow_changes: bool = False, overrides=(), on_eval=None):
        self.recipe = recipe
        self.resume = resume
        self.allow_changes = allow_changes
        self.overrides = list(overrides or ())
        self.output_dir = output_dir
        self.datasets = datasets
        self.callbacks = list(callbacks)
        self.run_dir = run_dir
        self.on_eval = on_eval
        self.metrics: dict = {}
        self.processes = processes.Processes()
        #: the metrics of a resumed run that had already completed (nothing to do), else None
        self.finished: dict | None = None

    # --- steps ---------------------------------------------------------------

    def setup_run_dir(self) -> None:
        recipe = self.recipe
        if self.run_dir is not None:
            self.run_dir.path.mkdir(parents=True, exist_ok=True)
            if self.resume and is_run_dir(self.run_dir.path) and not self._resume_into(self.run_dir):
                return
        elif self.resume:
            if not self._resume_into(RunDir(find_resume_dir(recipe, self.resume, self.output_dir), recipe)):
                return
            self.run_dir.log(f"resuming {recipe.path}")
        else:
            self.run_dir = RunDir.create(recipe, self.output_dir)
        self.run_dir.write_start_files()
        console.attach_log(self.run_dir.file(LOG_FILE))  # library output goes here (``odin run`` captures it)
        for warning in recipe.warnings:
            self.run_dir.log(warning)
        self.events = RunEvents(self.run_dir)

    def _resume_into(self, run_dir) -> bool:
        """Check a resume of ``run_dir``; False when the run had already completed (then nothing is written)."""
        self.run_dir = run_dir
        changes = check_resume(run_dir, self.recipe, self.allow_changes)
        self.finished = finished_metrics(run_dir, self.recipe)
        if self.finished is not None:
            return False
        record_changes(run_dir, self.recipe, changes)
        return True

    def setup_strategy(self) -> None:
        """The strategy's hardware needs are checked before anything is built or loaded."""
        recipe = self.recipe
        self.strategy = get_component("lora_strategy", recipe.finetune.strategy).create(recipe.finetune.options)
        self.device = check_device(recipe, needs_cuda=getattr(self.strategy, "requires_cuda", False))

    def setup_processes(self) -> None:
        """Join the run's other processes when a launcher started several (``odin run --num-processes N``)."""
        self.processes = processes.start(self.device)

    def note_device(self) -> None:
        """The CPU fallback, said once: a recipe that asked for the CPU is not warned."""
        if self.device == "cpu" and self.recipe.training.device == "auto":
            console.warn(f"no CUDA GPU is visible: training and evaluation run on the CPU ({torch_threads()} threads), "
                         "far slower than on a GPU", self.run_dir)

    def setup_engine(self) -> None:
        """The recipe's engine prepares first (Unsloth must patch transformers before anything imports it)."""
        if self.processes.is_main:  # its imports take tens of seconds: say so instead of a silence
            console.say(f"engine: {self.recipe.training.engine} (importing its libraries)", self.run_dir)
        for warning in get_engine(self.recipe.training.engine).prepare(self.recipe) or ():
            console.warn(warning, self.run_dir if self.processes.is_main else None)

    def setup_data(self) -> None:
        data.check_extra_splits(self.recipe)  # a misnamed generation.extra_splits fails before training
        if self.datasets is not None:  # given from Python
            self.eval_split = self.datasets[self.recipe.generation.split]
            return
        data_report: dict = {}
        self.datasets = data.load_or_build(self.recipe, report_out=data_report)
        console.say(("data: reused cached dataset " if data_report.get("cached") else "data: built dataset ")
                    + ", ".join(f"{k}={len(v)}" for k, v in self.datasets.items())
                    + ("" if data_report.get("cached") else f" in {data_report['seconds']['total']:.1f} s"), self.run_dir)
        for warning in data_report.get("warnings", []):
            console.warn(warning, self.run_dir)
        too_long = (data_report.get("dropped") or {}).get("too_long")
        if too_long:
            console.warn(f"{too_long['count']} examples dropped: {too_long['why']} (by split: "
                         + ", ".join(f"{k} {v}" for k, v in too_long["by_split"].items()) + f"; {DATA_REPORT_FILE})",
                         self.run_dir)
        self.run_dir.write_json(DATA_REPORT_FILE, data_report)
        self.eval_split = self.datasets[self.recipe.generation.split]
        if len(self.eval_split) == 0:  # say which key emptied it before anything trains
            split = self.recipe.generation.split
            key = "data.frozen_eval" if split == "test" and self.recipe.data.frozen_eval else f"data.num_examples.{split}"
            raise RecipeError(f"the {split!r} split that generation.split evaluates is empty (see {DATA_REPORT_FILE} in "
                              f"the run directory); expected examples", file=self.recipe.path, key=key)

    def setup_model(self) -> None:
        recipe = self.recipe
        loader = get_component("model_loader", recipe.model.loader).create(recipe.model.options)
        train_texts = (row["prompt"] + row["completion"] for row in self.datasets["train"])
        if self.processes.is_main:
            console.say(f"model: loading with {recipe.model.loader}"
                        + (f" ({recipe.model.name})" if recipe.model.name else ""), self.run_dir)
        self.loaded = loader.load(recipe.model, LoadSettings.for_strategy(self.strategy), self.run_dir, train_texts)
        self.run_dir.write_start_files()  # environment.json now knows the device
        self.run_dir.log(f"model loaded with {self.loaded.engine} on {self.device}")
        engine.check_examples_fit(self.recipe, self.loaded, self.datasets)  # before any evaluation

    def _before_training(self, key: str, file: str, evaluate_stage) -> None:
        """An evaluation of the untrained model, kept in ``file`` so that a resumed run still reports it."""
        stored = self.run_dir.read_json(file)
        if self.resume and stored is not None:
            self.metrics[key] = stored
        elif not self.resume:
            self.metrics[key] = evaluate_stage()
            self.run_dir.write_json(file, self.metrics[key])

    def evaluate_base(self) -> None:
        if not self.recipe.generation.evaluate_base:
            return
        cap = None
        if getattr(self.loaded, "untrained", False) and len(self.eval_split) > UNTRAINED_BASE_ROWS:
            cap = UNTRAINED_BASE_ROWS  # random weights answer nothing: the time goes to training instead
            console.say(f"base: the model is untrained (random weights); its base evaluation uses {cap} of "
                        f"{len(self.eval_split)} rows", self.run_dir)
        self._before_training("base", BASE_METRICS_FILE, lambda: evaluate.evaluate_model(
            self.recipe, self.loaded, self.eval_split, self.run_dir, stage="base",
            loss_split=self.datasets.get("validation"), max_examples=cap))

    def evaluate_prompted(self) -> None:
        """Zero-shot and k-shot prompting of the base model (chat models)."""
        if self.recipe.generation.prompted:
            self._before_training("prompted", PROMPTED_METRICS_FILE, lambda: evaluate.evaluate_prompted(
                self.recipe, self.loaded, self.eval_split, self.datasets["train"], self.run_dir))

    def train(self) -> None:
        rl = self.recipe.rl
        if rl is not None and rl.start_from:  # the RL stage starts from another run's trained model
            self.loaded = engine.load_run_model(rl.start_from, trainable=True)
            self.metrics["training"] = {"skipped": f"rl.start_from = {rl.start_from}", "steps": 0}
            console.say(f"training: skipped; the RL stage starts from {rl.start_from}'s trained model", self.run_dir)
            return
        finished = self.run_dir.read_json(TRAINING_SUMMARY) if self.resume and rl is not None else None
        if finished is not None:  # supervised training completed before the run stopped in its RL stage
            self.loaded = engine.load_run_model(self.run_dir.path, trainable=True, after_rl=False)
            self.metrics["training"] = finished
            console.say(f"training: completed before ({finished.get('steps')} steps); reloaded its model", self.run_dir)
            return
        self.loaded.model = self.strategy.apply(self.loaded, self.recipe.training_seed)
        self.metrics["training"] = engine.train(self.recipe, self.loaded, self.datasets, self.run_dir, self.events,
                                                resume=bool(self.resume), callbacks=self.callbacks,
                                                on_eval=self.on_eval, eval_metrics=self._accuracy_during_training())
        if rl is not None and self.processes.is_main:
            self.run_dir.write_json(TRAINING_SUMMARY, self.metrics["training"])

    def check_rl_start(self) -> None:
        """``rl.start_from`` names a run directory with a trained model, before anything is built."""
        rl = self.recipe.rl
        if rl is not None and rl.start_from and not is_run_dir(Path(rl.start_from)):
            raise RecipeError(f"{rl.start_from!r} is not a run directory (no recipe.toml); expected the run whose "
                              "trained model the RL stage starts from", file=self.recipe.path, key="rl.start_from")

    def train_rl(self) -> None:
        """GRPO on the trained model (``[rl]``); a resume of a run whose RL stage completed reloads its model."""
        if self.recipe.rl is None:
            return
        processes.barrier()  # every process starts the RL stage together
        finished = self.run_dir.read_json(RL_SUMMARY) if self.resume else None
        if finished is not None:
            self.loaded = engine.load_run_model(self.run_dir.path, folder=RL_DIR)
            self.metrics["rl_training"] = finished
            return
        self.metrics["rl_training"] = engine.train_rl(self.recipe, self.loaded, self.datasets, self.run_dir,
                                                      self.events, resume=bool(self.resume))

    def evaluate_rl(self) -> None:
        """The model after the RL stage on the evaluated rows: the "after RL" stage of the report."""
        if self.recipe.rl is not None:
            self.metrics["rl"] = evaluate.evaluate_model(self.recipe, self.loaded, self.eval_split, self.run_dir,
                                                         stage="rl", loss_split=self.datasets.get("validation"))

    def _accuracy_during_training(self):
        """The task accuracy measured at each evaluation (``training.eval_accuracy_examples``), or None."""
        validation = self.datasets.get("validation")
        if not (self.recipe.training.eval_accuracy_examples and validation is not None and len(validation)):
            return None
        return evaluate.TrainingAccuracy(self.recipe, self.loaded, validation, self.run_dir)

    def evaluate_trained(self) -> None:
        self.metrics["trained"] = evaluate.evaluate_model(self.recipe, self.loaded, self.eval_split, self.run_dir,
                                                          stage="trained", loss_split=self.datasets.get("validation"))
        self.metrics["baselines"] = evaluate.trivial_baselines(self.recipe, self.datasets, run_dir=self.run_dir)

    def score_heuristics(self) -> None:
        """How well the shallow rules the rows carry answer the evaluated split (``metrics["heuristics"]``)."""
        self.metrics["heuristics"] = split_heuristics(self.recipe, self.eval_split)

    def evaluate_extra_splits(self) -> None:
        """The trained model on each of ``generation.extra_splits`` (relabelled, larger, real, unseen encodings)."""
        if self.recipe.generation.extra_splits:
            from odin_core.flows.extra_splits import evaluate_extra_splits

            self.metrics["extra_splits"] = evaluate_extra_splits(self.recipe, self.loaded, self.run_dir)

    def write_outputs(self) -> None:
        self.metrics["comparisons"] = report.comparisons(self.run_dir.path, self.metrics)
        self.run_dir.write_json(METRICS_FILE, self.metrics)
        report.write_report(self.run_dir)

    # --- the flow ------------------------------------------------------------

    def resume_command(self) -> str:
        """The exact command line that continues this run."""
        recipe = str(self.recipe.path) if self.recipe.path is not None else "RECIPE"
        parts = ["odin", "run", recipe, *(f"--set={o}" for o in self.overrides), "--resume", str(self.run_dir.path)]
        if self.processes.several:
            parts += ["--num-processes", str(self.processes.world_size)]
        if self.allow_changes:
            parts.append("--allow-changes")
        return shlex.join(parts)

    def run(self) -> RunResult:
        with sigterm_interrupts():
            return self._run()

    def _run(self) -> RunResult:
        self.setup_strategy()  # a recipe this machine cannot run fails before any run directory exists
        self.check_rl_start()
        self.setup_processes()
        if not self.processes.is_main:
            return self._follow()
        self.setup_run_dir()
        if self.finished is not None:
            return self._already_complete()
        processes.share(str(self.run_dir.path))
        self.note_device()
        self.metrics = {"recipe": self.recipe.name, "run_dir": str(self.run_dir.path),
                        "training_seed": self.recipe.training_seed}
        self.events.start()
        status, summary = "failed", {}
        try:
            self.setup_engine()
            self.setup_data()
            processes.barrier()  # the other processes read the dataset from the cache
            self.setup_model()
            processes.barrier()  # ... and the base model (a scratch one is built into the run directory)
            self.evaluate_base()
            self.evaluate_prompted()
            processes.barrier()  # all train together
            self.train()
            self.evaluate_trained()
            self.score_heuristics()
            self.evaluate_extra_splits()
            self.train_rl()
            self.evaluate_rl()
            self.write_outputs()
            processes.barrier()  # the others end with the main process
            status, summary = "completed", self.metrics["training"]
            return RunResult(self.run_dir.path, self.metrics)
        except KeyboardInterrupt as exc:
            status = "interrupted"
            saved = f"checkpoint saved at step {exc.step}; " if getattr(exc, "step", None) is not None else ""
            message = f"interrupted; {saved}continue with: {self.resume_command()}"
            console.alert(message, self.run_dir)
            raise
        except RunStopped as exc:
            status = exc.status
            self.run_dir.log(f"stopped: {exc.reason}")
            raise
        except OdinError as exc:
            self.run_dir.log(f"error: {exc.format()}")
            raise
        except Exception as exc:
            fault = self._environment_fault(exc)
            if fault is None:
                self.run_dir.log("unexpected error:\n" + traceback.format_exc())
                raise
            self.run_dir.log(f"error: {fault.format()}")
            raise fault from None
        finally:
            self.run_dir.log(f"run {status}")
            self.events.end(status, summary)
            console.detach_log()

    def _environment_fault(self, exc: BaseException) -> OdinError | None:
        """A run stopped by its surroundings (another process of it gone, a full or read-only disk) as one
        message with the resume command; None for anything else."""
        if processes.peer_lost(exc):
            cause = str(exc).strip().splitlines()[-1][:200] if str(exc).strip() else type(exc).__name__
            return OdinError(f"another process of this run ended, so this one stopped too ({cause}); the last "
                             f"complete checkpoint is kept; continue with: {self.resume_command()}")
        cause = storage_fault(exc)
        if cause is not None:
            return OdinError(f"{cause} while writing into {self.run_dir.path}; the last complete checkpoint is "
                             f"kept; free space (or make it writable), then continue with: {self.resume_command()}")
        return None

    def _already_complete(self) -> RunResult:
        """A resume of a run that had completed: said so, nothing rewritten (its files keep their bytes)."""
        steps = (self.finished.get("training") or {}).get("steps")
        console.say(f"{self.run_dir.path} already completed ({steps} steps); nothing to resume: raise "
                    "training.max_steps (with --allow-changes) to train it further")
        processes.share("")  # the other processes (if any) stop too
        return RunResult(self.run_dir.path, self.finished)

    def _follow(self) -> RunResult:
        """A process other than the main one: it trains on its share of every batch. The main process
        makes the run directory, builds the dataset, evaluates, logs and writes every file."""
        try:
            return self._follow_steps()
        except Exception as exc:
            if self.run_dir is None or not processes.peer_lost(exc):
                raise
            raise self._environment_fault(exc) from None

    def _follow_steps(self) -> RunResult:
        shared = processes.share(None)
        if not shared:  # the main process found the run already complete
            return RunResult(Path(), {})
        self.run_dir = FollowerRunDir(shared, self.recipe)
        console.attach_log(self.run_dir.file(LOG_FILE))  # its libraries' output too
        self.events = None
        self.setup_engine()
        processes.barrier()
        if self.datasets is None:
            self.datasets = data.load_or_build(self.recipe)  # from the cache the main process filled
        processes.barrier()
        self.setup_model()
        processes.barrier()
        self.train()
        self.train_rl()
        processes.barrier()
        return RunResult(self.run_dir.path, {})


def _seed_summary(results: list[RunResult]) -> dict:
    """Mean and standard deviation across seeds of the trained (and base) accuracy."""
    summary = {}
    for key, stage, field_name in (("trained", "trained", "micro"), ("trained_macro", "trained", "macro"),
                                   ("base", "base", "micro")):
        values = [task_accuracy(r.metrics.get(stage) or {}).get("overall", {}).get(field_name)
                  for r in results]
        values = [v for v in values if v is not None]
        if values:
            mean, std = mean_std(values)
            summary[key] = {"mean": mean, "std": std, "values": values}
    return summary


def run_recipe(recipe_path, overrides=None, resume=None, output_dir=None, seeds: int = 1,
               allow_changes: bool = False) -> RunResult:
    """Run a recipe end to end and return where its outputs are.

    ``seeds > 1`` trains ``seeds`` times with training seeds ``s, s+1, ...`` (``s``: the
    recipe's training seed) on the same dataset; the extra runs go to ``<run_dir>/seeds/``
    and the first run's metrics.json and report.md get the spread across seeds. ``allow_changes``: resume even
    when settings that alter training differ from the run's recorded ones (the changes are recorded)."""
    recipe = load_recipe(recipe_path, overrides)
    if seeds < 1:
        raise RecipeError(f"--seeds must be at least 1 (got {seeds})")
    if seeds > 1 and resume:
        raise RecipeError("--seeds and --resume cannot be combined: resume each seed's run directory on its own")
    first = RunFlow(recipe, resume=resume, output_dir=output_dir, allow_changes=allow_changes,
                    overrides=overrides).run()
    if seeds == 1:
        return first
    results = [first]
    start = recipe.training_seed
    for k in range(1, seeds):
        seeded = load_recipe(recipe_path, [*(overrides or ()), f"training.seed={start + k}"])
        results.append(RunFlow(seeded, output_dir=first.run_dir / SEEDS_DIR).run())
    if not processes.current().is_main:
        return first
    first.metrics["seeds"] = {"seeds": [start + k for k in range(seeds)],
                              "runs": [str(r.run_dir) for r in results], "summary": _seed_summary(results)}
    RunDir(first.run_dir).write_json(METRICS_FILE, first.metrics)
    report.write_report(first.run_dir)
    return first


