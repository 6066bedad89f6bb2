"""Run events: one place that tells trackers and lifecycle-hook plugins what a run does."""

from __future__ import annotations

import time

from odin_core.components.plugins import get_component, hook_impls
from odin_core.foundation import console, layout


class RunEvents:
    """Fans run events out to the recipe's trackers and to every plugin's lifecycle hooks.

    Each tracker and each plugin's hook implementation is called on its own: one that
    raises is reported once by name (stderr and ``odin.log``) and the others still run,
    because a dashboard outage must not cost a training run.
    """

    def __init__(self, run):
        self.run = run
        recipe = run.recipe
        self.trackers = []
        for i, entry in enumerate(recipe.tracking):
            component = get_component("tracker", entry.name, file=recipe.path, key=f"tracking.{i}.name")
            self.trackers.append((entry.name, component.create(entry.options)))
        self.failures: list[str] = []

    def _report(self, what: str, exc: BaseException) -> None:
        message = f"warning: {what} failed: {type(exc).__name__}: {exc}"
        self.failures.append(message)
        console.warn(message, self.run)

    def _safely(self, what, func, *args, **kwargs):
        try:
            func(*args, **kwargs)
        except Exception as exc:
            self._report(what, exc)

    def _hooks(self, hook_name: str, **kwargs) -> None:
        for plugin, function, argnames in hook_impls(hook_name):
            self._safely(f"plugin {plugin!r} hook {hook_name}", function, **{a: kwargs[a] for a in argnames})

    def start(self) -> None:
        for name, tracker in self.trackers:
            self._safely(f"tracker {name} start", tracker.start, self.run)
        self._hooks("odin_run_start", run=self.run)

    def metrics(self, step: int, metrics: dict, log: str = layout.METRICS_LOG) -> None:
        """Record metrics (also appended to ``log``: ``metrics.jsonl``, or the RL stage's ``rl_metrics.jsonl``)."""
        self.run.append_jsonl(log, {"step": step, "time": time.time(), **metrics})
        for name, tracker in self.trackers:
            self._safely(f"tracker {name} log", tracker.log, step, metrics)
        self._hooks("odin_metrics_logged", run=self.run, step=step, metrics=metrics)

    def checkpoint(self, step: int, path) -> None:
        self.run.log(f"checkpoint saved at step {step}: {path}")
        self._hooks("odin_checkpoint_saved", run=self.run, step=step, path=path)

    def end(self, status: str, summary: dict) -> None:
        for name, tracker in self.trackers:
            self._safely(f"tracker {name} finish", tracker.finish, status, summary)
        self._hooks("odin_run_end", run=self.run, status=status, summary=summary)
