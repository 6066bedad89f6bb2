"""The learning curves of the study's runs, from their committed evidence.

    python studies/learning_curves/curves.py            # tables (Markdown) on stdout, learning_curves.png

For each size (``evidence/<size>/``): at every evaluation during training (``training.eval_schedule =
"doubling"``), the examples trained on so far, the training FLOPs so far (6 x parameters x tokens trained on,
the tokens from ``metrics.jsonl``), the accuracy per task on the validation rows and overall with its Wilson
interval; then the test rows' accuracy against the better of the majority answer and the learned shortcut
baseline (``metrics.json``). ``tests/test_study_evidence.py`` checks RESULTS.md against these numbers.
"""

from __future__ import annotations

import gzip
import json
import math
import re
import sys
from collections import defaultdict
from pathlib import Path

STUDY = Path(__file__).resolve().parent
EVIDENCE = STUDY / "evidence"
STEP = re.compile(r"predictions-step-(\d+)\.jsonl(\.gz)?$")
SIZES = ("scratch_0m2", "scratch_0m5", "scratch_3m")


def read_jsonl(path: Path) -> list[dict]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def wilson(k: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """The 95% Wilson interval of k successes in n."""
    if n == 0:
        return (0.0, 1.0)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def size_info(folder: Path) -> dict:
    """Parameters, batch size and the recipe's shape of one run (a run stopped early: ``run_state.json``)."""
    finished = (folder / "metrics.json").is_file()
    metrics = json.loads((folder / ("metrics.json" if finished else "run_state.json")).read_text())
    parameters = metrics["training"]["parameters"] if finished else metrics["parameters"]
    recipe = (folder / "recipe.toml").read_text()
    batch = int(re.search(r"^batch_size = (\d+)$", recipe, re.M).group(1))
    layers = int(re.search(r"^num_layers = (\d+)$", recipe, re.M).group(1))
    hidden = int(re.search(r"^hidden_size = (\d+)$", recipe, re.M).group(1))
    return {"parameters": parameters, "batch": batch, "shape": f"{layers} x {hidden}", "finished": finished}


def curve(folder: Path) -> list[dict]:
    """One record per evaluation during training: step, examples, tokens, FLOPs, accuracy per task and overall."""
    info = size_info(folder)
    tokens_at = sorted((r["step"], r["tokens_seen"]) for r in read_jsonl(folder / "metrics.jsonl")
                       if "tokens_seen" in r)
    out = []
    files = sorted((int(m.group(1)), p) for p in (folder / "training_predictions").iterdir()
                   if (m := STEP.search(p.name)))
    for step, path in files:
        rows = read_jsonl(path)
        by_task = defaultdict(list)
        for row in rows:
            by_task[row["task"].split(".")[-1]].append(bool(row["correct"]))
        right = sum(bool(r["correct"]) for r in rows)
        # tokens trained on by this step: the last logged count at or before it
        tokens = max((t for s, t in tokens_at if s <= step), default=0)
        out.append({"step": step, "examples": step * info["batch"], "tokens": tokens,
                    "flops": 6 * info["parameters"] * tokens, "right": right, "rows": len(rows),
                    "accuracy": right / len(rows), "ci95": wilson(right, len(rows)),
                    "tasks": {task: (sum(v), len(v)) for task, v in sorted(by_task.items())}})
    return out


def test_row(folder: Path) -> dict:
    """The test rows: trained accuracy with its interval, majority, learned baseline, shortcut, paired test."""
    metrics = json.loads((folder / "metrics.json").read_text())
    rows = read_jsonl(next(folder.glob("predictions-trained.jsonl*")))
    right = sum(bool(r["correct"]) for r in rows)

    def overall(stage):
        return (stage or {}).get("metrics", {}).get("metrics.task_accuracy", {}).get("overall", {}).get("micro")

    test = (metrics.get("comparisons") or {}).get("trained vs shortcut", {}).get("overall", {})
    return {"rows": len(rows), "right": right, "accuracy": right / len(rows), "ci95": wilson(right, len(rows)),
            "majority": overall(metrics["baselines"].get("majority")),
            "learned": overall(metrics["baselines"].get("learned")),
            "shortcut": overall(metrics["baselines"].get("shortcut")),
            "p_vs_shortcut": test.get("p_value"), "steps": metrics["training"]["steps"],
            "max_steps": metrics["training"]["max_steps"]}


def pct(x: float) -> str:
    return f"{100 * x:.1f}"


def committed_sizes():
    """(size, evidence folder, run info, curve) of each size with committed evidence, smallest first."""
    for size in SIZES:
        folder = EVIDENCE / size
        if folder.is_dir():
            yield size, folder, size_info(folder), curve(folder)


def tables() -> str:
    lines = []
    for size, folder, info, records in committed_sizes():
        tasks = sorted({t for r in records for t in r["tasks"]})
        lines += [f"### {size}: {info['shape']}, {info['parameters']:,} parameters", "",
                  "| step | examples | training FLOPs | " + " | ".join(tasks) + " | overall % [95% CI] |",
                  "|---" * (4 + len(tasks)) + "|"]
        for r in records:
            cells = [f"{r['tasks'][t][0]}/{r['tasks'][t][1]}" if t in r["tasks"] else "–" for t in tasks]
            lines.append(f"| {r['step']} | {r['examples']:,} | {r['flops']:.2e} | " + " | ".join(cells)
                         + f" | {pct(r['accuracy'])} [{pct(r['ci95'][0])}, {pct(r['ci95'][1])}] |")
        if (folder / "metrics.json").is_file() and any(folder.glob("predictions-trained.jsonl*")):
            t = test_row(folder)
            lines += ["", f"Test rows: {pct(t['accuracy'])}% [{pct(t['ci95'][0])}, {pct(t['ci95'][1])}] of "
                          f"{t['rows']} after {t['steps']:,} steps; majority {pct(t['majority'])}%, learned baseline "
                          f"{pct(t['learned'])}%, shortcut (per task the better) {pct(t['shortcut'])}%, paired p "
                          f"against the shortcut {t['p_vs_shortcut']:.2g}."]
        lines.append("")
    return "\n".join(lines)


def plot(path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for _, _, info, records in committed_sizes():
        label = f"{info['shape']} ({info['parameters'] / 1e6:.1f}M)"
        for ax, key in zip(axes, ("examples", "flops")):
            xs = [r[key] for r in records if r[key] > 0]
            ys = [100 * r["accuracy"] for r in records if r[key] > 0]
            lo = [100 * r["ci95"][0] for r in records if r[key] > 0]
            hi = [100 * r["ci95"][1] for r in records if r[key] > 0]
            ax.plot(xs, ys, marker="o", label=label)
            ax.fill_between(xs, lo, hi, alpha=0.15)
    for ax, title in zip(axes, ("training examples", "training FLOPs (6 x parameters x tokens)")):
        ax.set_xscale("log")
        ax.set_xlabel(title)
        ax.set_ylabel("validation accuracy % (95% CI)")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    print(tables())
    if "--no-plot" not in sys.argv:
        plot(STUDY / "learning_curves.png")
