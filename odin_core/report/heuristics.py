"""The heuristic-baseline column and flags of report.md (tables from ``odin_core.questions.heuristics``)."""

from __future__ import annotations

from odin_core.questions.heuristics import best_rule_text, flag_explanation

HEADER = "best heuristic"


def _table(record) -> dict | None:
    table = (record or {}).get("heuristics") if isinstance(record, dict) else None
    return table if isinstance(table, dict) and isinstance(table.get("tasks"), dict) else None


def heuristic_header(record) -> list[str]:
    """``["best heuristic"]`` when ``record`` (metrics.json, or an ``odin eval`` record) has a table, else ``[]``."""
    return [HEADER] if _table(record) is not None else []


def heuristic_cells(record, task: str) -> list[str]:
    """The task's best rule and its accuracy (``⚠`` when flagged), as one cell; ``[]`` without a table."""
    table = _table(record)
    if table is None:
        return []
    entry = table["tasks"].get(task)
    text = best_rule_text(entry)
    return [text + " ⚠" if (entry or {}).get("flagged") else text]


def heuristic_note(record) -> list[str]:
    """Lines under a per-task table: what the column means and which tasks are flagged."""
    table = _table(record)
    if table is None:
        return []
    lines = ["best heuristic: the shallow rule the task's rows record (in their meta) that answers the most of "
             f"them correctly, and its accuracy on the {table.get('split') or 'evaluated'} rows; – : no rules."]
    explanation = flag_explanation(table)
    if explanation:
        lines.append(explanation + " A model's accuracy on a flagged task may come from the rule.")
    return [" ".join(lines), ""]
