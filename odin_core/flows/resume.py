"""What ``odin run --resume`` continues, and what it refuses: another recipe's run, a folder that is no run
directory, and (unless asked) settings that differ from the ones the first steps trained with."""

from __future__ import annotations

import math
import re
import time
import tomllib
from pathlib import Path

from odin_core.foundation import files
from odin_core.foundation.errors import DataError, RecipeError
from odin_core.foundation.layout import ENVIRONMENT_FILE, METRICS_FILE, RECIPE_FILE, RESUMES_LOG
from odin_core.recipe import RENAMED_SECTIONS, run_form
from odin_core.recipe.schema import flat_keys
from odin_core.runtime import processes
from odin_core.runtime.rundir import is_run_dir

#: the timestamp ``RunDir.create`` appends to a recipe's name (and its collision suffix)
STAMP = r"\d{8}-\d{6}(?:-\d+)?"

#: resolved-recipe keys (dotted prefixes) whose change leaves the trained weights as they were
HARMLESS = ("description", "output_dir", "generation", "eval", "tracking", "data.num_proc", "data.cache_dir",
            "training.logging_steps", "training.save_steps", "training.save_total_limit", "training.eval_steps",
            "training.eval_schedule", "training.device")

#: at most this many changed keys are listed in an error
MAX_LISTED = 12


def recorded_recipe(path: Path) -> dict:
    """The resolved recipe a run directory recorded, as plain data ({} when it cannot be read); sections of an
    earlier release under today's names (a run recorded with ``[lora]`` resumes under ``[finetune]``)."""
    try:
        data = tomllib.loads((Path(path) / RECIPE_FILE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return {}
    for old, new in RENAMED_SECTIONS.items():
        if old in data and new not in data:
            data[new] = data.pop(old)
    return data


def find_resume_dir(recipe, resume: str, output_dir) -> Path:
    """The run directory ``--resume`` continues: the one given, or this recipe's latest run.

    The latest run is one whose folder name is exactly ``<recipe name>-<timestamp>`` and whose
    recorded recipe has this recipe's name: a run of recipe ``pre-x`` is never a run of ``pre``."""
    if resume != "latest":
        path = Path(resume)
        if not path.is_dir():
            raise RecipeError(f"--resume {resume!r}: no such run directory")
        if not is_run_dir(path):
            raise RecipeError(f"--resume {resume!r}: not a run directory (no {RECIPE_FILE}); refusing to write into it")
        return path
    base = Path(output_dir or recipe.output_dir)
    pattern = re.compile(rf"^{re.escape(recipe.name)}-{STAMP}$")
    candidates = [p for p in base.iterdir() if p.is_dir() and pattern.match(p.name) and is_run_dir(p)
                  and recorded_recipe(p).get("name") == recipe.name] if base.is_dir() else []
    if not candidates:
        raise RecipeError(f"--resume: no earlier run of {recipe.name!r} under {base}/")
    return max(candidates, key=lambda p: p.stat().st_mtime)


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, (int, float)) and not isinstance(b, bool):
        return math.isclose(a, b, rel_tol=1e-12, abs_tol=0.0)
    return a == b


def recipe_changes(recorded: dict, recipe) -> dict[str, tuple]:
    """``{dotted key: (recorded value, new value)}`` of the settings that change what training does."""
    current = tomllib.loads(files.to_toml(run_form(recipe)))  # the same normal form recipe.toml has
    old, new = flat_keys(recorded), flat_keys(current)
    changed = {}
    for key in sorted(set(old) | set(new)):
        if any(key == h or key.startswith(h + ".") for h in HARMLESS):
            continue
        if not _same(old.get(key), new.get(key)):
            changed[key] = (old.get(key), new.get(key))
    return changed


def check_resume(run_dir, recipe, allow_changes: bool = False) -> dict:
    """Refuse to resume ``run_dir`` with settings that alter training (or under another recipe name), unless
    ``allow_changes``. Returns the changes; ``record_changes`` writes them into the run."""
    recorded = recorded_recipe(run_dir.path)
    if not recorded:
        raise RecipeError(f"cannot read the run's {RECIPE_FILE}; refusing to resume into it", file=run_dir.path)
    changes = recipe_changes(recorded, recipe)
    # the number of processes sets the global batch: odin run --num-processes N (1 in runs older than the option)
    try:
        started = (run_dir.read_json(ENVIRONMENT_FILE) or {}).get("processes", 1)
    except DataError:  # a damaged environment record does not block a resume
        started = processes.current().world_size
    if started != processes.current().world_size:
        changes["--num-processes"] = (started, processes.current().world_size)
    if changes and not allow_changes:
        listed = _listed(changes)
        raise RecipeError("resuming with settings that differ from the ones the run trained with:\n  "
                          + "\n  ".join(listed) + "\nresume with the run's own settings, start a new run, or pass "
                          "--allow-changes to continue anyway (the changes are recorded in the run directory)",
                          file=run_dir.path / RECIPE_FILE)
    return changes


def _listed(changes: dict) -> list[str]:
    listed = [f"{key}: {old!r} in the run, {new!r} now" for key, (old, new) in list(changes.items())[:MAX_LISTED]]
    if len(changes) > MAX_LISTED:
        listed.append(f"... and {len(changes) - MAX_LISTED} more")
    return listed


def record_changes(run_dir, recipe, changes: dict) -> None:
    """Write the changes a resume allowed (``--allow-changes``) into ``resumes.jsonl`` and ``odin.log``."""
    if not changes:
        return
    record = {"time": time.strftime("%Y-%m-%d %H:%M:%S"), "recipe": str(recipe.path),
              "changes": {key: {"run": old, "now": new} for key, (old, new) in changes.items()}}
    run_dir.append_jsonl(RESUMES_LOG, record)
    run_dir.log("resumed with changed settings (--allow-changes): " + "; ".join(_listed(changes)))


def finished_metrics(run_dir, recipe) -> dict | None:
    """The metrics of a run that already completed (its ``metrics.json`` is written last) and that ``recipe``
    would not train further (``training.max_steps`` not raised past the steps it trained); else None."""
    try:
        metrics = run_dir.read_json(METRICS_FILE)
    except DataError:
        return None
    training = (metrics or {}).get("training")
    if not isinstance(training, dict):
        return None
    steps = training.get("steps")
    if recipe.training.max_steps > 0 and isinstance(steps, int) and recipe.training.max_steps > steps:
        return None
    return metrics
