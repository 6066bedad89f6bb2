"""What every command shares: one-message errors with their exit codes, and the RECIPE argument."""

from __future__ import annotations

import math
import os
import sys

import click

from odin_core.foundation import console
from odin_core.foundation.errors import OdinError


class OdinGroup(click.Group):
    """A click group that prints ``OdinError``s as one message and exits with their code."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except OdinError as exc:
            click.echo(f"error: {exc.format()}", err=True)
            _failure_notes()
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(130)
        except BrokenPipeError:
            quiet_broken_pipe()
            ctx.exit(0)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except Exception as exc:
            if os.environ.get("ODIN_DEBUG"):
                raise
            click.echo(f"error: unexpected {type(exc).__name__}: {exc}\n"
                       "(this is a bug in Odin or a plugin; set ODIN_DEBUG=1 to see the traceback)", err=True)
            _failure_notes()
            ctx.exit(1)


#: the largest whole number a count option takes (a bound no real use reaches; beyond it is a typo)
MAX_COUNT = 2**31 - 1


class FiniteFloat(click.FloatRange):
    """A float option within a range that refuses ``nan`` and ``inf`` (``click.FloatRange`` lets NaN through:
    every comparison with it is false)."""

    name = "finite float"

    def convert(self, value, param, ctx):
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return number


def count(min: int = 0) -> click.IntRange:
    """A whole-number option from ``min`` to ``MAX_COUNT``."""
    return click.IntRange(min=min, max=MAX_COUNT)


def _failure_notes() -> None:
    """After an error: the warnings recorded before it (they may explain it) and where the log is."""
    for line in console.failure_notes():
        click.echo(line, err=True)


def quiet_broken_pipe() -> None:
    """The reader closed the pipe (``odin ... | head``): not an error; stop writing to it."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:  # ``odin ... 2>&1 | head``: stderr is the same closed pipe, and a message there would fail too
        same = os.path.samestat(os.fstat(sys.stdout.fileno()), os.fstat(sys.stderr.fileno()))
    except (OSError, ValueError):
        same = False
    os.dup2(devnull, sys.stdout.fileno())
    if same:
        os.dup2(devnull, sys.stderr.fileno())


def recipe_argument(func):
    """The RECIPE argument and ``--set KEY=VALUE`` overrides, shared by every command that reads a recipe."""
    func = click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
                        help="Override a recipe value, e.g. --set training.learning_rate=1e-4 (repeatable).")(func)
    return click.argument("recipe", type=click.Path(dir_okay=False, path_type=str))(func)
