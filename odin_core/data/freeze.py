"""Freezing a recipe's test split as a named evaluation set."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from odin_core.data.build import BUILDER_VERSION, build_dataset
from odin_core.data.frozen import CHECKSUM_FILE, FROZEN_DIR, FROZEN_FILE
from odin_core.errors import RecipeError
from odin_core.files import atomic_write_bytes, atomic_write_text
from odin_core.layout import COLUMNS


def write_frozen_eval_set(recipe, name: str, dest: Path | None = None) -> tuple[Path, dict]:
    """Build the recipe's test split and save it as frozen set ``name``: test.jsonl, SHA256SUMS, recipe.json."""
    if recipe.data.frozen_eval:
        raise RecipeError("a frozen set cannot be made from a recipe that uses one", file=recipe.path,
                          key="data.frozen_eval")
    dataset, report = build_dataset(recipe)
    folder = Path(dest) if dest is not None else FROZEN_DIR / name
    lines = [json.dumps({c: (f"{name}/{row[c]}" if c == "id" else row[c]) for c in COLUMNS},
                        ensure_ascii=False, sort_keys=True) for row in dataset["test"]]
    body = ("\n".join(lines) + "\n").encode("utf-8")
    atomic_write_bytes(folder / FROZEN_FILE, body)
    atomic_write_text(folder / CHECKSUM_FILE, f"{hashlib.sha256(body).hexdigest()}  {FROZEN_FILE}\n")
    info = {"name": name, "recipe": str(recipe.path.name) if recipe.path else None, "seed": recipe.seed,
            "builder_version": BUILDER_VERSION, "examples": len(dataset["test"]), "data": recipe.data.resolved(),
            "dropped": report["dropped"], "tasks": report["tasks"], "encodings": report["encodings"]}
    atomic_write_text(folder / "recipe.json", json.dumps(info, indent=2, ensure_ascii=False) + "\n")
    return folder, report

