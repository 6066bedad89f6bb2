"""``odin new plugin`` and ``odin new recipe``: start a plugin package or a recipe from what is registered."""

from __future__ import annotations

from pathlib import Path

import click

from odin_core.foundation.errors import DataError


def _refuse_existing(path: Path, force: bool) -> None:
    _refuse_inside_run(path)
    if path.exists() and not force:
        raise DataError("exists already; choose another place or pass --force to overwrite", file=path)


def _refuse_inside_run(path: Path) -> None:
    """``odin new`` never writes into a run directory, whatever --force says."""
    from odin_core.runtime.rundir import owning_run

    run = owning_run(path if path.exists() else path.parent)
    if run is not None:
        raise DataError(f"is inside the run directory {run}; choose a place outside runs", file=path)


@click.group("new")
def new_cli():
    """Write a new plugin package or recipe to start from."""


@new_cli.command("plugin")
@click.argument("name")
@click.option("--kinds", default="source,encoder,task,evaluator", show_default=True,
              help="Comma-separated component kinds: source, encoder, task, evaluator, tracker, model_loader, "
                   "lora_strategy.")
@click.option("--output", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder to write (default: ./odin-NAME).")
@click.option("--force", is_flag=True, help="Overwrite files in an existing folder.")
def new_plugin(name, kinds, output, force):
    """Write a pip-installable plugin package NAME with one component of each kind."""
    from odin_core.cli.scaffold import plugin_files
    from odin_core.foundation.files import write_new_files

    files = plugin_files(name, kinds.split(","))
    folder = output or Path(f"odin-{name.replace('_', '-')}")
    _refuse_inside_run(folder)
    if folder.exists() and not folder.is_dir():
        raise DataError("exists and is not a folder; choose another --output", file=folder)
    if folder.exists() and any(folder.iterdir()) and not force:
        raise DataError("is a non-empty folder; choose another --output or pass --force", file=folder)
    write_new_files(folder, files)
    click.echo(f"plugin {name}: {folder}")
    for relative in files:
        click.echo(f"  {relative}")
    click.echo(f"next: pip install -e {folder}  (then: odin plugins; odin run {folder / 'example.toml'})")


@new_cli.command("recipe")
@click.option("--model", "model_name", default=None,
              help="model.name: a hub name, local folder or .gguf file (loader default: models.llama).")
@click.option("--loader", default=None, help="Model loader (default: models.scratch, or models.llama with --model).")
@click.option("--strategy", default="finetune.lora", show_default=True, help="LoRA strategy.")
@click.option("--source", default="hypernetx.synthetic", show_default=True, help="Hypergraph source.")
@click.option("--encodings", default="hypernetx.n_set,hypernetx.n_pair", show_default=True,
              help="Comma-separated encoders.")
@click.option("--tasks", default="all", show_default=True, help="Comma-separated tasks, task families or 'all'.")
@click.option("--name", "recipe_name", default="my-run", show_default=True, help="The recipe's name.")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="File to write (default: print it).")
@click.option("--force", is_flag=True, help="Overwrite --output if it exists.")
def new_recipe(model_name, loader, strategy, source, encodings, tasks, recipe_name, output, force):
    """Write a recipe with every option of its components commented at its default."""
    from odin_core.cli.scaffold import recipe_text

    loader = loader or ("models.llama" if model_name else "models.scratch")
    text = recipe_text(recipe_name, loader, model_name, strategy, source,
                       [e for e in encodings.split(",") if e], [t for t in tasks.split(",") if t])
    if output is None:
        click.echo(text, nl=False)
        return
    from odin_core.foundation.files import write_new_files

    _refuse_existing(output, force)
    if output.is_dir():
        raise DataError("is a folder; --output names the recipe file to write", file=output)
    write_new_files(output.parent, {output.name: text})
    click.echo(f"recipe: {output} (check it with: odin validate {output})")


COMMANDS = (new_cli,)
