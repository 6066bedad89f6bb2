"""Formatting for reports: percentages, intervals, deltas, Markdown tables, and reading a run's metrics."""

from __future__ import annotations

import json
from pathlib import Path

from odin_core.foundation.errors import DataError
from odin_core.foundation.layout import METRICS_FILE, RECIPE_FILE
from odin_core.foundation.markdown import delta, interval, num, p_value, params, pct, table
from odin_core.runtime.rundir import is_run_dir


def run_path(run_dir) -> Path:
    return Path(getattr(run_dir, "path", run_dir))


def load_metrics(run_dir) -> dict:
    """``metrics.json`` of a run directory, or a DataError saying what is missing."""
    path = run_path(run_dir) / METRICS_FILE
    if not run_path(run_dir).is_dir():
        raise DataError("is not a run directory (no such folder)", file=run_path(run_dir))
    if not is_run_dir(run_path(run_dir)):
        raise DataError(f"is not a run directory (no {RECIPE_FILE})", file=run_path(run_dir))
    if not path.exists():
        raise DataError("no metrics.json: the run did not finish evaluating; evaluate it with `odin eval RUN_DIR`",
                        file=run_path(run_dir))
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(f"is not valid JSON ({exc.msg})", file=path, line=exc.lineno) from None


def get(record, *keys):
    for key in keys:
        if not isinstance(record, dict) or key not in record:
            return None
        record = record[key]
    return record


__all__ = ["delta", "get", "interval", "load_metrics", "num", "p_value", "params", "pct", "run_path", "table"]


def stage_label(stage: str, strategy: str | None) -> str:
    """A stage's name in tables and plots: the trained stage says how it was fine-tuned ("trained (lora)")."""
    return f"trained ({strategy.rsplit('.', 1)[-1]})" if stage == "trained" and strategy else stage
