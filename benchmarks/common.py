"""What every benchmark shares: the record of where and when it ran, timing, and how results are written."""

from __future__ import annotations

import argparse
import datetime as _dt
import statistics
import time
from pathlib import Path

from odin_core.foundation.files import atomic_write_json
from odin_core.runtime.machine import machine_report

RESULTS = Path(__file__).resolve().parent / "results"


def parser(description: str) -> argparse.ArgumentParser:
    """The arguments every benchmark takes: --toy (smallest size, for the test suite) and --out (JSON folder)."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--toy", action="store_true", help="run at toy size (the test suite does this)")
    ap.add_argument("--out", type=Path, default=RESULTS, help="folder for the JSON result (default: %(default)s)")
    return ap


def environment() -> dict:
    """Machine, date and package versions, for the header of every result file."""
    report = machine_report()
    return {"date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), "machine": report}


class Timer:
    """``with Timer() as t: ...`` then ``t.seconds``: wall time by ``time.perf_counter``."""

    def __enter__(self):
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self._start
        return False


def median(values) -> float:
    return float(statistics.median(values))


def table(headers: list[str], rows: list[list]) -> str:
    """A plain aligned text table (numbers formatted by the caller)."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def write_result(name: str, result: dict, out: Path = RESULTS, toy: bool = False) -> Path:
    """Write ``{environment, toy, **result}`` to ``OUT/NAME.json`` (``NAME.toy.json`` at toy size) atomically."""
    path = Path(out) / f"{name}{'.toy' if toy else ''}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, {"benchmark": name, **environment(), "toy": toy, **result})
    return path


def finish(name: str, result: dict, args, text: str) -> dict:
    """Print ``text`` (the benchmark's table), write the result as ``write_result`` does and say where."""
    print(text)
    print(f"wrote {write_result(name, result, args.out, args.toy)}")
    return result
