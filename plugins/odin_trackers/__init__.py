"""Odin's Weights & Biases tracker: the run's config, metrics and system figures, online or offline.

Enabled by a ``[[tracking]]`` table in the recipe::

    [[tracking]]
    name = "wandb"
    project = "odin"
    mode = "offline"     # no network and no account needed; `wandb sync` uploads later

The API key is read by wandb itself (``WANDB_API_KEY`` or ``~/.netrc``); it is never an
option, and config values whose names look secret are masked before they are sent.
wandb is imported inside ``start``.
"""

from __future__ import annotations

import os
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

import odin_core

_SECRET_NAME = re.compile(r"(api[_-]?key|token|secret|password|passwd|credential)", re.IGNORECASE)
MASK = "***"


class WandbOptions(BaseModel):
    """Options of the wandb tracker."""

    model_config = ConfigDict(extra="forbid")
    project: str = Field("odin", description="wandb project")
    entity: str | None = Field(None, description="wandb team or user (default: the account's)")
    mode: Literal["online", "offline", "disabled"] | None = Field(
        None, description="default: WANDB_MODE, else online")
    dir: str | None = Field(None, description="where wandb writes its files (default: WANDB_DIR, else the run directory)")
    tags: list[str] = Field(default_factory=list)
    group: str | None = None
    job_type: str = "train"
    log_console: bool = Field(False, description="also capture the console output (it may contain anything printed)")


def redact(value):
    """``value`` with every mapping entry whose key looks like a secret masked."""
    if isinstance(value, dict):
        return {k: (MASK if isinstance(k, str) and _SECRET_NAME.search(k) else redact(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


class WandbTracker:
    """Logs a run to Weights & Biases (``wandb.init`` / ``log`` / ``finish``)."""

    def __init__(self, options: WandbOptions | None):
        self.options = options or WandbOptions()
        self.wandb_run = None

    def start(self, run) -> None:
        import wandb

        options = self.options
        folder = options.dir or os.environ.get("WANDB_DIR") or str(run.path)
        os.makedirs(folder, exist_ok=True)
        config = redact(run.recipe.resolved())
        environment = run.file("environment.json")
        if environment.is_file():
            import json

            config["environment"] = redact(json.loads(environment.read_text(encoding="utf-8")))
        self.wandb_run = wandb.init(
            project=options.project, entity=options.entity, mode=options.mode, dir=folder,
            name=run.path.name, group=options.group, job_type=options.job_type, tags=options.tags or None,
            config=config, settings=wandb.Settings(console="auto" if options.log_console else "off"),
            reinit="finish_previous")

    def log(self, step: int, metrics: dict) -> None:
        if self.wandb_run is not None:
            self.wandb_run.log(dict(metrics), step=step)

    def finish(self, status: str, summary: dict) -> None:
        if self.wandb_run is None:
            return
        for key, value in redact(dict(summary or {})).items():
            if isinstance(value, (int, float, str, bool)) or value is None:
                self.wandb_run.summary[key] = value
        self.wandb_run.summary["status"] = status
        self.wandb_run.finish(exit_code=0 if status == "completed" else 1)
        self.wandb_run = None


@odin_core.hookimpl
def register_trackers(register):
    register("trackers.wandb", WandbTracker, options=WandbOptions, aliases=("wandb",))
