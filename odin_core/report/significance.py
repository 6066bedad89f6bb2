"""Paired comparisons on the same rows: exact McNemar tests overall and per task, Holm-corrected across tasks.

Outcomes come from the ``predictions-<stage>.jsonl`` files evaluation writes: each
record has a ``row_key`` (row id plus a hash of prompt and answer), its ``task`` and
whether it was ``correct``. Two stages (or two runs) are compared only on identical rows.
"""

from __future__ import annotations

from pathlib import Path

from odin_core.foundation.errors import DataError
from odin_core.foundation.files import read_jsonl
from odin_core.foundation.stats import holm, paired_outcomes, significance_marker

ALPHA = 0.05


def load_outcomes(path: Path) -> dict[str, tuple[str, bool]]:
    """{row key: (task, correct)} from a predictions file ({} when it is missing or has no row keys)."""
    outcomes = {}
    for record in read_jsonl(path):
        key = record.get("row_key")
        if key is None:
            return {}
        outcomes[key] = (record.get("task", "?"), bool(record.get("correct")))
    return outcomes


def paired_test(a: dict[str, tuple[str, bool]], b: dict[str, tuple[str, bool]], what: str = "",
                shared_rows: bool = False) -> dict:
    """McNemar tests of ``a`` against ``b`` (same rows): overall, and per task with Holm-adjusted p-values.

    Returns {"overall": {...}, "per_task": {task: {..., "p_adjusted", "marker"}}}, each entry as
    ``odin_core.foundation.stats.paired_outcomes`` gives it (difference = accuracy of a minus b).
    ``shared_rows``: test on the rows both have (a stage that skipped rows), instead of refusing."""
    if shared_rows:
        keys = set(a) & set(b)
        a, b = {k: a[k] for k in keys}, {k: b[k] for k in keys}
    if set(a) != set(b):
        only_a, only_b = len(set(a) - set(b)), len(set(b) - set(a))
        raise DataError(f"{what + ': ' if what else ''}the two were evaluated on different rows ({only_a} rows only "
                        f"in the first, {only_b} only in the second); paired tests need the same rows")
    overall = paired_outcomes({k: v[1] for k, v in a.items()}, {k: v[1] for k, v in b.items()})
    overall["marker"] = significance_marker(overall["p_value"], ALPHA)
    tasks = sorted({task for task, _ in a.values()})
    per_task = {}
    for task in tasks:
        keys = [k for k, (t, _) in a.items() if t == task]
        per_task[task] = paired_outcomes({k: a[k][1] for k in keys}, {k: b[k][1] for k in keys})
    adjusted = holm({task: entry["p_value"] for task, entry in per_task.items()})
    for task, entry in per_task.items():
        entry["p_adjusted"] = adjusted[task]
        entry["marker"] = significance_marker(adjusted[task], ALPHA)
    return {"overall": overall, "per_task": per_task}


def stage_comparisons(run_dir: Path, pairs: list[tuple[str, str, str]]) -> dict[str, dict]:
    """{label: paired_test} for each (label, stage file A, stage file B) whose prediction files both exist."""
    results = {}
    for label, file_a, file_b in pairs:
        a, b = load_outcomes(run_dir / file_a), load_outcomes(run_dir / file_b)
        if a and b and (set(a) <= set(b) or set(b) <= set(a)):  # a prompted stage may skip over-long rows
            results[label] = paired_test(a, b, shared_rows=True)
    return results
