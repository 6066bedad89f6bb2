"""A recipe's ``[data]`` section to a ``datasets.DatasetDict``, in explicit steps.

1. sources -> hypergraphs           (deterministic from ``recipe.seed``)
2. hypergraphs -> splits            (whole hypergraphs; relabelled copies stay together)
3. questions per split              (tasks x encodings, yes/no balanced, mismatches skipped)
4. render prompt and completion     (prompts over the token budget are dropped and reported)
5. DatasetDict train/validation/test
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from odin_core.components.plugins import get_component
from odin_core.data.adversarial import filter_split, shuffle_split
from odin_core.data.examples import Generator, Plan, drop_summary, generate, to_dataset
from odin_core.data.frozen import frozen_eval_set, frozen_graph_keys, frozen_with_columns
from odin_core.data.relabel import random_ids
from odin_core.data.splits import assign_splits, collect_hypergraphs
from odin_core.foundation import console
from odin_core.foundation.errors import DataError, RecipeError
from odin_core.foundation.layout import SPLITS
from odin_core.recipe import expand_tasks
from odin_core.runtime.chat import recipe_uses_chat

#: bump when the same recipe would build different examples
BUILDER_VERSION = "3"


@dataclass
class Components:
    """The task and encoder objects a build uses, by name."""

    task_names: list[str]
    tasks: dict
    families: dict[str, str]
    encoder_names: list[str]
    encoders: dict


def _setup_components(recipe) -> Components:
    data = recipe.data
    task_names = expand_tasks(data.task_names)
    if not task_names:
        raise RecipeError("selects no registered task", file=recipe.path, key="data.tasks")
    options = {entry.name: entry.options for entry in data.tasks}
    tasks = {name: get_component("task", name, file=recipe.path, key="data.tasks").create(options.get(name))
             for name in task_names}
    families = {name: getattr(task, "family", "") for name, task in tasks.items()}
    encoders = {}
    for i, entry in enumerate(data.encodings):
        component = get_component("encoder", entry.name, file=recipe.path, key=f"data.encodings.{i}")
        encoders[entry.name] = component.create(entry.options)
    return Components(task_names, tasks, families, data.encoding_names, encoders)


def _setup_plan(recipe, comps: Components) -> Plan:
    plan = Plan(comps.task_names, comps.tasks, comps.encoder_names, comps.encoders, recipe.data.balance_yes_no,
                recipe.seed)
    if not plan.pairs:
        raise RecipeError("every selected task needs a high-order encoding and only low-order ones are listed",
                          file=recipe.path, key="data.encodings")
    return plan


def _split_hypergraphs(recipe, graphs, frozen):
    """(graphs per split, graph keys, example counts, fractions, warnings); a frozen set replaces the test split."""
    data = recipe.data
    # every split of the frozen set (its extra splits too) stays out of training
    exclude = frozen_graph_keys(data.frozen_eval) if frozen is not None else frozenset()
    fractions = data.split.model_dump()
    counts = data.num_examples.model_dump()
    if frozen is not None:
        counts["test"] = 0
        fractions["test"] = 0.0  # the frozen set is the test split: every hypergraph here can train
    split_graphs, keys = assign_splits(graphs, fractions, recipe.seed, exclude)
    if not any(split_graphs.values()):
        raise DataError("every hypergraph is also in the frozen evaluation set; add other hypergraphs",
                        file=recipe.path, key="data.sources")
    warnings = []
    for split in SPLITS:
        if counts[split] > 0 and not split_graphs[split]:
            # never borrow another split's hypergraphs: the split stays empty and the report says why
            warnings.append(f"split {split!r} asked for {counts[split]} examples but got no hypergraph "
                            f"({len(graphs)} hypergraphs, {len(set(keys.values()))} distinct up to relabelling, "
                            f"fraction {fractions[split]}): it is empty; add hypergraphs or raise data.split.{split}")
            counts[split] = 0
    return split_graphs, keys, counts, warnings


def _frozen_subset(frozen, comps: Components, per_task: int | None):
    """The frozen set's rows of the recipe's tasks and encodings, at most ``per_task`` per task, in file order."""
    tasks, encodings = set(comps.task_names), set(comps.encoder_names)
    taken: dict[str, int] = {}
    keep = []
    for i, (task, encoding) in enumerate(zip(frozen["task"], frozen["encoding"])):
        if task in tasks and encoding in encodings and (per_task is None or taken.get(task, 0) < per_task):
            taken[task] = taken.get(task, 0) + 1
            keep.append(i)
    return frozen if len(keep) == len(frozen) else frozen.select(keep)


def _filter(recipe, rows, counts, plan, drops, adversarial: bool) -> dict:
    """Step 4b in place: per split, predictable rows dropped down to the requested counts (``adversarial``), or
    only duplicates dropped; every split shuffled. Returns the filter's log per split."""
    task_order = [name for name, _ in plan.pairs]
    log = {}
    for split in SPLITS:
        if adversarial and recipe.data.adversarial_pool > 1.0:
            rows[split], log[split] = filter_split(rows[split], counts[split], task_order, recipe.seed, split, drops)
        else:
            rows[split] = shuffle_split(rows[split], recipe.seed, split, drops)
    return log


def build_dataset(recipe, transform=None, adversarial: bool = True, pool: float | None = None):
    """Build the recipe's datasets: ``(DatasetDict, report)``. The report says what was made, dropped and how fast.

    ``transform`` (a function of the list of hypergraphs) changes the sources' hypergraphs before they are split,
    e.g. renames their vertices (``odin_core.data.relabel``). ``adversarial = False`` generates ``pool`` (default
    ``data.adversarial_pool``) times the requested rows and keeps them all (an extra split that pairs its rows with
    the filtered test split's)."""
    from datasets import DatasetDict

    started = time.perf_counter()
    data = recipe.data
    comps = _setup_components(recipe)
    plan = _setup_plan(recipe, comps)
    chat = recipe_uses_chat(recipe)

    # 1. hypergraphs
    with console.heartbeat("data: reading the hypergraph sources"):
        graphs = collect_hypergraphs(recipe)
    if data.ids == "random":
        graphs = random_ids(graphs, recipe.seed)
    if transform is not None:
        graphs = transform(graphs)
    t_sources = time.perf_counter() - started

    # 2. splits
    frozen = frozen_eval_set(data.frozen_eval) if data.frozen_eval else None
    split_graphs, keys, counts, warnings = _split_hypergraphs(recipe, graphs, frozen)

    # 3-4. examples
    t_gen = time.perf_counter()
    generator = Generator(recipe, split_graphs, keys, plan, comps.tasks, comps.encoders, comps.families, chat)
    factor = data.adversarial_pool if pool is None else pool
    pooled = {split: round(n * factor) for split, n in counts.items()}
    rows, drops, gen_cpu = generate(generator, pooled, data.num_proc)  # gen_cpu: summed over workers
    gen_seconds = time.perf_counter() - t_gen
    t_filter = time.perf_counter()
    filter_log = _filter(recipe, rows, counts, plan, drops, adversarial)
    filter_seconds = time.perf_counter() - t_filter

    # 5. datasets
    splits = {split: to_dataset(rows[split], chat) for split in SPLITS}
    if frozen is not None:
        splits["test"] = frozen_with_columns(_frozen_subset(frozen, comps, data.frozen_per_task), chat)
    dataset = DatasetDict(splits)
    made = sum(pooled.values())
    report = {
        "recipe": recipe.name,
        "builder_version": BUILDER_VERSION,
        "hypergraphs": {"total": len(graphs), "distinct": len(set(keys.values())),
                        **{split: len(split_graphs[split]) for split in SPLITS}},
        "requested": counts,
        "examples": {split: len(dataset[split]) for split in SPLITS},
        "dropped": drop_summary(drops, data.max_prompt_tokens, data.token_count),
        "skipped_pairs": [list(p) for p in plan.skipped],
        "warnings": warnings,
        "tasks": comps.task_names,
        "encodings": comps.encoder_names,
        "frozen_eval": data.frozen_eval,
        "messages": chat,
        "num_proc": data.num_proc,
        "adversarial_filter": {"pool": factor if adversarial else 1.0, "generated": pooled, "tasks": filter_log},
        "seconds": {"sources": round(t_sources, 3), "examples": round(gen_seconds, 3),
                    "filter": round(filter_seconds, 3),
                    "total": round(time.perf_counter() - started, 3)},
        "examples_per_second": round(made / gen_seconds, 1) if gen_seconds > 0 else None,
        # per core: CPU seconds the generating processes spent, so other load on the machine does not count
        "examples_per_cpu_second": round(made / gen_cpu, 1) if gen_cpu > 0 else None,
    }
    report["dropped_total"] = sum(d["count"] for d in report["dropped"].values())
    return dataset, report
