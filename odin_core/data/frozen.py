"""Frozen evaluation sets: a test split saved once (JSON lines + SHA256SUMS) and checked on every read."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from odin_core.chat import messages_for
from odin_core.data.examples import features, to_dataset
from odin_core.errors import DataError
from odin_core.layout import COLUMNS
from odin_core.plugins import canonical_name

#: where frozen evaluation sets live (``data/<name>/``)
FROZEN_DIR = Path(__file__).resolve().parent.parent.parent / "data"
FROZEN_FILE = "test.jsonl"
CHECKSUM_FILE = "SHA256SUMS"


def frozen_dir(name: str) -> Path:
    candidate = Path(name).expanduser()
    if candidate.is_dir():
        return candidate
    path = FROZEN_DIR / name
    if not path.is_dir():
        known = sorted(p.name for p in FROZEN_DIR.iterdir() if (p / CHECKSUM_FILE).exists()) if FROZEN_DIR.is_dir() else []
        raise DataError(f"no frozen evaluation set {name!r}; expected a folder data/{name}/ "
                        f"(known: {', '.join(known) or 'none'})", file=path)
    return path


def frozen_eval_set(name: str):
    """A frozen evaluation set (``data/<name>/test.jsonl``) as a ``datasets.Dataset``, checksum verified."""
    from datasets import Dataset

    folder = frozen_dir(name)
    sums_path = folder / CHECKSUM_FILE
    if not sums_path.exists():
        raise DataError(f"has no {CHECKSUM_FILE}; a frozen set must carry its checksum", file=folder)
    expected = {}
    for lineno, line in enumerate(sums_path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            parts = line.split()
            if len(parts) != 2:
                raise DataError("expected '<sha256>  <file>' lines", file=sums_path, line=lineno)
            expected[parts[1].lstrip("*")] = parts[0]
    if FROZEN_FILE not in expected:
        raise DataError(f"does not list {FROZEN_FILE}", file=sums_path)
    data_path = folder / FROZEN_FILE
    raw = data_path.read_bytes() if data_path.exists() else None
    if raw is None:
        raise DataError("is missing", file=data_path)
    actual = hashlib.sha256(raw).hexdigest()
    if actual != expected[FROZEN_FILE]:
        raise DataError(f"checksum mismatch: {CHECKSUM_FILE} says {expected[FROZEN_FILE][:12]}…, the file hashes to "
                        f"{actual[:12]}…; the frozen set was modified", file=data_path)
    rows = []
    for lineno, line in enumerate(raw.decode("utf-8").splitlines(), start=1):
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"malformed JSON line: {exc.msg}", file=data_path, line=lineno) from None
        row["task"] = canonical_name("task", row["task"])  # sets frozen under a task's earlier name
        rows.append(row)
    return Dataset.from_dict({c: [r[c] for r in rows] for c in COLUMNS}, features=features(False))


def frozen_with_columns(frozen, chat: bool):
    if not chat:
        return frozen
    return to_dataset([{**row, "messages": messages_for(row["prompt"], row["completion"])} for row in frozen],
                      chat=True)
