"""Shallow rules on a default build: run from the repository root with
    python studies/benchmark_validity/measure.py [RECIPE]
Builds RECIPE's data (default: recipes/base/hypergraph_data.toml, its test split the frozen set
hypergraph-eval-v2) and prints, per split and task, how often each shallow rule the rows record answers
correctly, then how many isomorphism classes the structure classification rows span and whether any
test or frozen structure hypergraph also appears in training (up to relabelling).
"""

import json
import sys
import time

from odin_core import data
from odin_core.questions.heuristics import heuristic_table
from odin_core.recipe import load_recipe

STRUCTURE_TASK = "hypernetx.structure_classification"


def structure_keys(rows) -> set:
    return {json.loads(row["meta"])["graph_key"] for row in rows if row["task"] == STRUCTURE_TASK}


def main(path: str) -> None:
    started = time.time()
    recipe = load_recipe(path, require_model=False)
    dataset, report = data.build_dataset(recipe)
    print(f"built in {time.time() - started:.0f} s: {report['examples']}, dropped "
          + json.dumps({reason: d["count"] for reason, d in report["dropped"].items()}))
    for split in ("train", "test"):
        table = heuristic_table(list(dataset[split]))
        print(f"\n{split}: {len(dataset[split])} rows, flagged tasks: {table['flagged'] or 'none'}")
        for task, entry in sorted(table["tasks"].items()):
            rules = ", ".join(f"{rule} {r['accuracy']:.1%}" for rule, r in sorted(entry["rules"].items()))
            print(f"  {task:42s} {entry['rows']:5d} rows  {rules or '(no rules)'}")
    train, test = structure_keys(dataset["train"]), structure_keys(dataset["test"])
    frozen = data.frozen_graph_keys(recipe.data.frozen_eval) if recipe.data.frozen_eval else frozenset()
    print(f"\nstructure classification: {len(train)} isomorphism classes in training rows, {len(test)} in test rows; "
          f"test classes also in training: {len(train & test)}; training classes in the frozen set: {len(train & frozen)}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "recipes/base/hypergraph_data.toml")
