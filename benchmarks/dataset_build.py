"""Dataset build: Odin's builder against a naive one that builds a ``hypernetx.Hypergraph`` per example.

    python -m benchmarks.dataset_build [--toy] [--out DIR]

Both builders draw from the hypergraphs of ``recipes/quickstart.toml`` (its two
encodings) and ask the 14 tasks hypernetx can answer (``benchmarks.naive_hypernetx``).
Odin's build runs with ``data.num_proc`` 1 and 2. The naive builder's answers to
Odin's own N-Set rows, read back from the prompt text, must agree with Odin's.
"""

from __future__ import annotations

import json
import time
from importlib.metadata import version

from benchmarks import naive_hypernetx as naive
from benchmarks.common import Timer, finish, median, parser, table

RECIPE = "recipes/quickstart.toml"
#: targets from issue 11
TARGET_RATIO = 50.0
TARGET_PER_CORE = 5000.0
SIZES = {  # Odin's training examples, naive examples, Odin rows checked against hypernetx, repeats of Odin's build
    "full": {"odin": 20000, "naive": 400, "checked": 1000, "repeats": 3},
    "toy": {"odin": 300, "naive": 20, "checked": 60, "repeats": 1},
}


def recipe_for(examples: int, num_proc: int):
    from odin_core.recipe import load_recipe

    tasks = json.dumps([f"hypernetx.{t}" for t in naive.COVERED])
    return load_recipe(RECIPE, [f"data.tasks={tasks}", f"data.num_examples.train={examples}",
                                "data.num_examples.validation=0", "data.num_examples.test=0",
                                f"data.num_proc={num_proc}"], require_model=False)


def odin_builds(examples: int, num_proc: int, repeats: int):
    """(medians of the build reports' speeds, the last build's train rows).

    ``examples_per_*`` count the rows kept; ``requested_per_*`` (what ``odin data build`` prints) count every
    example asked for, those dropped over the token budget or as ambiguous too."""
    from odin_core.data import build_dataset

    reports, dataset = [], None
    for _ in range(repeats):
        dataset, report = build_dataset(recipe_for(examples, num_proc))
        reports.append(report)
    kept = reports[-1]["examples"]["train"] / examples  # the reports count requested examples, dropped ones too
    speeds = {
        "num_proc": num_proc,
        "requested": examples,
        "examples": reports[-1]["examples"]["train"],
        "requested_per_second": median(r["examples_per_second"] for r in reports),
        "requested_per_cpu_second": median(r["examples_per_cpu_second"] for r in reports),
        "examples_per_second": kept * median(r["examples_per_second"] for r in reports),
        "examples_per_cpu_second": kept * median(r["examples_per_cpu_second"] for r in reports),
        "total_seconds": median(r["seconds"]["total"] for r in reports),
        "repeats": repeats,
    }
    return speeds, dataset["train"]


def naive_build(examples: int):
    from odin_core.data import collect_hypergraphs

    recipe = recipe_for(examples, 1)
    graphs = collect_hypergraphs(recipe)
    encodings = [name.split(".")[-1] for name in recipe.data.encoding_names]
    cpu = time.process_time()
    with Timer() as t:
        rows = naive.build(graphs, list(naive.COVERED), encodings, examples, recipe.seed)
    cpu = time.process_time() - cpu
    return {"examples": len(rows), "examples_per_second": len(rows) / t.seconds,
            "examples_per_cpu_second": len(rows) / cpu, "seconds": t.seconds}


def agreement(rows, limit: int) -> dict:
    """Share of Odin's N-Set rows whose gold answer hypernetx's answer equals, per task."""
    by_task: dict[str, list[int]] = {}
    mismatches = []
    checked = 0
    for row in rows:
        if checked >= limit:
            break
        if row["encoding"] != "hypernetx.n_set":
            continue
        checked += 1
        task = row["task"].split(".")[-1]
        same = naive.answer_row(row) == json.loads(row["answer"])
        counts = by_task.setdefault(task, [0, 0])
        counts[0] += same
        counts[1] += 1
        if not same and len(mismatches) < 5:
            mismatches.append(row["id"])
    agreed = sum(a for a, _ in by_task.values())
    return {"checked": checked, "agreed": agreed, "share": agreed / checked if checked else None,
            "by_task": {task: {"agreed": a, "checked": n} for task, (a, n) in sorted(by_task.items())},
            "mismatched_ids": mismatches}


def run(toy: bool = False) -> dict:
    size = SIZES["toy" if toy else "full"]
    one, rows = odin_builds(size["odin"], 1, size["repeats"])
    two, rows_two = odin_builds(size["odin"], 2, size["repeats"])
    slow = naive_build(size["naive"])
    checked = agreement(rows, size["checked"])
    return {
        "recipe": RECIPE,
        "versions": {name: version(name) for name in ("hypernetx", "datasets", "networkx")},
        "tasks_covered": list(naive.COVERED),
        "tasks_not_covered": list(naive.NOT_COVERED),
        "ratio_per_core": one["examples_per_cpu_second"] / slow["examples_per_cpu_second"],
        "ratio_wall": one["examples_per_second"] / slow["examples_per_second"],
        "num_proc_2_over_1_wall": two["examples_per_second"] / one["examples_per_second"],
        "odin": {"num_proc_1": one, "num_proc_2": two,
                 "num_proc_rows_identical": rows.to_list() == rows_two.to_list()},
        "naive": slow,
        "agreement": checked,
        "targets": {"ratio_per_core": TARGET_RATIO, "odin_examples_per_cpu_second": TARGET_PER_CORE},
    }


def report_table(result: dict) -> str:
    one, two, slow = result["odin"]["num_proc_1"], result["odin"]["num_proc_2"], result["naive"]
    agree = result["agreement"]
    rows = [
        ["ratio Odin / naive (per CPU-second)", f"{result['ratio_per_core']:.0f}x", f">= {TARGET_RATIO:.0f}x"],
        ["ratio Odin / naive (wall)", f"{result['ratio_wall']:.0f}x", ""],
        ["ratio num_proc 2 / 1 (wall)", f"{result['num_proc_2_over_1_wall']:.2f}", ""],
        ["Odin num_proc=1 examples/s (wall)", f"{one['examples_per_second']:,.0f}", ""],
        ["Odin num_proc=1 examples/CPU-s", f"{one['examples_per_cpu_second']:,.0f}", f">= {TARGET_PER_CORE:,.0f}"],
        ["Odin num_proc=1 requested/CPU-s (odin data build's figure)", f"{one['requested_per_cpu_second']:,.0f}", ""],
        ["Odin num_proc=2 examples/s (wall)", f"{two['examples_per_second']:,.0f}", ""],
        ["Odin num_proc=2 examples/CPU-s", f"{two['examples_per_cpu_second']:,.0f}", ""],
        ["naive examples/s (wall)", f"{slow['examples_per_second']:,.1f}", ""],
        ["naive examples/CPU-s", f"{slow['examples_per_cpu_second']:,.1f}", ""],
        ["answers agreeing (Odin vs hypernetx)", f"{agree['agreed']}/{agree['checked']}", "all"],
    ]
    return table(["measure", "value", "target"], rows)


def main(argv=None) -> dict:
    args = parser(__doc__.splitlines()[0]).parse_args(argv)
    result = run(args.toy)
    return finish("dataset_build", result, args, report_table(result))


if __name__ == "__main__":
    main()
