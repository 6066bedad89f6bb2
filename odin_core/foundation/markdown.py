"""Markdown for reports, from the core and from plugins' report sections: tables and formatted numbers."""

from __future__ import annotations

from odin_core.foundation.stats import format_interval


def pct(value) -> str:
    return "–" if value is None else f"{100 * value:.1f}"


def interval(ci) -> str:
    """A 95% interval in percent, ``[41.2, 58.8]``; ``–`` when there is none."""
    if not ci or ci[0] is None:
        return "–"
    return format_interval(ci[0], ci[1])


def delta(a, b) -> str:
    if a is None or b is None:
        return "–"
    return f"{100 * (a - b):+.1f}"


def num(value, digits=3) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def p_value(p) -> str:
    if p is None:
        return "–"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * len(header)) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def params(count) -> str:
    if not count:
        return "?"
    for unit, size in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if count >= size:
            return f"{count / size:.1f}{unit}"
    return str(count)
