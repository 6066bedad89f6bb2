"""Errors that end a command with one clear message instead of a traceback."""

from __future__ import annotations


class OdinError(Exception):
    """A failure the user can act on; the CLI prints it and exits with ``exit_code``."""

    exit_code = 1

    def __init__(self, message: str, *, file=None, key=None, line=None):
        self.message = message
        self.file = str(file) if file is not None else None
        self.key = key
        self.line = line
        super().__init__(self.format())

    def format(self) -> str:
        where = self.file or ""
        if self.line is not None:
            where += f":{self.line}"
        if self.key:
            where += f"{': ' if where else ''}{self.key}"
        return f"{where}: {self.message}" if where else self.message


class RecipeError(OdinError):
    """A recipe (or a command-line override) is invalid."""

    exit_code = 2


class DataError(OdinError):
    """An input data file or data option is invalid."""

    exit_code = 2


class ModelError(OdinError):
    """A model cannot be loaded (unknown name, no network, missing hardware)."""

    exit_code = 3


class RunStopped(Exception):
    """A caller stopped a run on purpose before it finished (a sweep pruning a trial); not an error.

    Raised from a run's ``on_eval`` hook; the run logs ``reason`` and ends with status ``status``."""

    def __init__(self, reason: str, *, step: int | None = None, status: str = "stopped"):
        self.reason, self.step, self.status = reason, step, status
        super().__init__(reason)
