"""The ``odin`` command line: on top of every other module, imported by none.

Each command parses its options and calls a flow or domain function; heavy
libraries load only inside the commands that train or evaluate.
"""

from __future__ import annotations

import sys

import click

from odin_core import __version__
from odin_core.cli import data, evaluate, machine, new, plugins, run, sweep
from odin_core.cli.common import OdinGroup, quiet_broken_pipe


@click.group(cls=OdinGroup)
@click.version_option(__version__, prog_name="odin")
def cli():
    """Odin: fine-tune small language models to reason over hypergraphs."""


for _module in (run, sweep, plugins, data, evaluate, machine, new):
    for _command in _module.COMMANDS:
        cli.add_command(_command)


def _add_plugin_commands() -> None:
    """Each plugin's ``register_commands``, on its own: a broken one is named and the others still load."""
    from odin_core.plugins import hook_impls

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
