"""``odin data``: build, show, stats and freeze a recipe's dataset."""

from __future__ import annotations

import json
from pathlib import Path

import click

from odin_core.cli.common import count, recipe_argument
from odin_core.components.plugins import canonical_name
from odin_core.data import SPLITS, answer_stats, heuristic_stats, learned_stats, load_or_build, write_frozen_eval_set
from odin_core.questions.heuristics import table_lines
from odin_core.questions.learned_baseline import table_lines as learned_lines
from odin_core.recipe import load_recipe


@click.group("data")
def data_cli():
    """Build, inspect and freeze hypergraph datasets."""


@data_cli.command("build")
@recipe_argument
@click.option("--force", is_flag=True, help="Rebuild even when the cache holds this dataset.")
@click.option("--num-proc", type=count(1), default=None, help="Worker processes (overrides data.num_proc).")
def build_command(recipe, overrides, force, num_proc):
    """Build RECIPE's dataset (or reuse the cached one) and print what was made."""
    overrides = list(overrides) + ([f"data.num_proc={num_proc}"] if num_proc else [])
    loaded = load_recipe(recipe, overrides, require_model=False)
    report: dict = {}
    dataset = load_or_build(loaded, force=force, report_out=report)
    state = "reused cached dataset" if report["cached"] else "built"
    click.echo(f"{state}: {report['cache_path']}")
    for split in SPLITS:
        where = (f"frozen set {report['frozen_eval']}" if split == "test" and report.get("frozen_eval")
                 else f"{report['hypergraphs'][split]} hypergraphs, {report['requested'][split]} requested")
        click.echo(f"  {split:<10} {len(dataset[split]):>7} examples  ({where})")
    if report.get("dropped_total"):
        click.echo(f"  dropped {report['dropped_total']}:")
        for reason, info in report["dropped"].items():
            click.echo(f"    {info['count']} {reason}: {info['why']}; by encoding {info['by_encoding']}")
    for warning in report.get("warnings", []):
        click.echo(f"  warning: {warning}", err=True)
    if report["skipped_pairs"]:
        click.echo(f"  skipped {len(report['skipped_pairs'])} task x encoding pairs (task names hyperedges, "
                   "encoding is low-order)")
    if not report["cached"]:
        click.echo(f"  {report['examples_per_second']} examples/s with num_proc={report['num_proc']} "
                   f"({report['examples_per_cpu_second']} per CPU-second of generation; "
                   f"{report['seconds']['total']} s in all, {report['seconds']['sources']} s loading sources)")


@data_cli.command("show")
@recipe_argument
@click.option("-n", "count", type=count(1), default=5, show_default=True, help="How many examples.")
@click.option("--split", type=click.Choice(SPLITS), default="train", show_default=True)
@click.option("--task", default=None, help="Only this task.")
@click.option("--encoding", default=None, help="Only this encoding.")
def show_command(recipe, overrides, count, split, task, encoding):
    """Print examples of RECIPE's dataset: prompt, completion, task, encoding."""
    loaded = load_recipe(recipe, overrides, require_model=False)
    dataset = load_or_build(loaded)[split]
    task = canonical_name("task", task) if task else None
    shown = 0
    for row in dataset:
        if (task and row["task"] != task) or (encoding and row["encoding"] != encoding):
            continue
        click.echo(f"--- {row['id']}  task={row['task']} ({row['family']})  encoding={row['encoding']}  "
                   f"graph={row['graph_id']}")
        click.echo(row["prompt"] + click.style(row["completion"], bold=True))
        click.echo()
        shown += 1
        if shown >= count:
            break
    if shown == 0:
        click.echo(f"no example in {split} matches", err=True)


@data_cli.command("stats")
@recipe_argument
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def stats_command(recipe, overrides, as_json):
    """Counts and answer distributions per task and split (yes/no balance, each split's most frequent answer), how well
    the shallow rules the rows record answer each task (heuristic baselines; ⚠ marks a shortcut), and the learned
    shortcut baseline: a classifier over cheap features fitted on the training split (⚠ above its bound)."""
    loaded = load_recipe(recipe, overrides, require_model=False)
    report: dict = {}
    dataset = load_or_build(loaded, report_out=report)
    stats = answer_stats({split: dataset[split] for split in SPLITS})
    heuristics = heuristic_stats({split: dataset[split] for split in SPLITS})
    learned = learned_stats({split: dataset[split] for split in SPLITS})
    if as_json:
        click.echo(json.dumps({"stats": stats, "heuristics": heuristics, "learned_baseline": learned,
                               "dropped": report.get("dropped", {})}, indent=2))
        return
    click.echo("(most frequent answer: each split's own; a run's majority baseline is the training split's most "
               "frequent answer, scored on the evaluated rows)")
    for split in SPLITS:
        click.echo(f"{split}: {stats[split]['count']} examples"
                   + (f" (detects accuracy differences of {stats[split]['detectable_difference']:.0%} or more overall)"
                      if split == "test" and stats[split]["count"] else ""))
        for task, entry in stats[split]["tasks"].items():
            line = f"  {task:<34} {entry['count']:>6}  most frequent answer {entry['most_frequent_share']:.0%}"
            if split == "test":
                line += f"  detects ±{entry['detectable_difference']:.0%}"
            if "yes_rate" in entry:
                line += f"  yes {entry['yes_rate']:.0%}"
            elif "set_size" in entry:
                line += f"  set sizes {entry['set_size']}"
            else:
                top = ", ".join(f"{k}: {v}" for k, v in list(entry["answers"].items())[:6])
                line += f"  answers {top}"
            click.echo(line)
        if stats[split]["count"]:
            for line in table_lines(heuristics[split]):
                click.echo(line)
            if split in learned:
                for line in learned_lines(learned[split]):
                    click.echo(line)
    click.echo("detects: the smallest difference between two accuracies on these rows that a test finds "
               "80% of the time at the 5% level (accuracies near 50%); size the test split with it")
    if report.get("dropped_total"):
        click.echo(f"dropped {report['dropped_total']}: " + "; ".join(
            f"{info['count']} {reason} ({info['why']})" for reason, info in report["dropped"].items()))


@data_cli.command("freeze")
@recipe_argument
@click.argument("name")
@click.option("--dest", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder to write (default: data/NAME in the Odin checkout).")
def freeze_command(recipe, overrides, name, dest):
    """Save RECIPE's test split, and its [data.extra_splits.*], as the frozen evaluation set NAME (JSON lines +
    SHA256SUMS)."""
    loaded = load_recipe(recipe, overrides, require_model=False)
    folder, report = write_frozen_eval_set(loaded, name, dest)
    click.echo(f"wrote {report['examples']['test']} examples to {folder} "
               f"({report['dropped_total']} dropped)")
    for split, count in report["splits"].items():
        if split != "test":
            click.echo(f"  extra split {split}: {count} examples ({split}.jsonl)")


COMMANDS = (data_cli,)
