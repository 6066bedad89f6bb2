"""``odin run``, ``odin validate``, ``odin schema``: a recipe from the command line."""

from __future__ import annotations

import json

import click

from odin_core.cli.common import recipe_argument


@click.command()
@recipe_argument
@click.option("--resume", "resume", is_flag=False, flag_value="latest", default=None, metavar="[RUN_DIR]",
              help="Continue an interrupted run from its last checkpoint (the latest run of this recipe by default).")
@click.option("--allow-changes", is_flag=True,
              help="With --resume: continue even though settings that alter training differ from the run's "
                   "(the changes are recorded in the run directory).")
@click.option("--output-dir", default=None, help="Parent folder of the run directory (default: the recipe's output_dir).")
@click.option("--seeds", type=click.IntRange(min=1), default=1, show_default=True,
              help="Train this many times with training seeds s, s+1, ... on the same data; the report shows the spread.")
def run(recipe, overrides, resume, allow_changes, output_dir, seeds):
    """Train and evaluate as RECIPE describes."""
    from odin_core.flows.run import run_recipe

    if allow_changes and not resume:
        raise click.UsageError("--allow-changes only applies with --resume")
    result = run_recipe(recipe, overrides=overrides, resume=resume, output_dir=output_dir, seeds=seeds,
                        allow_changes=allow_changes)
    click.echo(f"run directory: {result.run_dir}")


@click.command()
@recipe_argument
def validate(recipe, overrides):
    """Check RECIPE (and its plugins' options) without running anything."""
    from odin_core.recipe import load_recipe

    loaded = load_recipe(recipe, overrides)
    click.echo(f"{recipe}: ok ({loaded.name}: loader {loaded.model.loader}, strategy {loaded.lora.strategy}, "
               f"engine {loaded.training.engine}, {len(loaded.data.encodings)} encoding(s), "
               f"{(str(len(loaded.eval)) + ' evaluator(s)') if loaded.eval else 'the default evaluators'})")


@click.command()
def schema():
    """Print the JSON schema of recipes, including every plugin's options."""
    from odin_core.recipe import json_schema

    click.echo(json.dumps(json_schema(), indent=2))


COMMANDS = (run, validate, schema)
