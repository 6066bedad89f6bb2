"""Stage records: what ``metrics.json`` keeps per evaluated stage, read the same way by every layer.

A stage record (``SCHEMA_VERSION``) holds the split and count of the examples, the
model, generation settings and timings, and each evaluator's metrics by name.
"""

from __future__ import annotations

import hashlib
import json

from odin_core.questions.answers import answer_marker

#: version of the stage records in metrics.json; bumped on any incompatible change
SCHEMA_VERSION = 2
#: the evaluator whose accuracy summarises a stage (records of schema 1 used the bare name)
ACCURACY_EVALUATOR = "metrics.task_accuracy"


def decode(value, default=None):
    """A JSON column's value (rows may also carry it already decoded; text that is not JSON stays text)."""
    if value is None:
        return default
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def task_accuracy(record: dict) -> dict:
    """The task-accuracy metrics of a stage record (``{}`` when it has none)."""
    metrics = (record or {}).get("metrics") or {}
    return metrics.get(ACCURACY_EVALUATOR) or metrics.get("task_accuracy") or {}


def row_key(row) -> str:
    """Identifies an evaluated row across runs: its id and a hash of what it asks and expects.

    A reasoning trace before ``Ans:`` (``data.rationale``) is left out, so a run trained with traces is
    compared on the same rows as one without (and trace-free rows keep the keys they always had)."""
    completion = row.get("completion", "")
    span = answer_marker(completion)
    if span is not None and completion[:span[0]].strip():
        completion = " " + completion[span[0]:]
    digest = hashlib.sha256((row.get("prompt", "") + "\x1f" + completion).encode("utf-8")).hexdigest()
    return f"{row.get('id')}:{digest[:12]}"
