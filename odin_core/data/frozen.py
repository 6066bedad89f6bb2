"""Frozen evaluation sets: a test split, and extra splits, saved once (JSON lines + SHA256SUMS) and checked on
every read."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from odin_core.components.plugins import canonical_name
from odin_core.data.examples import features, to_dataset
from odin_core.foundation.errors import DataError
from odin_core.foundation.layout import COLUMNS
from odin_core.runtime.chat import messages_for

#: where frozen evaluation sets live (``data/<name>/``)
FROZEN_DIR = Path(__file__).resolve().parent.parent.parent / "data"
FROZEN_FILE = "test.jsonl"
CHECKSUM_FILE = "SHA256SUMS"
INFO_FILE = "recipe.json"


def frozen_dir(name: str) -> Path:
    candidate = Path(name).expanduser()
    if candidate.is_dir():
        return candidate
    if candidate.is_absolute() or len(candidate.parts) > 1:  # a path, not a set's name
        raise DataError("is no folder; expected a frozen evaluation set's folder (or a set's name under data/)",
                        file=candidate)
    path = FROZEN_DIR / name
    if not path.is_dir():
        known = sorted(p.name for p in FROZEN_DIR.iterdir() if (p / CHECKSUM_FILE).exists()) if FROZEN_DIR.is_dir() else []
        raise DataError(f"no frozen evaluation set {name!r}; expected a folder data/{name}/ "
                        f"(known: {', '.join(known) or 'none'})", file=path)
    return path


def _checksums(folder: Path) -> dict[str, str]:
    """{file name: sha256} from a frozen set's SHA256SUMS, in file order."""
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
    return expected


def frozen_splits(name: str) -> list[str]:
    """The splits of a frozen set: ``test`` first, then its extra splits (every ``<split>.jsonl`` in SHA256SUMS)."""
    listed = [f[: -len(".jsonl")] for f in _checksums(frozen_dir(name)) if f.endswith(".jsonl")]
    return ["test"] + [s for s in listed if s != "test"]


def frozen_info(name: str) -> dict:
    """A frozen set's ``recipe.json`` (how it was made, what each split holds), or {} when it has none."""
    path = frozen_dir(name) / INFO_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def frozen_eval_set(name: str, split: str = "test"):
    """Split ``split`` of a frozen evaluation set (``data/<name>/<split>.jsonl``) as a ``datasets.Dataset``,
    checksum verified; ``test`` is the set's test split, any other name one of its extra splits."""
    from datasets import Dataset

    folder = frozen_dir(name)
    expected = _checksums(folder)
    file_name = f"{split}.jsonl"
    if file_name not in expected:
        known = frozen_splits(name)
        raise DataError(f"frozen set {folder.name!r} has no split {split!r} (it has: {', '.join(known)})",
                        file=folder / CHECKSUM_FILE)
    data_path = folder / file_name
    raw = data_path.read_bytes() if data_path.exists() else None
    if raw is None:
        raise DataError("is missing", file=data_path)
    actual = hashlib.sha256(raw).hexdigest()
    if actual != expected[file_name]:
        raise DataError(f"checksum mismatch: {CHECKSUM_FILE} says {expected[file_name][:12]}…, the file hashes to "
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


def frozen_graph_keys(name: str) -> frozenset:
    """The isomorphism keys (``graph_key``) of the hypergraphs of every split of a frozen set: kept out of training."""
    keys = set()
    for split in frozen_splits(name):
        keys.update(json.loads(m).get("graph_key") for m in frozen_eval_set(name, split)["meta"])
    return frozenset(keys)


def frozen_with_columns(frozen, chat: bool):
    if not chat:
        return frozen
    return to_dataset([{**row, "messages": messages_for(row["prompt"], row["completion"])} for row in frozen],
                      chat=True)
