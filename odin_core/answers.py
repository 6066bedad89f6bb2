"""Canonical answer text: how tasks write answers and how evaluators read them back.

Every answer is written ``Ans: [...]``. The parsing rules follow LLM4Hypergraph:
read after the last ``Ans``; counts take the first integer; vertex sets take the
set of vertex names found; yes/no answers holding both Yes and No are wrong.
An answer that cannot be parsed returns ``FORMAT_ERROR``.
"""

from __future__ import annotations

import re

ANSWER_KINDS = ("count", "yes_no", "vertex_set", "path_length", "label")
FORMAT_ERROR = object()
NO_PATH = "no path"

_INT = re.compile(r"-?\d+")
_BRACKETS = re.compile(r"\[([^\[\]]*)\]")


def format_answer(kind: str, value) -> str:
    """Canonical completion text for a structured answer value.

    count: int; yes_no: bool; vertex_set: list of vertex names (written in the
    given order); path_length: int, or None for no path; label: str.
    """
    if kind == "count":
        body = str(int(value))
    elif kind == "yes_no":
        body = "Yes" if value else "No"
    elif kind == "vertex_set":
        body = ", ".join(value)
    elif kind == "path_length":
        body = NO_PATH if value is None else str(int(value))
    elif kind == "label":
        body = str(value)
    else:
        raise ValueError(f"unknown answer kind {kind!r}; expected one of {', '.join(ANSWER_KINDS)}")
    return f"Ans: [{body}]"


def _answer_region(text: str) -> str | None:
    idx = text.rfind("Ans")
    if idx < 0:
        return None
    region = text[idx + 3 :]
    match = _BRACKETS.search(region)
    return match.group(1) if match else region.strip(" :\n")


def parse_answer(kind: str, text: str, vertex_names=None):
    """Structured value of a model's answer text, or ``FORMAT_ERROR``.

    ``vertex_names`` (an iterable of names) restricts what counts as a vertex in
    set answers; without it any ``v<digits>`` token is a vertex.
    """
    region = _answer_region(text)
    if region is None:
        return FORMAT_ERROR
    if kind == "count":
        m = _INT.search(region)
        return int(m.group()) if m else FORMAT_ERROR
    if kind == "path_length":
        if NO_PATH in region.lower():
            return None
        m = _INT.search(region)
        return int(m.group()) if m else FORMAT_ERROR
    if kind == "yes_no":
        has_yes = re.search(r"\byes\b", region, re.IGNORECASE) is not None
        has_no = re.search(r"\bno\b", region, re.IGNORECASE) is not None
        if has_yes == has_no:
            return FORMAT_ERROR
        return has_yes
    if kind == "vertex_set":
        parts = [p.strip() for p in region.split(",")]
        if vertex_names is None:
            found = {p for p in parts if re.fullmatch(r"v\d+", p)}
        else:
            allowed = set(vertex_names)
            found = {p for p in parts if p in allowed}
        return found
    if kind == "label":
        label = region.strip()
        return label if label else FORMAT_ERROR
    raise ValueError(f"unknown answer kind {kind!r}; expected one of {', '.join(ANSWER_KINDS)}")
