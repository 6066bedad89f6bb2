"""The flow of ``odin sweep``: hyperparameter trials of one recipe, driven by Optuna.

Each trial is an ordinary run (``odin run RECIPE --set ...`` with the trial's values, in this process) whose
run directory is ``<sweep_dir>/trials/trial-NNNN``. The sampler is TPE, seeded from the recipe's seed; a grid
sweep (``--grid``) queues every combination of its values, in order, and runs each once. The pruner
(``MedianPruner``) is fed what the run reports every ``training.eval_steps`` (``--prune-on``: the validation
loss, or the task accuracy of ``training.eval_accuracy_examples``; negated where it runs against the study's
direction, which Optuna's pruners follow) and stops a trial that is worse than the median of earlier trials at
the same step. The study lives in ``<sweep_dir>/study.db``
(SQLite), so ``odin sweep --resume SWEEP_DIR`` continues where a sweep stopped:

* complete, pruned and failed trials are kept and counted towards ``--trials``;
* a trial that was running when the sweep was killed (or interrupted by Ctrl-C) is marked failed, not
  counted, and queued again with the same values as a new trial (``rerun_of`` in its record): that trial
  continues the interrupted one's run directory from its last complete checkpoint (as ``odin run --resume``
  does), or, when no checkpoint was written yet, starts over in a run directory of its own.
"""

from __future__ import annotations

import gc
import hashlib
import json
import math
import os
import sys
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from odin_core.flows.sweep_spec import (
    check_metric_root,
    default_direction,
    format_value,
    grid_points,
    overrides_for,
    parse_params,
    resolve_metric,
)
from odin_core.flows.sweep_summary import counts_towards_total, write_summary
from odin_core.foundation.errors import DataError, OdinError, RecipeError, RunStopped
from odin_core.foundation.files import append_jsonl, atomic_write_json
from odin_core.foundation.layout import SWEEP_CONFIG, SWEEP_LOCK, SWEEP_LOG, SWEEP_STUDY, SWEEP_TRIALS_DIR
from odin_core.recipe import load_recipe

STUDY_NAME = "odin-sweep"
#: what the pruner can be fed at each evaluation during training (a key of the validation record)
PRUNE_METRICS = ("eval_loss", "eval_accuracy", "eval_accuracy_macro")


@dataclass
class SweepConfig:
    recipe: str  # absolute path of the recipe file
    overrides: list[str]  # fixed --set overrides, applied to every trial
    params: list[str]  # the --param specs as given
    trials: int  # trials to finish (complete, pruned or failed)
    metric: str
    direction: str  # "maximize" or "minimize"
    prune: bool = True
    prune_after: int = 5  # trials that finish before pruning starts
    seed: int = 0  # the sampler's seed: the recipe's seed
    recipe_digest: str = ""
    created: str = ""
    grid: list[str] = field(default_factory=list)  # the --grid specs (@FILE items as absolute paths)
    prune_on: str = "eval_loss"  # the validation record's key the pruner is fed


@dataclass
class SweepResult:
    sweep_dir: Path
    summary: dict = field(default_factory=dict)


def _recipe_digest(recipe) -> str:
    dumped = json.dumps(recipe.model_dump(mode="json"), sort_keys=True, default=str)
    return hashlib.sha256(dumped.encode("utf-8")).hexdigest()[:16]


def _check_params_in_recipe(config: SweepConfig, specs) -> None:
    """Each spec's values (or bounds) set into the recipe must validate; an error names the --param."""
    for spec in specs:
        for value in spec.endpoints():
            try:
                load_recipe(config.recipe, [*config.overrides, f"{spec.key}={format_value(value)}"])
            except RecipeError as exc:
                raise RecipeError(f"{spec.option} {spec.text!r}: with {spec.key} = {format_value(value)} the recipe "
                                  f"is invalid: {exc.format()}") from None


def _distributions(specs) -> dict:
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    made = {}
    for spec in specs:
        if spec.kind == "categorical":
            made[spec.key] = CategoricalDistribution(list(spec.choices))
        elif spec.kind == "int":
            made[spec.key] = IntDistribution(int(spec.low), int(spec.high))
        else:
            made[spec.key] = FloatDistribution(float(spec.low), float(spec.high), log=spec.kind == "loguniform")
    return made


def _optuna():
    try:
        import optuna
    except ImportError:
        raise OdinError("odin sweep needs Optuna, which is not installed: pip install optuna (a dependency of "
                        "odin-slm: reinstalling the package brings it)") from None
    return optuna


def _open_study(sweep_dir: Path, config: SweepConfig, seed_offset: int):
    optuna = _optuna()

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # a resumed sweep seeds its sampler past the trials already made, so that it does not draw them again
    sampler = optuna.samplers.TPESampler(seed=config.seed + seed_offset)
    pruner = (optuna.pruners.MedianPruner(n_startup_trials=config.prune_after) if config.prune
              else optuna.pruners.NopPruner())
    return optuna.create_study(storage=f"sqlite:///{sweep_dir / SWEEP_STUDY}", study_name=STUDY_NAME,
                               sampler=sampler, pruner=pruner, direction=config.direction, load_if_exists=True)


def _requeue(study, number: int, params: dict, run_dir) -> str:
    """Queue an interrupted trial's values again; the new trial resumes its run directory if it has a checkpoint."""
    from odin_core.engine import last_checkpoint
    from odin_core.foundation.layout import CHECKPOINT_DIR
    from odin_core.runtime.rundir import is_run_dir

    attrs = {"rerun_of": number}
    if run_dir and is_run_dir(run_dir) and last_checkpoint(Path(run_dir) / CHECKPOINT_DIR) is not None:
        attrs["resume_dir"] = str(run_dir)
    study.enqueue_trial(dict(params), user_attrs=attrs)
    return ("queued to continue from its last checkpoint" if "resume_dir" in attrs
            else "queued to run again from the start (no checkpoint yet)")


def _requeue_interrupted(study, log) -> int:
    """Trials left running by a killed sweep: marked failed (interrupted) and queued again with their values."""
    from optuna.trial import TrialState

    requeued = 0
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        study.tell(trial.number, state=TrialState.FAIL)
        how = _requeue(study, trial.number, trial.params, trial.user_attrs.get("run_dir"))
        log(f"trial {trial.number} was running when the sweep stopped: marked failed (interrupted), {how}")
        requeued += 1
    return requeued


@contextmanager
def _lock(sweep_dir: Path):
    """One ``odin sweep`` per folder: a second one (its pid alive) is refused."""
    lock = sweep_dir / SWEEP_LOCK
    if lock.exists():
        try:
            pid = int(lock.read_text().strip() or 0)
            os.kill(pid, 0)
            alive = pid != os.getpid()
        except (ValueError, ProcessLookupError):
            alive = False
        except PermissionError:
            alive = True
        if alive:
            raise OdinError(f"another odin sweep (pid {pid}) is using this sweep directory; wait for it or stop it",
                            file=sweep_dir)
    lock.write_text(str(os.getpid()))
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)


def _make_sweep_dir(recipe, output_dir) -> Path:
    base = Path(output_dir or recipe.output_dir)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    path, suffix = base / f"{recipe.name}-sweep-{stamp}", 1
    while True:
        try:
            path.mkdir(parents=True, exist_ok=False)
            return path
        except FileExistsError:
            suffix += 1
            path = base / f"{recipe.name}-sweep-{stamp}-{suffix}"
        except OSError as exc:
            raise RecipeError(f"cannot make the sweep directory {path} ({exc.strerror or exc})",
                              file=recipe.path, key="output_dir") from None


def _check_trials(trials, specs) -> int:
    """The number of trials to finish: a grid sweep's default and upper bound is its number of combinations."""
    grid = [spec for spec in specs if spec.option == "--grid"]
    size = len(grid_points(grid)) if grid else None
    if trials is None:
        if size is None:
            raise RecipeError("--trials N is required for a sweep with --param")
        return size
    if trials < 1:
        raise RecipeError(f"--trials must be at least 1 (got {trials})")
    if size is not None and trials > size:
        raise RecipeError(f"--trials {trials}: the grid has {size} combinations, each run once; give at most {size} "
                          "(or leave --trials out)")
    return trials


def _check_prune_on(prune_on: str, recipe) -> None:
    if prune_on not in PRUNE_METRICS:
        raise RecipeError(f"--prune-on {prune_on!r}: expected one of {', '.join(PRUNE_METRICS)}")
    if prune_on != "eval_loss" and not recipe.training.eval_accuracy_examples:
        raise RecipeError(f"--prune-on {prune_on}: the runs measure no accuracy during training; set "
                          "training.eval_accuracy_examples (e.g. --set training.eval_accuracy_examples=64)",
                          file=recipe.path, key="training.eval_accuracy_examples")


def start_sweep(recipe_path, params, *, trials: int | None, metric: str, direction: str | None = None, overrides=(),
                output_dir=None, prune: bool = True, prune_after: int = 5, echo=None, grid=(),
                prune_on: str = "eval_loss") -> SweepResult:
    """A new sweep of ``recipe_path`` over ``params`` (``--param`` specs) or ``grid`` (``--grid`` specs: every
    combination once; ``trials`` None runs them all); returns its directory and summary."""
    overrides = list(overrides or ())
    _optuna()
    check_metric_root(metric)
    specs = parse_params(params, overrides, grid)
    trials = _check_trials(trials, specs)
    recipe = load_recipe(recipe_path, overrides)
    _check_prune_on(prune_on, recipe)
    config = SweepConfig(recipe=str(Path(recipe_path).resolve()), overrides=overrides,
                         params=[s.canonical for s in specs if s.option == "--param"],
                         trials=trials, metric=metric, direction=direction or default_direction(metric),
                         prune=prune, prune_after=prune_after, seed=recipe.seed, recipe_digest=_recipe_digest(recipe),
                         created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                         grid=[s.canonical for s in specs if s.option == "--grid"], prune_on=prune_on)
    if config.direction not in ("maximize", "minimize"):
        raise RecipeError(f"--direction must be maximize or minimize (got {config.direction!r})")
    _check_params_in_recipe(config, specs)
    sweep_dir = _make_sweep_dir(recipe, output_dir).resolve()
    atomic_write_json(sweep_dir / SWEEP_CONFIG, asdict(config))
    return _run_sweep(sweep_dir, config, specs, echo, recipe)


def resume_sweep(sweep_dir, trials: int | None = None, echo=None) -> SweepResult:
    """Continue the sweep in ``sweep_dir``; ``trials`` raises (or lowers) the number of trials to finish."""
    sweep_dir = Path(sweep_dir).resolve()
    stored = sweep_dir / SWEEP_CONFIG
    if not stored.is_file():
        raise DataError(f"not a sweep directory: no {SWEEP_CONFIG} (odin sweep writes it when a sweep starts)",
                        file=sweep_dir)
    config = SweepConfig(**json.loads(stored.read_text(encoding="utf-8")))
    if trials is not None:
        if trials < 1:
            raise RecipeError(f"--trials must be at least 1 (got {trials})")
        config.trials = trials
        atomic_write_json(stored, asdict(config))
    recipe = load_recipe(config.recipe, config.overrides)
    if _recipe_digest(recipe) != config.recipe_digest:
        raise RecipeError("the recipe changed since the sweep started (its resolved settings differ); trials "
                          "run now would not be comparable with the earlier ones. Start a new sweep, or restore "
                          "the recipe", file=config.recipe)
    return _run_sweep(sweep_dir, config, parse_params(config.params, config.overrides, config.grid), echo, recipe)


def _free_memory() -> None:
    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


def _run_sweep(sweep_dir: Path, config: SweepConfig, specs, echo, recipe) -> SweepResult:
    from odin_core.flows.interrupts import sigterm_interrupts

    def log(message: str) -> None:
        (echo or (lambda m: print(m, file=sys.stderr, flush=True)))(f"sweep: {message}")
        append_jsonl(sweep_dir / SWEEP_LOG, {"time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                                             "message": message})

    with _lock(sweep_dir), sigterm_interrupts():
        probe = _open_study(sweep_dir, config, 0)
        existing = len(probe.get_trials(deepcopy=False))
        study = _open_study(sweep_dir, config, existing) if existing else probe
        if not existing and config.grid:
            for point in grid_points(specs)[:config.trials]:
                study.enqueue_trial(point)
        if existing:
            requeued = _requeue_interrupted(study, log)
            log(f"resuming: {sum(counts_towards_total(t) for t in study.get_trials(deepcopy=False))} of "
                f"{config.trials} trials finished" + (f", {requeued} interrupted trial(s) to run again" if requeued else ""))
        log(f"directory {sweep_dir}")
        if config.prune and not recipe.training.eval_steps:
            log("note: training.eval_steps is not set, so runs report no validation metric and no trial is pruned")
        distributions = _distributions(specs)
        try:
            while True:
                finished = sum(counts_towards_total(t) for t in study.get_trials(deepcopy=False))
                if finished >= config.trials:
                    break
                _run_trial(study, sweep_dir, config, distributions, finished, log)
                write_summary(sweep_dir, config, study, plots=False)
                _free_memory()
        except BaseException:  # stopped by an error or Ctrl-C: the table still shows the last trial's state
            try:
                write_summary(sweep_dir, config, study, plots=False)
            except Exception as exc:  # never hide the original error
                log(f"could not update the summary: {type(exc).__name__}: {exc}")
            raise
        summary = write_summary(sweep_dir, config, study, plots=True)
    best = summary.get("best")
    log(f"done: {summary['finished']} trials finished; " + (
        f"best trial {best['number']}: {config.metric} = {best['value']:.6g} with --set "
        + " --set ".join(best["overrides"]) if best else "no trial completed"))
    return SweepResult(sweep_dir, summary)


def _reuse_duplicate(study, trial, params: dict, chosen: list, log) -> bool:
    """Values a finished trial already had (TPE repeats itself on small categorical spaces): the same
    deterministic run would give the same result, so that trial's result is reused and nothing is trained."""
    from optuna.trial import TrialState

    if "rerun_of" in trial.user_attrs:
        return False
    earlier = next((t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))
                    if t.number != trial.number and t.params == params), None)
    if earlier is None:
        return False
    trial.set_user_attr("duplicate_of", earlier.number)
    trial.set_user_attr("overrides", chosen)
    trial.set_user_attr("run_dir", earlier.user_attrs.get("run_dir"))
    if earlier.state == TrialState.COMPLETE:
        study.tell(trial, earlier.value)
    else:
        study.tell(trial, state=TrialState.PRUNED)
    log(f"trial {trial.number}: the same values as trial {earlier.number} ({' '.join(chosen)}); its result is "
        "reused, nothing trained")
    return True


def _run_trial(study, sweep_dir: Path, config: SweepConfig, distributions: dict, finished: int, log) -> None:
    from optuna.trial import TrialState

    from odin_core.flows.run import RunFlow
    from odin_core.runtime.rundir import RunDir

    trial = study.ask(distributions)
    params = {key: trial.params[key] for key in distributions}
    chosen = overrides_for(params)
    if _reuse_duplicate(study, trial, params, chosen, log):
        return
    resume_dir = trial.user_attrs.get("resume_dir")  # an interrupted trial's run, continued
    run_path = Path(resume_dir) if resume_dir else sweep_dir / SWEEP_TRIALS_DIR / f"trial-{trial.number:04d}"
    trial.set_user_attr("run_dir", str(run_path))
    trial.set_user_attr("overrides", chosen)
    log(f"trial {trial.number} ({finished + 1} of {config.trials}): {' '.join(chosen)}"
        + (f" (continues trial {trial.user_attrs.get('rerun_of')} in {run_path})" if resume_dir else ""))
    sign = 1.0 if default_direction(config.prune_on) == config.direction else -1.0

    def report(step: int, record: dict) -> None:
        value = record.get(config.prune_on)
        if value is None or not math.isfinite(value):
            return
        trial.report(sign * value, step)
        if config.prune and trial.should_prune():
            raise RunStopped(f"pruned by the sweep at step {step}: {config.prune_on} {value:.4f} is worse than the "
                             "median of earlier trials at this step", step=step, status="pruned")

    def fail(message: str) -> None:
        trial.set_user_attr("error", message)
        study.tell(trial, state=TrialState.FAIL)
        log(f"trial {trial.number} failed: {message}")

    try:
        recipe = load_recipe(config.recipe, [*config.overrides, *chosen])
        result = RunFlow(recipe, run_dir=RunDir(run_path, recipe), overrides=[*config.overrides, *chosen],
                         resume=str(run_path) if resume_dir else None, on_eval=report).run()
    except RunStopped as exc:
        trial.set_user_attr("pruned_at_step", exc.step)
        study.tell(trial, state=TrialState.PRUNED)
        log(f"trial {trial.number} pruned at step {exc.step}")
        return
    except KeyboardInterrupt:
        study.tell(trial, state=TrialState.FAIL)
        how = _requeue(study, trial.number, params, run_path)
        log(f"interrupted during trial {trial.number} ({how}); continue with: odin sweep --resume {sweep_dir}")
        raise
    except OdinError as exc:  # diverged training and the like: a result of these values, counted
        fail(exc.format())
        return
    except BaseException as exc:
        fail(f"unexpected {type(exc).__name__}: {exc}")
        raise
    try:
        value = resolve_metric(result.metrics, config.metric)
    except RecipeError as exc:
        fail(exc.message)
        raise RecipeError(f"{exc.message} (checked against trial {trial.number}'s metrics.json: {run_path})") from None
    if not math.isfinite(value):
        fail(f"{config.metric} is {value}")
        return
    study.tell(trial, value)
    log(f"trial {trial.number}: {config.metric} = {value:.6g}")
