"""The worst failures of a model, for the report: taken in turn from the tasks with the lowest accuracy."""

from __future__ import annotations

from pathlib import Path

from odin_core.foundation.files import read_jsonl
from odin_core.foundation.layout import predictions_file

#: failures listed in a report, at most
WORST_FAILURES = 10
#: prompt characters shown per failure
PROMPT_CHARS = 1500


def _severity(record: dict) -> float:
    """How wrong a failed prediction is, for ordering failures within a task (format errors first)."""
    if record.get("format_error"):
        return 10.0
    kind, parsed, gold = record.get("answer_kind"), record.get("parsed"), record.get("answer")
    if kind in ("count", "path_length"):
        if parsed is None or gold is None:
            return 1.0
        return min(5.0, abs(parsed - gold) / max(1, abs(gold)))
    if kind == "vertex_set":
        pred, truth = set(parsed or ()), set(gold or ())
        union = pred | truth
        return 1.0 - (len(pred & truth) / len(union) if union else 1.0)
    if kind == "yes_no" and isinstance(record.get("score"), (int, float)):
        return min(5.0, abs(record["score"]))
    return 1.0


def worst_failures(predictions: list[dict], limit: int = WORST_FAILURES) -> list[dict]:
    """The worst wrong predictions, taken in turn from the tasks with the lowest accuracy first."""
    by_task: dict[str, list[dict]] = {}
    totals: dict[str, list[int]] = {}
    for record in predictions:
        task = record.get("task", "?")
        totals.setdefault(task, [0, 0])
        totals[task][0] += 1
        totals[task][1] += bool(record.get("correct"))
        if not record.get("correct"):
            by_task.setdefault(task, []).append(record)
    for records in by_task.values():
        records.sort(key=_severity, reverse=True)
    order = sorted(by_task, key=lambda t: (totals[t][1] / totals[t][0], t))
    chosen, depth = [], 0
    while len(chosen) < limit and any(depth < len(by_task[t]) for t in order):
        for task in order:
            if depth < len(by_task[task]) and len(chosen) < limit:
                chosen.append(by_task[task][depth])
        depth += 1
    return chosen


def _fence(text: str) -> str:
    text = text if len(text) <= PROMPT_CHARS else text[:PROMPT_CHARS] + f"\n… ({len(text) - PROMPT_CHARS} more characters)"
    return "```text\n" + text.replace("```", "ʼʼʼ") + "\n```"


def _inline(text) -> str:
    text = str(text).strip().replace("\n", " ⏎ ").replace("`", "ʼ")
    return f"`{text}`" if text else "(nothing)"



def failures_section(run_path: Path) -> list[str]:
    stage = "trained" if (run_path / predictions_file("trained")).exists() else "base"
    predictions = read_jsonl(run_path / predictions_file(stage))
    if not predictions:
        return []
    failures = worst_failures(predictions)
    lines = [f"## Worst failures ({stage} model)", ""]
    if not failures:
        return lines + ["No failures: every prediction was correct.", ""]
    lines += [f"Taken in turn from the tasks with the lowest accuracy; format errors first. All predictions: "
              f"`predictions-{stage}.jsonl`.", ""]
    for k, record in enumerate(failures, 1):
        tag = " — format error" if record.get("format_error") else ""
        lines += [f"### {k}. {record.get('task')} ({record.get('encoding')}){tag}", "",
                  f"- expected: {_inline(record.get('expected'))}",
                  f"- predicted: {_inline(record.get('generated'))}"]
        if isinstance(record.get("score"), (int, float)):
            lines.append(f"- score log P(Yes) − log P(No): {record['score']:.3f}")
        lines += ["", _fence(record.get("prompt", "")), ""]
    return lines

