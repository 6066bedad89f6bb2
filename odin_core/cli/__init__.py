"""The ``odin`` command line: on top of every other module, imported by none.

Each command parses its options and calls a flow or domain function; heavy
libraries load only inside the commands that train or evaluate.
"""

from __future__ import annotations

import os
import sys

import click

from odin_core import __version__
from odin_core.cli import data, evaluate, machine, new, plugins, run, sweep
from odin_core.cli.common import OdinGroup, quiet_broken_pipe
from odin_core.foundation import console


#: commands whose library output goes to the run's odin.log instead of the terminal (console.captured)
CAPTURED = ("run", "sweep", "eval")


@click.group(cls=OdinGroup)
@click.version_option(__version__, prog_name="odin")
@click.option("-v", "--verbose", is_flag=True,
              help="Also show what libraries print: warnings, logging, progress bars (always kept in the run's odin.log).")
@click.option("-q", "--quiet", is_flag=True, help="Show only errors and the final result line (for scripts).")
@click.pass_context
def cli(ctx, verbose, quiet):
    """Odin: fine-tune small language models to reason over hypergraphs."""
    if verbose and quiet:
        raise click.UsageError("--verbose and --quiet cannot be combined")
    console.reset()
    if verbose or quiet:
        before = os.environ.get(console.VERBOSITY_ENV)
        console.set_verbosity(console.VERBOSE if verbose else console.QUIET)
        # for this command and the processes it starts; not for later commands of a process (CliRunner, tests)
        ctx.call_on_close(lambda: console.restore_verbosity(before))
    if console.verbosity() != console.VERBOSE and ctx.invoked_subcommand not in CAPTURED:
        ctx.call_on_close(console.quiet_library_env())


for _module in (run, sweep, plugins, data, evaluate, machine, new):
    for _command in _module.COMMANDS:
        cli.add_command(_command)


def _add_plugin_commands() -> None:
    """Each plugin's ``register_commands``, on its own: a broken one is named and the others still load."""
    from odin_core.components.plugins import hook_impls

    for plugin, function, argnames in hook_impls("register_commands"):
        try:
            function(**{"cli": cli} if "cli" in argnames else {})
        except Exception as exc:  # a broken plugin command must not take the CLI down
            print(f"warning: plugin {plugin!r} failed to add commands: {type(exc).__name__}: {exc}", file=sys.stderr)


def main():
    _add_plugin_commands()
    try:
        cli(prog_name="odin")
    except BrokenPipeError:  # raised outside a command (click's own output: --help, usage errors)
        quiet_broken_pipe()
        sys.exit(0)
    except SystemExit:
        # what is still buffered is written at exit; a reader that has gone (odin ... | head) is not an error
        try:
            sys.stdout.flush()
        except BrokenPipeError:
            quiet_broken_pipe()
        raise
