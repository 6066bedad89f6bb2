"""Heuristic baselines: how well shallow rules answer a split, per task, from the rows alone.

A task may record in each question's ``meta["heuristics"]`` what shallow rules
would answer: ``{rule name: structured answer}``, the answer in the same form as
the row's ``answer`` (bool for yes_no, list of vertex names for vertex_set, int
for count, int or None for path_length, str for label). ``heuristic_table``
scores every rule against the gold answers exactly as the evaluators compare
answers (vertex sets as sets, labels without regard to case or spacing).

Per task, a rule is scored on the task's rows that carry a ``heuristics`` dict;
a row whose dict lacks the rule (the rule does not apply), or gives a value of
the wrong type, counts as not answered correctly. Rows without the dict (tasks
without rules, older datasets) are left out. The best rule is the one with the
most correct answers, ties going to the alphabetically first name. A task is
*flagged* when its best rule does better than ``CHOICE_THRESHOLD`` (yes/no and
label tasks) or ``EXACT_THRESHOLD`` (vertex-set, count and path-length tasks) by
the whole of its Wilson 95% interval (so one lucky row of nine is not a flag):
its questions can then largely be answered without the reasoning they are meant
to measure.
"""

from __future__ import annotations

from collections import defaultdict

from odin_core.foundation.records import decode
from odin_core.foundation.stats import format_interval, wilson_interval
from odin_core.questions.answers import FORMAT_ERROR, is_correct

#: the ``meta`` key holding a row's rule answers
HEURISTICS_KEY = "heuristics"
#: yes/no and label tasks are flagged when the best rule's accuracy is above this (strictly): a rule that
#: clearly beats chance on a balanced two-way question
CHOICE_THRESHOLD = 0.65
#: vertex-set, count and path-length tasks are flagged when the best rule answers more than this fraction of
#: rows exactly (strictly): an open answer that a rule hits this often is a shortcut
EXACT_THRESHOLD = 0.05
#: answer kinds judged by ``CHOICE_THRESHOLD``; every other kind by ``EXACT_THRESHOLD``
CHOICE_KINDS = ("yes_no", "label")


def threshold_for(kind: str) -> float:
    """The accuracy a task's best rule must exceed for the task to be flagged."""
    return CHOICE_THRESHOLD if kind in CHOICE_KINDS else EXACT_THRESHOLD


def rule_value(kind: str, value):
    """A rule's answer in the form ``parse_answer`` returns, or ``FORMAT_ERROR`` when it has the wrong type."""
    if kind == "yes_no":
        return value if isinstance(value, bool) else FORMAT_ERROR
    if kind == "count":
        return value if type(value) is int else FORMAT_ERROR
    if kind == "path_length":
        return value if value is None or type(value) is int else FORMAT_ERROR
    if kind == "vertex_set":
        if isinstance(value, (list, tuple, set, frozenset)):
            return {str(v) for v in value}
        return FORMAT_ERROR
    if kind == "label":
        return value if isinstance(value, str) else FORMAT_ERROR
    return FORMAT_ERROR


def rule_correct(kind: str, value, answer) -> bool:
    """Whether a rule's structured answer equals the gold ``answer`` (as the evaluators compare answers)."""
    try:
        return is_correct(kind, rule_value(kind, value), answer)
    except (TypeError, ValueError):  # a gold answer that cannot be read: nothing matches it
        return False


def _score(correct: int, n: int) -> dict:
    return {"correct": correct, "n": n, "accuracy": correct / n if n else None,
            "ci95": list(wilson_interval(correct, n))}


def _task_entry(kind: str, rows: int, scored: list[tuple[dict, object]]) -> dict:
    """One task's table entry from its (rule answers, gold answer) pairs."""
    n = len(scored)
    names = sorted({name for rules, _ in scored for name in rules})
    entry = {"answer_kind": kind, "rows": rows, "n": n, "threshold": threshold_for(kind), "rules": {},
             "best": None, "flagged": False}
    for name in names:
        answered = sum(1 for rules, _ in scored if name in rules)
        correct = sum(1 for rules, gold in scored if name in rules and rule_correct(kind, rules[name], gold))
        entry["rules"][name] = _score(correct, n) | {"answered": answered}
    if names:
        top = max(entry["rules"][name]["correct"] for name in names)
        leaders = [name for name in names if entry["rules"][name]["correct"] == top]
        best = entry["rules"][leaders[0]]
        entry["best"] = {"rule": leaders[0], "accuracy": best["accuracy"], "correct": best["correct"], "n": n,
                         "ci95": best["ci95"], "tied": leaders[1:]}
        # on the interval, not the point: the lower bound must clear the threshold
        entry["flagged"] = best["accuracy"] is not None and best["ci95"][0] > entry["threshold"]
    return entry


def heuristic_table(rows, split: str | None = None) -> dict:
    """Per task, each rule's accuracy (correct, n, Wilson 95% interval), the best rule and whether it is flagged.

    ``rows``: dicts with the dataset columns ``task``, ``answer_kind``, ``answer``
    and ``meta`` (JSON strings, or already decoded). Returns::

        {"split": split, "thresholds": {"yes_no": .65, "label": .65, "vertex_set": .05, ...},
         "rows": all rows, "rows_with_rules": rows carrying rules,
         "tasks": {task: {"answer_kind", "rows", "n" (rows with rules), "threshold",
                          "rules": {rule: {"correct", "n", "accuracy", "ci95", "answered"}},
                          "best": {"rule", "accuracy", "correct", "n", "ci95", "tied"} or None,
                          "flagged"}},
         "tasks_with_rules": count, "flagged": [task, ...]}

    Every task of ``rows`` has an entry; one without rules has ``n`` 0 and ``best`` None.
    """
    kinds: dict[str, str] = {}
    counts: dict[str, int] = defaultdict(int)
    scored: dict[str, list] = defaultdict(list)
    total = 0
    for row in rows:
        total += 1
        task = row.get("task") or "unknown"
        kinds.setdefault(task, row.get("answer_kind") or "")
        counts[task] += 1
        meta = decode(row.get("meta"), {})
        rules = meta.get(HEURISTICS_KEY) if isinstance(meta, dict) else None
        if isinstance(rules, dict):
            scored[task].append((rules, decode(row.get("answer"))))
    tasks = {task: _task_entry(kinds[task], counts[task], scored[task]) for task in sorted(counts)}
    table = {"split": split} if split is not None else {}
    return table | {
        "thresholds": {kind: threshold_for(kind) for kind in ("yes_no", "label", "vertex_set", "count", "path_length")},
        "rows": total,
        "rows_with_rules": sum(entry["n"] for entry in tasks.values()),
        "tasks": tasks,
        "tasks_with_rules": sum(1 for entry in tasks.values() if entry["best"] is not None),
        "flagged": [task for task, entry in tasks.items() if entry["flagged"]],
    }


def best_rule_text(entry: dict | None) -> str:
    """``"pairwise_cover 82.0%"`` for a task entry of ``heuristic_table``; ``"–"`` when it has no rules."""
    best = (entry or {}).get("best")
    if not best or best.get("accuracy") is None:
        return "–"
    return f"{best['rule']} {100 * best['accuracy']:.1f}%"


def flag_explanation(table: dict) -> str | None:
    """One sentence naming the flagged tasks of a ``heuristic_table``, their rules and the thresholds; None if none."""
    flagged = [task for task in (table or {}).get("flagged") or () if task in table.get("tasks", {})]
    if not flagged:
        return None
    thresholds = table.get("thresholds") or {}
    choice = thresholds.get("yes_no", CHOICE_THRESHOLD)
    exact = thresholds.get("vertex_set", EXACT_THRESHOLD)
    named = "; ".join(f"{task} ({best_rule_text(table['tasks'][task])})" for task in flagged)
    return (f"⚠ flagged: a shallow rule answers {len(flagged)} task(s) without the reasoning they are meant to "
            f"measure: {named}. A task is flagged when the 95% interval of its best rule's accuracy lies above "
            f"{100 * choice:.0f}% (yes/no and label tasks) or above {100 * exact:.0f}% exactly right (vertex-set, "
            "count and path-length tasks).")


def table_lines(table: dict, indent: str = "  ") -> list[str]:
    """Plain-text lines of a ``heuristic_table``: a summary, then per task with rules its best rule, the
    rule's 95% interval, ``⚠`` when flagged, and the other rules."""
    tasks = {task: entry for task, entry in (table.get("tasks") or {}).items() if entry.get("best")}
    if not tasks:
        return [f"{indent}heuristic rules: none (no row records rules in its meta)"]
    thresholds = table.get("thresholds") or {}
    lines = [f"{indent}heuristic rules: {len(table.get('flagged') or [])} of {len(tasks)} tasks with rules flagged ⚠ "
             f"(the 95% interval of the best rule's accuracy above {100 * thresholds.get('yes_no', CHOICE_THRESHOLD):.0f}% "
             f"on yes/no and label rows, above {100 * thresholds.get('vertex_set', EXACT_THRESHOLD):.0f}% exactly "
             "right on other rows)"]
    width = max(len(task) for task in tasks)
    for task, entry in tasks.items():
        best = entry["best"]
        low, high = best["ci95"]
        others = ", ".join(f"{name} {100 * rule['accuracy']:.1f}%" for name, rule in entry["rules"].items()
                           if name != best["rule"])
        line = f"{indent}  {task:<{width}}  {best_rule_text(entry):<28} {format_interval(low, high)} of {entry['n']}"
        lines.append(line + ("  ⚠" if entry["flagged"] else "") + (f"  (also {others})" if others else ""))
    return lines


__all__ = ["HEURISTICS_KEY", "CHOICE_THRESHOLD", "EXACT_THRESHOLD", "CHOICE_KINDS", "threshold_for", "rule_value",
           "rule_correct", "heuristic_table", "best_rule_text", "flag_explanation", "table_lines"]
