"""Checkpoints: the last complete one, its step, and the metrics logged after it (dropped on resume)."""

from __future__ import annotations

import re
from pathlib import Path

from odin_core.files import write_jsonl
from odin_core.layout import METRICS_LOG, TRAINER_STATE

_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


def last_checkpoint(folder) -> Path | None:
    """The checkpoint with the highest step that was written completely (its trainer state comes last)."""
    folder = Path(folder)
    if not folder.is_dir():
        return None
    done = [(int(m.group(1)), p) for p in folder.iterdir()
            if (m := _CHECKPOINT.match(p.name)) and (p / TRAINER_STATE).is_file()]
    return max(done)[1] if done else None


def checkpoint_step(path: Path) -> int:
    return int(_CHECKPOINT.match(path.name).group(1))


def prune_metrics(run_dir, step: int) -> int:
    """Drop metrics.jsonl records after ``step`` (logged after the checkpoint a resume starts from)."""
    records = run_dir.read_jsonl(METRICS_LOG)
    kept = [r for r in records if not isinstance(r.get("step"), int) or r["step"] <= step]
    if len(kept) != len(records):
        write_jsonl(run_dir.file(METRICS_LOG), kept)
    return len(records) - len(kept)

