"""CLI start-up: ``odin --help``, ``odin plugins`` and ``odin validate`` against ``python -c "import torch"``.

    python -m benchmarks.cli_startup [--toy] [--out DIR]

Each command runs as a fresh process (``python -m odin_core``, the code the ``odin``
script runs, from this checkout), several times; the median wall time counts.
Where a command misses the target, ``python -X importtime`` names the imports
that cost the most.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from benchmarks.common import Timer, finish, median, parser, table

ROOT = Path(__file__).resolve().parent.parent
TARGET_SECONDS = 0.5
COMMANDS = {
    "odin --help": ["-m", "odin_core", "--help"],
    "odin plugins": ["-m", "odin_core", "plugins"],
    "odin validate recipes/quickstart.toml": ["-m", "odin_core", "validate", "recipes/quickstart.toml"],
    'python -c "import torch"': ["-c", "import torch"],
}
REFERENCE = 'python -c "import torch"'


def _env() -> dict:
    env = dict(os.environ)
    paths = [str(ROOT), str(ROOT / "plugins")] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    return env


def time_command(args: list[str], runs: int) -> list[float]:
    """Wall seconds of ``runs`` fresh runs of ``python ARGS`` (each must succeed)."""
    times = []
    for _ in range(runs):
        with Timer() as t:
            done = subprocess.run([sys.executable, *args], cwd=ROOT, env=_env(), capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"python {' '.join(args)} failed ({done.returncode}): {done.stderr[-2000:]}")
        times.append(t.seconds)
    return times


def slowest_imports(args: list[str], top: int = 8) -> list[dict]:
    """The ``top`` top-level imports by cumulative time (``python -X importtime``), slowest first."""
    done = subprocess.run([sys.executable, "-X", "importtime", *args], cwd=ROOT, env=_env(), capture_output=True,
                          text=True)
    found = []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = line[len("import time:"):].split("|")
        if not name.startswith("  "):  # top level only (nesting indents by two more spaces): children are inside
            found.append({"module": name.strip(), "cumulative_ms": int(cumulative) / 1000})
    return sorted(found, key=lambda d: d["cumulative_ms"], reverse=True)[:top]


def run(toy: bool = False) -> dict:
    runs = 2 if toy else 7
    commands = {}
    for name, args in COMMANDS.items():
        times = time_command(args, runs)
        commands[name] = {"median_seconds": median(times), "seconds": times}
    reference = commands[REFERENCE]["median_seconds"]
    for name, record in commands.items():
        if name == REFERENCE:
            continue
        record["ratio_to_import_torch"] = record["median_seconds"] / reference
        record["meets_target"] = record["median_seconds"] < TARGET_SECONDS
        if not record["meets_target"]:
            record["slowest_imports"] = slowest_imports(COMMANDS[name])
    return {"runs": runs, "target_seconds": TARGET_SECONDS, "commands": commands}


def report_table(result: dict) -> str:
    rows = []
    for name, record in result["commands"].items():
        ratio = record.get("ratio_to_import_torch")
        target = "" if ratio is None else ("< 0.5 s: met" if record["meets_target"] else "< 0.5 s: MISSED")
        rows.append([name, "" if ratio is None else f"{ratio:.2f}", f"{record['median_seconds']:.3f}", target])
    return table(["command", "ratio to import torch", "median s", "target"], rows)


def main(argv=None) -> dict:
    args = parser(__doc__.splitlines()[0]).parse_args(argv)
    result = run(args.toy)
    lines = [report_table(result)] + [f"  {name}: import {item['module']} {item['cumulative_ms']:.0f} ms"
                                      for name, record in result["commands"].items()
                                      for item in record.get("slowest_imports", [])]
    return finish("cli_startup", result, args, "\n".join(lines))


if __name__ == "__main__":
    main()
