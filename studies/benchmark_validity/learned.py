"""The learned shortcut baseline on a frozen set: run from the repository root with
    python studies/benchmark_validity/learned.py [RECIPE] [OUT.json]
Builds RECIPE's data (default: recipes/base/hypergraph_data.toml, whose test split is the frozen set
hypergraph-eval-v3), fits the learned shortcut baseline (odin_core.questions.learned_baseline) on its training split and
scores it on the frozen test split and each of the set's extra splits, next to the majority answer's share and
the task's bound. Writes OUT.json (default: studies/benchmark_validity/learned_v3.json) and prints the table.
"""

import json
import platform
import sys
import time
from datetime import date
from pathlib import Path

from odin_core import data
from odin_core.questions.learned_baseline import fit_tasks, learned_baseline, table_lines
from odin_core.recipe import load_recipe
from odin_core.runtime.machine import cpu_bf16


def markdown(result: dict) -> str:
    """The docs table: per task of the test split, majority share, learned baseline with its interval, bound."""
    lines = ["| task | rows | majority % | learned baseline % [95% CI] | model | bound % | above bound |",
             "|---|---|---|---|---|---|---|"]
    for task, entry in result["tables"]["test"]["tasks"].items():
        best = entry["best"]
        low, high = best["ci95"]
        lines.append(f"| {task.split('.', 1)[1]} | {entry['n']} | {100 * entry['majority_share']:.1f} | "
                     f"{100 * best['accuracy']:.1f} [{100 * low:.1f}, {100 * high:.1f}] | {best['model']} | "
                     f"{100 * entry['bound']:.1f} | {'yes' if entry['flagged'] else 'no'} |")
    return "\n".join(lines)


def main(path: str, out: str) -> None:
    started = time.time()
    recipe = load_recipe(path, require_model=False)
    dataset, report = data.build_dataset(recipe)
    train = list(dataset["train"])
    print(f"built in {time.time() - started:.0f} s: {report['examples']}")
    fitted = fit_tasks(train)  # once: every split is scored by the same models
    tables = {"test": learned_baseline(train, list(dataset["test"]), "test", fitted=fitted)}
    for split in data.frozen_splits(recipe.data.frozen_eval):
        if split != "test":
            rows = list(data.frozen_eval_set(recipe.data.frozen_eval, split))
            tables[split] = learned_baseline(train, rows, split, fitted=fitted)
    for split, table in tables.items():
        table.pop("predictions")
        print(f"\n{split}:")
        print("\n".join(table_lines(table)))
    result = {"recipe": path, "frozen_eval": recipe.data.frozen_eval, "train_rows": len(train),
              "date": date.today().isoformat(), "machine": f"{platform.processor() or platform.machine()}, "
              f"bf16 {'yes' if cpu_bf16() else 'no'}", "seconds": round(time.time() - started), "tables": tables}
    Path(out).write_text(json.dumps(result, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print("\n" + markdown(result))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "recipes/base/hypergraph_data.toml",
         sys.argv[2] if len(sys.argv) > 2 else "studies/benchmark_validity/learned_v3.json")
