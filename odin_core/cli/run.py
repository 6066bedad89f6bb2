"""``odin run``, ``odin validate``, ``odin schema``: a recipe from the command line."""

from __future__ import annotations

import json

import click

from odin_core.cli.common import count, recipe_argument
from odin_core.foundation import console


@click.command()
@recipe_argument
@click.option("--resume", "resume", is_flag=False, flag_value="latest", default=None, metavar="[RUN_DIR]",
              help="Continue an interrupted run from its last checkpoint (the latest run of this recipe by default).")
@click.option("--allow-changes", is_flag=True,
              help="With --resume: continue even though settings that alter training differ from the run's "
                   "(the changes are recorded in the run directory).")
@click.option("--output-dir", default=None, help="Parent folder of the run directory (default: the recipe's output_dir).")
@click.option("--seeds", type=count(1), default=1, show_default=True,
              help="Train this many times with training seeds s, s+1, ... on the same data; the report shows the spread.")
@click.option("--num-processes", type=count(1), default=None, metavar="N",
              help="Train data-parallel with N processes (one per GPU; gloo processes on a CPU), through "
                   "accelerate launch (docs/multiprocess.md).")
@click.option("--accelerate-config", default=None, metavar="FILE",
              help="An Accelerate config (DDP, FSDP, DeepSpeed; see recipes/accelerate/) for the launch.")
def run(recipe, overrides, resume, allow_changes, output_dir, seeds, num_processes, accelerate_config):
    """Train and evaluate as RECIPE describes."""
    import sys

    from odin_core.flows.run import run_recipe
    from odin_core.runtime import processes

    if allow_changes and not resume:
        raise click.UsageError("--allow-changes only applies with --resume")
    launched = processes.current()
    if launched.several and num_processes not in (None, launched.world_size):
        raise click.UsageError(f"--num-processes {num_processes}, but this process was launched as one of "
                               f"{launched.world_size}")
    if not launched.several and ((num_processes or 1) != 1 or accelerate_config):
        from odin_core.flows.launch import check_launch, launch

        check_launch(recipe, overrides, num_processes, accelerate_config)
        child = ["run", recipe, *(f"--set={o}" for o in overrides), f"--seeds={seeds}"]
        child += [f"--resume={resume}"] if resume else []
        child += ["--allow-changes"] if allow_changes else []
        child += [f"--output-dir={output_dir}"] if output_dir else []
        sys.exit(launch(child, num_processes, accelerate_config))
    with console.captured():
        result = run_recipe(recipe, overrides=overrides, resume=resume, output_dir=output_dir, seeds=seeds,
                            allow_changes=allow_changes)
    if processes.current().is_main:
        if (line := result_line(result.metrics)) is not None:
            click.echo(line)
        click.echo(f"run directory: {result.run_dir}")


def result_line(metrics: dict) -> str | None:
    """``result: trained 42.4% [36.7, 48.3] on 276 test rows; majority 33.7%, shortcut 61.6%``: what the run
    reached against what a model must beat (shown also with --quiet), or None when nothing was evaluated."""
    from odin_core.foundation.markdown import interval
    from odin_core.foundation.records import task_accuracy

    stage = metrics.get("trained")
    overall = task_accuracy(stage or {}).get("overall") or {}
    if overall.get("micro") is None:
        return None
    line = (f"result: trained {100 * overall['micro']:.1f}% {interval(overall.get('ci95'))} on "
            f"{overall.get('n', stage.get('num_examples'))} {stage.get('split', 'test')} rows")
    baselines = metrics.get("baselines") or {}
    shown = [f"{name} {100 * value:.1f}%" for name in ("majority", "shortcut")
             if (value := task_accuracy(baselines.get(name) or {}).get("overall", {}).get("micro")) is not None]
    return line + (f"; {', '.join(shown)}" if shown else "")


@click.command()
@recipe_argument
def validate(recipe, overrides):
    """Check RECIPE (and its plugins' options) without running anything."""
    from odin_core.foundation.errors import RecipeError
    from odin_core.foundation.files import writable_folder_problem
    from odin_core.recipe import load_recipe

    loaded = load_recipe(recipe, overrides)
    for key, folder in (("output_dir", loaded.output_dir), ("data.cache_dir", loaded.data.cache_dir)):
        if (problem := writable_folder_problem(folder)) is not None:
            raise RecipeError(f"{problem}; expected a folder that can be created and written", file=recipe, key=key)
    click.echo(f"{recipe}: ok ({loaded.name}: loader {loaded.model.loader}, strategy {loaded.finetune.strategy}, "
               f"engine {loaded.training.engine}, {len(loaded.data.encodings)} encoding(s), "
               f"{(str(len(loaded.eval)) + ' evaluator(s)') if loaded.eval else 'the default evaluators'})")


@click.command()
def schema():
    """Print the JSON schema of recipes, including every plugin's options."""
    from odin_core.recipe import json_schema

    click.echo(json.dumps(json_schema(), indent=2))


COMMANDS = (run, validate, schema)
