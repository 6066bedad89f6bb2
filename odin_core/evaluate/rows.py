"""Evaluation rows: seeded samples, column checks, the answer part of a text."""

from __future__ import annotations

import random

from odin_core.foundation.errors import DataError
from odin_core.questions.answers import answer_marker


def rows_of(split) -> list[dict]:
    """Rows of a Hugging Face ``Dataset`` or of a list of dicts, as a list of dicts."""
    if split is None:
        return []
    if hasattr(split, "to_list"):
        return split.to_list()
    return [dict(row) for row in split]


def select_examples(split, max_examples: int | None, seed: int) -> list[dict]:
    """At most ``max_examples`` rows, a seeded sample that keeps the split's order (so every task stays in)."""
    n = len(split)
    if max_examples is None or n <= max_examples:
        return rows_of(split)
    indices = sorted(random.Random(seed).sample(range(n), max_examples))
    if hasattr(split, "select"):
        return split.select(indices).to_list()
    return [dict(split[i]) for i in indices]


def check_columns(rows: list[dict], needed, where: str) -> None:
    """A DataError naming the missing columns when ``rows`` lack any of ``needed``."""
    if not rows:
        return
    missing = [c for c in needed if c not in rows[0]]
    if missing:
        raise DataError(f"{where}: dataset lacks column(s) {', '.join(missing)}; "
                        f"it has {', '.join(sorted(rows[0]))}")


def rationale_of(completion: str) -> str:
    """The reasoning trace a canonical completion writes before ``Ans:`` ("" when it has none)."""
    span = answer_marker(completion)
    return completion[:span[0]].strip() if span is not None else ""


def answer_prefix(completion: str, rationale: str = "") -> str:
    """Whatever precedes ``Ans:`` in a canonical completion (the leading space of ``" Ans: [3]"``), less ``rationale``.

    ``rationale`` (``rationale_of`` of the row's completion) is cut out, so that
    choice scores and baseline answers never read the gold trace: with it, a
    model would be scored on copying the trace's conclusion.
    """
    span = answer_marker(completion)
    prefix = completion[:span[0]] if span is not None and span[0] > 0 else ""
    if rationale:
        cut = prefix.rfind(rationale)
        if cut >= 0:
            prefix = prefix[:cut] + prefix[cut + len(rationale):].lstrip(" ")
    return prefix


def end_of_answer(text: str) -> str:
    """``text`` cut after the first ``]`` that follows ``Ans:`` (else ``Ans``): what a model says after its answer
    is not read."""
    span = answer_marker(text)
    if span is None:
        return text
    close = text.find("]", span[0])
    return text if close < 0 else text[: close + 1]
