"""The ``odin`` command line. Heavy libraries are imported only inside the commands that train."""

from __future__ import annotations

import json
import os
import sys

import click

from odin_core import __version__
from odin_core.errors import OdinError


class OdinGroup(click.Group):
    """A click group that prints ``OdinError``s as one message and exits with their code."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except OdinError as exc:
            click.echo(f"error: {exc.format()}", err=True)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(130)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except Exception as exc:
            if os.environ.get("ODIN_DEBUG"):
                raise
            click.echo(f"error: unexpected {type(exc).__name__}: {exc}\n"
                       "(this is a bug in Odin or a plugin; set ODIN_DEBUG=1 to see the traceback)", err=True)
            ctx.exit(1)


def recipe_argument(func):
    func = click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
                        help="Override a recipe value, e.g. --set training.learning_rate=1e-4 (repeatable).")(func)
    return click.argument("recipe", type=click.Path(dir_okay=False, path_type=str))(func)


@click.group(cls=OdinGroup)
@click.version_option(__version__, prog_name="odin")
def cli():
    """Odin: fine-tune small language models to reason over hypergraphs."""


@cli.command()
@recipe_argument
@click.option("--resume", "resume", is_flag=False, flag_value="latest", default=None, metavar="[RUN_DIR]",
              help="Continue an interrupted run from its last checkpoint (the latest run of this recipe by default).")
@click.option("--output-dir", default=None, help="Parent folder of the run directory (default: the recipe's output_dir).")
def run(recipe, overrides, resume, output_dir):
    """Train and evaluate as RECIPE describes."""
    from odin_core.run import run as run_recipe

    result = run_recipe(recipe, overrides=overrides, resume=resume, output_dir=output_dir)
    click.echo(f"run directory: {result.run_dir}")


@cli.command()
@recipe_argument
def validate(recipe, overrides):
    """Check RECIPE (and its plugins' options) without running anything."""
    from odin_core.recipe import load_recipe

    loaded = load_recipe(recipe, overrides)
    click.echo(f"{recipe}: ok ({loaded.name}: loader {loaded.model.loader}, strategy {loaded.lora.strategy}, "
               f"engine {loaded.training.engine}, {len(loaded.data.encodings)} encoding(s), "
               f"{(str(len(loaded.eval)) + ' evaluator(s)') if loaded.eval else 'the default evaluators'})")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--hook", default=None, help="Only plugins implementing this hook.")
def plugins(as_json, hook):
    """List installed plugins, their components and hooks, and broken ones."""
    from odin_core.plugins import broken_plugins, plugin_infos, registry

    comps = registry()
    rows = []
    for info in plugin_infos():
        if hook and hook not in info.hooks:
            continue
        components = {}
        for kind, by_name in comps.items():
            names = sorted(n for n, c in by_name.items() if c.plugin == info.name)
            if names:
                components[kind] = names
        if info.name == "python" and not components:
            continue
        rows.append({"name": info.name, "distribution": info.distribution, "version": info.version,
                     "hooks": info.hooks, "components": components})
    broken = [vars(b) for b in broken_plugins()]
    if as_json:
        click.echo(json.dumps({"plugins": rows, "broken": broken}, indent=2))
        return
    for row in rows:
        dist = f" ({row['distribution']} {row['version']})" if row["distribution"] else ""
        click.echo(f"{row['name']}{dist}")
        click.echo(f"  hooks: {', '.join(row['hooks'])}")
        for kind, names in row["components"].items():
            click.echo(f"  {kind}: {', '.join(names)}")
    for b in broken:
        click.echo(f"BROKEN {b['name']} ({b['distribution']} {b['version']}): {b['error']}")


@cli.command()
def schema():
    """Print the JSON schema of recipes, including every plugin's options."""
    from odin_core.recipe import json_schema

    click.echo(json.dumps(json_schema(), indent=2))


def _add_plugin_commands():
    from odin_core.plugins import pm, load_plugins

    load_plugins()
    for impl in pm.hook.register_commands.get_hookimpls():
        try:
            impl.function(cli=cli)
        except Exception as exc:  # a broken plugin command must not take the CLI down
            print(f"warning: plugin {impl.plugin_name} failed to add commands: {exc}", file=sys.stderr)


def main():
    _add_plugin_commands()
    cli(prog_name="odin")


from odin_core.data import data_cli  # noqa: E402  (light: datasets is imported inside its commands)

cli.add_command(data_cli)

from odin_core.evaluate import eval_command  # noqa: E402  (light: torch is imported inside the command)
from odin_core.report import compare_command, report_command  # noqa: E402

cli.add_command(eval_command)
cli.add_command(compare_command)
cli.add_command(report_command)

from odin_core.engine import export_command  # noqa: E402  (light: torch is imported inside the command)

cli.add_command(export_command)
