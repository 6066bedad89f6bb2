"""Checkpoints: the last complete one, its step, and the metrics logged after it (dropped on resume)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from odin_core.foundation.files import atomic_write_json, file_digest, write_jsonl
from odin_core.foundation.layout import METRICS_LOG, TRAINER_STATE

_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")
#: written into each checkpoint once it is complete: the digest of every file in it
MANIFEST = "odin-checksums.json"


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


def prune_metrics(run_dir, step: int, log: str = METRICS_LOG) -> int:
    """Drop ``log``'s records after ``step`` (logged after the checkpoint a resume starts from)."""
    records = run_dir.read_jsonl(log)
    kept = [r for r in records if not isinstance(r.get("step"), int) or r["step"] <= step]
    if len(kept) != len(records):
        write_jsonl(run_dir.file(log), kept)
    return len(records) - len(kept)



def complete_checkpoints(folder) -> list[Path]:
    """Checkpoints whose trainer state was written (it comes last), highest step first."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    done = [(int(m.group(1)), p) for p in folder.iterdir()
            if (m := _CHECKPOINT.match(p.name)) and (p / TRAINER_STATE).is_file()]
    return [p for _, p in sorted(done, reverse=True)]


def write_manifest(checkpoint: Path) -> None:
    """Record the digest of every file of a complete checkpoint (a later resume verifies them)."""
    checkpoint = Path(checkpoint)
    if checkpoint.is_dir():
        digests = {str(p.relative_to(checkpoint)): file_digest(p) for p in sorted(checkpoint.rglob("*"))
                   if p.is_file() and p.name != MANIFEST}
        atomic_write_json(checkpoint / MANIFEST, digests)


def damaged_file(checkpoint: Path) -> Path | None:
    """The first file of ``checkpoint`` that is missing or differs from its recorded digest (None: intact,
    or written before checksums were recorded)."""
    try:
        digests = json.loads((Path(checkpoint) / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    for name, digest in digests.items():
        if file_digest(Path(checkpoint) / name) != digest:
            return Path(checkpoint) / name
    return None


def usable_checkpoint(folder, warn=print) -> Path | None:
    """The highest complete checkpoint whose files match their digests; ``warn(message)`` names each
    damaged one skipped (a truncated file falls back to the previous complete checkpoint)."""
    for checkpoint in complete_checkpoints(folder):
        bad = damaged_file(checkpoint)
        if bad is None:
            return checkpoint
        warn(f"warning: {bad} is truncated or altered (it differs from its checksum); skipping {checkpoint.name}")
    return None


def sync_saves_callback():
    """A TrainerCallback for a multi-process run: after a checkpoint, every process waits for the others, so
    each one's files (its RNG state) are written before the main process records the checkpoint's digests."""
    from transformers import TrainerCallback

    from odin_core.runtime.processes import barrier

    class SyncSaves(TrainerCallback):
        def on_save(self, args, state, control, **kwargs):
            barrier()

    return SyncSaves()

