"""``odin sweep``: hyperparameter trials of a recipe through Optuna (``odin_core/flows/sweep.py``)."""

from __future__ import annotations

from pathlib import Path

import click

from odin_core.cli.common import count
from odin_core.foundation import console


@click.command()
@click.argument("recipe", required=False, type=click.Path(dir_okay=False, path_type=str))
@click.option("--param", "params", multiple=True, metavar="KEY=VALUES",
              help="A recipe key to search (repeatable): a comma list (finetune.r=8,16,32) or a distribution "
                   "(int:LO:HI, uniform:LO:HI, loguniform:LO:HI).")
@click.option("--grid", "grid", multiple=True, metavar="KEY=VALUES",
              help="A grid axis (repeatable): a comma list of values or of @FILE tables, e.g. "
                   "model=@models/a.toml,@models/b.toml (each file a whole [model] block). Every combination runs "
                   "once; not combined with --param.")
@click.option("--trials", type=count(1), default=None, help="Trials to finish (complete, pruned or failed). Required for a "
                                                       "new --param sweep (a grid: all its combinations); with "
                                                       "--resume, a new total.")
@click.option("--metric", default=None, metavar="PATH",
              help="What the sweep optimises: a dotted path into each trial's metrics.json "
                   "[default: trained.accuracy_macro].")
@click.option("--direction", type=click.Choice(["maximize", "minimize"]), default=None,
              help="[default: minimize for a loss, perplexity or error metric, else maximize]")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a recipe value in every trial (repeatable).")
@click.option("--output-dir", default=None,
              help="Parent folder of the sweep directory (default: the recipe's output_dir).")
@click.option("--prune/--no-prune", default=True, show_default=True,
              help="Stop a trial whose validation loss (or --prune-on metric, every training.eval_steps) is worse "
                   "than the median of earlier trials at the same step.")
@click.option("--prune-after", type=count(0), default=5, show_default=True,
              help="Trials that finish before pruning starts.")
@click.option("--prune-on", type=click.Choice(["eval_loss", "eval_accuracy", "eval_accuracy_macro"]),
              default="eval_loss", show_default=True,
              help="What pruning compares at each evaluation: the validation loss, or the task accuracy measured "
                   "during training (needs training.eval_accuracy_examples).")
@click.option("--resume", "resume", default=None, metavar="SWEEP_DIR", type=click.Path(file_okay=False, path_type=Path),
              help="Continue an interrupted sweep: its finished trials are kept, a trial that was running is run again.")
def sweep(recipe, params, grid, trials, metric, direction, overrides, output_dir, prune, prune_after, prune_on,
          resume):
    """Search hyperparameters of RECIPE: each trial is an `odin run` with the trial's --set values, under one
    sweep directory holding the Optuna study (SQLite), sweep.md, sweep.json and plots."""
    from odin_core.flows.sweep import resume_sweep, start_sweep

    if resume is not None:
        given = [name for name, value in (("RECIPE", recipe), ("--param", params), ("--grid", grid),
                                          ("--metric", metric), ("--direction", direction), ("--set", overrides),
                                          ("--output-dir", output_dir)) if value]
        if given or not prune or prune_after != 5 or prune_on != "eval_loss":
            raise click.UsageError(f"--resume continues the sweep with its own settings ({', '.join(given) or '--prune'} "
                                   "cannot change); only --trials may be given, to change the total")
        with console.captured():
            result = resume_sweep(resume, trials, echo=console.say)
    else:
        if recipe is None:
            raise click.UsageError("missing RECIPE (or --resume SWEEP_DIR)")
        if trials is None and not grid:
            raise click.UsageError("--trials N is required for a new sweep")
        with console.captured():
            result = start_sweep(recipe, params, trials=trials, metric=metric or "trained.accuracy_macro",
                                 direction=direction, overrides=overrides, output_dir=output_dir, prune=prune,
                                 prune_after=prune_after, echo=console.say, grid=grid, prune_on=prune_on)
    click.echo(f"sweep directory: {result.sweep_dir}")


COMMANDS = (sweep,)
