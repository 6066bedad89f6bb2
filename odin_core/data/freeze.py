"""Freezing a recipe's test split, and its extra splits (``[data.extra_splits.NAME]``), as a named evaluation set."""

from __future__ import annotations

import hashlib
import json
import statistics
from collections import Counter
from pathlib import Path

from odin_core.data.build import BUILDER_VERSION, build_dataset
from odin_core.data.frozen import CHECKSUM_FILE, FROZEN_DIR, FROZEN_FILE, INFO_FILE
from odin_core.data.relabel import pair_rows, rename_vertices
from odin_core.foundation.errors import RecipeError
from odin_core.foundation.files import atomic_write_bytes, atomic_write_text
from odin_core.foundation.layout import COLUMNS


def prompt_token_summary(metas) -> dict:
    """min, median, mean and max of the rows' approximate prompt tokens (``meta.prompt_tokens``)."""
    tokens = [json.loads(m).get("prompt_tokens") for m in metas]
    tokens = [t for t in tokens if isinstance(t, int)]
    if not tokens:
        return {}
    return {"min": min(tokens), "median": statistics.median(tokens), "mean": round(statistics.fmean(tokens), 1),
            "max": max(tokens)}


def _vertex_counts(generators) -> dict:
    counts = [json.loads(g).get("n") for g in generators]
    counts = [n for n in counts if isinstance(n, int)]
    return {"min": min(counts), "max": max(counts)} if counts else {}


def split_recipe(recipe, name: str):
    """The recipe that builds extra split ``name``: the main data section with the split's keys overridden."""
    extra = recipe.data.extra_splits[name]
    updates = {"extra_splits": {}}
    if extra.sources is not None:
        updates["sources"] = extra.sources
    if extra.max_prompt_tokens is not None:
        updates["max_prompt_tokens"] = extra.max_prompt_tokens
    if extra.num_examples is not None:
        updates["num_examples"] = recipe.data.num_examples.model_copy(update={"test": extra.num_examples})
    return recipe.model_copy(update={"data": recipe.data.model_copy(update=updates)}).located_at(recipe.path)


def build_extra_split(recipe, name: str, test_rows=None) -> tuple[list[dict], dict]:
    """(rows, info) of extra split ``name``. A split that renames vertices of the main sources keeps only rows
    that pair with a test row (``test_rows``: the main build's) and records ``pairs_with = "test"``."""
    extra = recipe.data.extra_splits[name]
    sub = split_recipe(recipe, name)
    transform = None
    pairs = extra.vertex_names != "keep" and extra.sources is None and test_rows is not None
    if extra.vertex_names != "keep":
        transform = lambda graphs: rename_vertices(graphs, extra.vertex_names, recipe.seed)  # noqa: E731
    # a split pairing with the test split keeps its pool unfiltered: its rows are those of the filtered test split
    dataset, report = build_dataset(sub, transform=transform, adversarial=not pairs)
    rows = list(dataset["test"])
    if pairs:
        kept = {row["id"] for row in test_rows}
        rows = [row for row in rows if row["id"] in kept]
    info = {"description": extra.description, "vertex_names": extra.vertex_names,
            "sources": "main" if extra.sources is None else [e.resolved() for e in extra.sources],
            "max_prompt_tokens": sub.data.max_prompt_tokens, "requested": sub.data.num_examples.test,
            "dropped": report["dropped"], "pairs_with": None}
    if pairs:
        rows, left_out = pair_rows(test_rows, rows, extra.vertex_names)
        rows, left_out["unbalanced"] = balanced_yes_no(rows)
        info.update(pairs_with="test", left_out=left_out)
    return rows, info


def balanced_yes_no(rows: list[dict]) -> tuple[list[dict], int]:
    """(``rows`` with as many "Yes" as "No" rows in each yes/no task, the first ones kept; how many were left out)."""
    counts: dict[str, Counter] = {}
    for row in rows:
        if row["answer_kind"] == "yes_no":
            counts.setdefault(row["task"], Counter())[row["answer"]] += 1
    room = {task: {label: min(c.values()) if len(c) == 2 else 0 for label in c} for task, c in counts.items()}
    kept = []
    for row in rows:
        if row["answer_kind"] == "yes_no":
            if room[row["task"]][row["answer"]] == 0:
                continue
            room[row["task"]][row["answer"]] -= 1
        kept.append(row)
    return kept, len(rows) - len(kept)


def _body(rows, prefix: str) -> bytes:
    lines = [json.dumps({c: (f"{prefix}/{row[c]}" if c == "id" else row[c]) for c in COLUMNS},
                        ensure_ascii=False, sort_keys=True) for row in rows]
    return ("\n".join(lines) + "\n").encode("utf-8") if lines else b""


def write_frozen_eval_set(recipe, name: str, dest: Path | None = None) -> tuple[Path, dict]:
    """Build the recipe's test split and extra splits and save them as frozen set ``name``: test.jsonl,
    <split>.jsonl per extra split, SHA256SUMS listing every file, recipe.json describing each split."""
    if recipe.data.frozen_eval:
        raise RecipeError("a frozen set cannot be made from a recipe that uses one", file=recipe.path,
                          key="data.frozen_eval")
    dataset, report = build_dataset(recipe)  # the main build ignores data.extra_splits
    folder = Path(dest) if dest is not None else FROZEN_DIR / name
    test_rows = list(dataset["test"])
    bodies = {FROZEN_FILE: _body(test_rows, name)}
    splits = {"test": {"file": FROZEN_FILE, "examples": len(test_rows),
                       "prompt_tokens": prompt_token_summary(r["meta"] for r in test_rows),
                       "vertices": _vertex_counts(r["generator"] for r in test_rows)}}
    for split in recipe.data.extra_splits:
        rows, info = build_extra_split(recipe, split, test_rows)
        bodies[f"{split}.jsonl"] = _body(rows, f"{name}/{split}")  # SET/relabelled/test-N pairs with SET/test-N
        splits[split] = {"file": f"{split}.jsonl", "examples": len(rows), **info,
                         "prompt_tokens": prompt_token_summary(r["meta"] for r in rows),
                         "vertices": _vertex_counts(r["generator"] for r in rows)}
    for file_name, body in bodies.items():
        atomic_write_bytes(folder / file_name, body)
    atomic_write_text(folder / CHECKSUM_FILE, "".join(f"{hashlib.sha256(body).hexdigest()}  {file_name}\n"
                                                     for file_name, body in bodies.items()))
    info = {"name": name, "recipe": str(recipe.path.name) if recipe.path else None, "seed": recipe.seed,
            "builder_version": BUILDER_VERSION, "examples": len(test_rows), "data": recipe.data.resolved(),
            "dropped": report["dropped"], "tasks": report["tasks"], "encodings": report["encodings"]}
    if recipe.data.extra_splits:
        info["splits"] = splits
    atomic_write_text(folder / INFO_FILE, json.dumps(info, indent=2, ensure_ascii=False) + "\n")
    report["splits"] = {split: entry["examples"] for split, entry in splits.items()}
    return folder, report
