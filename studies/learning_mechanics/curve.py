"""The learning curve of a run, from the answers it generated during training.

    python studies/learning_mechanics/curve.py RUN_DIR_OR_EVIDENCE_DIR

Reads ``training_predictions/predictions-step-*.jsonl[.gz]`` (written at every ``training.eval_steps`` when
``training.eval_accuracy_examples`` is set) and prints, per evaluation step, the examples seen so far and the
accuracy per task, plus how often the trace's first name is the one the question asks about (the copy step
every lookup starts with). ``tests/test_study_evidence.py`` checks the README's curve table against this.
"""

from __future__ import annotations

import gzip
import json
import re
import sys
from collections import defaultdict
from pathlib import Path

STEP = re.compile(r"predictions-step-(\d+)\.jsonl(\.gz)?$")
NAME = re.compile(r"\b[ve]\d+\b")


def read_rows(path: Path) -> list[dict]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def asked_names(prompt: str) -> list[str]:
    """The vertex and hyperedge names in the question (the prompt's last paragraph)."""
    return NAME.findall(prompt.rsplit("\n\n", 1)[-1])


def copied(row: dict) -> bool:
    """Whether the generated trace starts with a name the question asks about."""
    first = NAME.findall(row["generated"])
    return bool(first) and first[0] in asked_names(row["prompt"])


def curve(folder: Path) -> list[dict]:
    """One record per evaluation step: step, accuracy per task and overall, copy rate."""
    files = sorted((int(m.group(1)), p) for p in (folder / "training_predictions").iterdir()
                   if (m := STEP.search(p.name)))
    out = []
    for step, path in files:
        rows = read_rows(path)
        by_task = defaultdict(list)
        for row in rows:
            by_task[row["task"].split(".")[-1]].append(bool(row["correct"]))
        out.append({"step": step, "rows": len(rows), "overall": sum(r["correct"] for r in rows) / len(rows),
                    "copy": sum(map(copied, rows)) / len(rows),
                    "tasks": {task: (sum(v), len(v)) for task, v in sorted(by_task.items())}})
    return out


def main(folder: str) -> None:
    records = curve(Path(folder))
    tasks = sorted({t for r in records for t in r["tasks"]})
    print("| step | " + " | ".join(tasks) + " | overall % | trace copies the asked name % |")
    print("|---" * (len(tasks) + 3) + "|")
    for r in records:
        cells = [f"{r['tasks'][t][0]}/{r['tasks'][t][1]}" if t in r["tasks"] else "–" for t in tasks]
        print(f"| {r['step']} | " + " | ".join(cells) + f" | {100 * r['overall']:.1f} | {100 * r['copy']:.1f} |")


if __name__ == "__main__":
    main(sys.argv[1])
