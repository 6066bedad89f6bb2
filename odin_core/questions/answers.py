"""Canonical answer text: how tasks write answers and how evaluators read them back.

Every answer is written ``Ans: [...]``. Parsing follows LLM4Hypergraph's scoring
(its ``evaluate.py``), made explicit:

* The answer is read after the first ``Ans:`` (a model that keeps generating
  writes its first answer first); when there is none, after the first ``Ans``,
  and when there is none of that either, after ``the answer is``. ``Ans:`` comes
  first so that a reasoning trace before the answer (``data.rationale``) or a
  vertex named "Ansel" cannot be mistaken for the answer.
  Inside, the first bracket pair ``[...]`` is the answer; a bracket left open
  (generation cut short) runs to the end of the text; with no bracket the rest
  of the text is the answer.
* count: the first integer standing alone (the 3 of ``v3`` is a name). path_length:
  the first integer, or ``None`` when the
  answer says "no path"; holding both is contradictory.
* yes_no: the words Yes / No (any case) anywhere after the marker; an answer
  holding both is wrong.
* vertex_set: the set of vertex names found (duplicates collapse, order does
  not matter); ``[]``, "No vertices" or "none" is the empty set.
* label: the text itself, compared without regard to case or spacing.

An answer that cannot be read (no ``Ans``, no integer, neither or both of
Yes/No, no vertex name) is ``FORMAT_ERROR``: it is never correct, evaluators
count it separately as a format error, and set metrics treat it as the empty set.
"""

from __future__ import annotations

import re

ANSWER_KINDS = ("count", "yes_no", "vertex_set", "path_length", "label")
NO_PATH = "no path"


class _FormatError:
    """The parse result of an answer that cannot be read (a singleton)."""

    _instance = None

    def __new__(cls):
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "FORMAT_ERROR"

    def __reduce__(self):
        return "FORMAT_ERROR"  # pickles as the module-level singleton


FORMAT_ERROR = _FormatError()

# an integer standing alone: the 3 in "v3" is part of a vertex name, not an answer
_INT = re.compile(r"(?<![A-Za-z0-9_])\d+(?![A-Za-z0-9_])")
_WORD = re.compile(r"\w+")
_VERTEX_ID = re.compile(r"(?<![\w])v\d+(?![\w])")
_EMPTY_SET = re.compile(r"^(?:no\s+vertex|no\s+vertices|none|empty(?:\s+set)?|)$", re.IGNORECASE)
#: where an answer starts, tried in turn: ``Ans:``, else a bare ``Ans``, else "the answer is"
_ANSWER_MARKERS = (re.compile(r"Ans:"), re.compile(r"Ans"), re.compile(r"the answer is", re.IGNORECASE))


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


def answer_marker(text: str) -> tuple[int, int] | None:
    """(start, end) of the marker the answer follows (``Ans:``, else ``Ans``, else "the answer is"), or None."""
    for marker in _ANSWER_MARKERS:
        match = marker.search(text)
        if match:
            return match.start(), match.end()
    return None


def _after_marker(text: str) -> str | None:
    span = answer_marker(text)
    return None if span is None else text[span[1]:]


def answer_region(text: str) -> str | None:
    """The part of ``text`` that holds the answer, or None when it has no ``Ans``."""
    region = _after_marker(text)
    if region is None:
        return None
    open_at = region.find("[")
    if open_at < 0:
        return region.strip().lstrip(":").strip()
    close_at = region.find("]", open_at + 1)
    return region[open_at + 1:] if close_at < 0 else region[open_at + 1:close_at]


def _first_int(region: str):
    match = _INT.search(region)
    return int(match.group()) if match else FORMAT_ERROR


def _vertex_set(region: str, vertex_names):
    if vertex_names is None or vertex_names == "ids":
        found = set(_VERTEX_ID.findall(region))
        if not found and vertex_names is None:
            # names that are not v<digits> (real data): comma-separated items taken verbatim
            items = [item.strip().strip("'\"").rstrip(".").strip() for item in region.split(",")]
            found = {item for item in items if item and not _EMPTY_SET.match(item)}
    else:
        allowed = set(vertex_names)
        items = [item.strip().strip("'\"").rstrip(".").strip() for item in region.split(",")]
        found = {item for item in items if item in allowed}
        if not found:
            found = {name for name in _VERTEX_ID.findall(region) if name in allowed}
    if found:
        return found
    return set() if _EMPTY_SET.match(region.strip().rstrip(".").strip()) else FORMAT_ERROR


def parse_answer(kind: str, text: str, vertex_names=None):
    """Structured value of a model's answer text, or ``FORMAT_ERROR``.

    Returns an int (count), bool (yes_no), set of names (vertex_set), int or None
    (path_length), or a normalised str (label). ``vertex_names`` says what counts
    as a vertex in set answers: an iterable of names; ``"ids"``, only
    ``v<digits>`` tokens; None (default), ``v<digits>`` tokens and, when there
    are none, every comma-separated item (data with its own vertex names).
    """
    if kind not in ANSWER_KINDS:
        raise ValueError(f"unknown answer kind {kind!r}; expected one of {', '.join(ANSWER_KINDS)}")
    if kind == "yes_no":
        # the whole text after the marker, brackets or not: "Ans: [Yes] ... No" holds both
        rest = _after_marker(text)
        if rest is None:
            return FORMAT_ERROR
        words = {w.lower() for w in _WORD.findall(rest)}
        has_yes, has_no = "yes" in words, "no" in words
        return has_yes if has_yes != has_no else FORMAT_ERROR
    region = answer_region(text)
    if region is None:
        return FORMAT_ERROR
    if kind == "count":
        return _first_int(region)
    if kind == "path_length":
        says_no_path = NO_PATH in " ".join(region.lower().split())
        number = _first_int(region)
        if says_no_path:
            return FORMAT_ERROR if number is not FORMAT_ERROR else None
        return number
    if kind == "vertex_set":
        return _vertex_set(region, vertex_names)
    label = normalise_label(region)
    return label if label else FORMAT_ERROR


def normalise_label(text: str) -> str:
    """A label for comparison: case-folded, spacing collapsed, surrounding quotes and full stop dropped."""
    return " ".join(str(text).strip().strip("'\"").rstrip(".").split()).casefold()


def vertex_ids_only(answers) -> bool:
    """Whether every vertex of these vertex-set answers is named ``v<digits>`` (then parse with ``"ids"``)."""
    return all(_VERTEX_ID.fullmatch(str(v)) for answer in answers for v in (answer or ()))


def gold_value(kind: str, answer):
    """The structured gold answer in the form ``parse_answer`` returns (sets for vertex sets)."""
    if kind == "vertex_set":
        return set(answer or ())
    if kind == "label":
        return normalise_label(answer)
    if kind == "count":
        return int(answer)
    if kind == "path_length":
        return None if answer is None else int(answer)
    if kind == "yes_no":
        return bool(answer)
    raise ValueError(f"unknown answer kind {kind!r}; expected one of {', '.join(ANSWER_KINDS)}")


def is_correct(kind: str, predicted, answer) -> bool:
    """Exact match of a parsed prediction against the structured gold ``answer``; a format error is wrong."""
    if predicted is FORMAT_ERROR:
        return False
    gold = gold_value(kind, answer)
    if kind == "count":  # bool is an int: a Yes must not equal 1
        return type(predicted) is int and predicted == gold
    if kind == "path_length":
        return (predicted is None and gold is None) or (type(predicted) is int and predicted == gold)
    if kind == "label":
        return normalise_label(predicted) == gold
    return predicted == gold


def grade(kinds, texts, golds) -> tuple[list, list[bool]]:
    """(parsed answers, exact-match correctness) of generated ``texts`` against structured ``golds``: the one
    reading of "correct" that evaluation, baselines and rewards share. Vertex sets named only ``v<digits>``
    are parsed with ``"ids"`` (any other word in such an answer is a format error)."""
    kinds, golds = list(kinds), list(golds)
    names = "ids" if vertex_ids_only([g for k, g in zip(kinds, golds) if k == "vertex_set"]) else None
    parsed = [parse_answer(kind, text, names) for kind, text in zip(kinds, texts)]
    return parsed, [is_correct(kind, pred, gold) for kind, pred, gold in zip(kinds, parsed, golds)]
