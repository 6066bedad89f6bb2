"""``odin eval``, ``odin report``, ``odin compare``, ``odin export``: what happens to a run after training."""

from __future__ import annotations

from pathlib import Path

import click

from odin_core.cli.common import count
from odin_core.foundation import console
from odin_core.foundation.layout import ADAPTER_DIR, LOG_FILE, REPORT_FILE


@click.command("eval")
@click.argument("run_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--data", default=None, metavar="RECIPE_OR_DATASET",
              help="A recipe TOML, a dataset directory (save_to_disk), or a frozen evaluation set name "
                   "(default: the run's own dataset).")
@click.option("--split", default="test", show_default=True,
              help="Split to evaluate: of the run's dataset (train, validation, test), an extra split of its frozen "
                   "set (e.g. relabelled, larger_20_40, real), or unseen_encodings; with --data, a split of that data.")
@click.option("--base", is_flag=True, help="Evaluate the base model, without the run's trained adapter.")
@click.option("--label", default=None, help="Name of this evaluation in metrics.json (default: from the data and split).")
@click.option("--max-examples", type=count(1), default=None, help="Evaluate a seeded sample of at most this many examples.")
@click.option("--batch-size", type=count(1), default=None, help="Generation batch size (default: the recipe's).")
@click.option("--no-baselines", is_flag=True, help="Skip the trivial baselines.")
def eval_command(run_dir, data, split, base, label, max_examples, batch_size, no_baselines):
    """Evaluate RUN_DIR's saved model on a dataset; results go into its metrics.json and report.md."""
    from odin_core.flows.evaluate_run import evaluate_run
    from odin_core.foundation.records import task_accuracy
    from odin_core.foundation.stats import format_interval

    if (Path(run_dir) / LOG_FILE).is_file():
        console.attach_log(Path(run_dir) / LOG_FILE)
    with console.captured():
        record = evaluate_run(run_dir, data, split, base=base, label=label, max_examples=max_examples,
                              batch_size=batch_size, baselines=not no_baselines)
    accuracy = task_accuracy(record)
    overall = accuracy.get("overall", {})
    majority = task_accuracy(record.get("baselines", {}).get("majority", {})).get("overall", {}).get("micro")
    ci = overall.get("ci95")
    click.echo(f"{record['stage']}: {record['num_examples']} examples, accuracy {overall.get('micro', 0):.3f}"
               + (f" (95% CI {format_interval(*ci)} %)" if ci else "")
               + f", macro {overall.get('macro', 0):.3f}, format errors {overall.get('format_errors', 0)}"
               + (f", majority baseline {majority:.3f}" if majority is not None else ""))
    for task, values in accuracy.get("per_task", {}).items():
        click.echo(f"  {task:40s} {values['accuracy']:.3f}  (n={values['n']})")
    click.echo(f"report: {Path(run_dir) / REPORT_FILE}")


@click.command("report")
@click.argument("run_dir", type=click.Path(file_okay=False, path_type=Path))
def report_command(run_dir):
    """Rebuild RUN_DIR's report.md and plots from its metrics.json."""
    from odin_core.report import write_report

    path = write_report(run_dir)
    click.echo(f"report: {path}")


@click.command("compare")
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--evaluation", default=None, metavar="LABEL",
              help="Compare the `odin eval` results named LABEL (e.g. a frozen evaluation set) instead of each "
                   "run's own test split.")
@click.option("--format", "fmt", type=click.Choice(["markdown", "csv", "json"]), default="markdown", show_default=True)
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write to a file instead of the terminal.")
@click.option("--plot", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also draw accuracy against parameter count (log scale), overall and per family, to this PNG.")
def compare_command(run_dirs, evaluation, fmt, output, plot):
    """Put several runs side by side, smallest model first (model size vs accuracy); each run after the first
    is tested against the first (exact McNemar) when both were evaluated on the same rows."""
    from odin_core.foundation.files import atomic_write_text
    from odin_core.report import compare_runs, plot_comparison, render_comparison

    comparison = compare_runs(run_dirs, evaluation)
    if plot and not plot_comparison(comparison, plot):
        click.echo("note: no run records its parameter count; no plot drawn", err=True)
    for name, test in comparison.get("tests", {}).items():
        if "refused" in test:
            click.echo(f"note: {name} not tested against {test['against']}: {test['refused']}", err=True)
    text = render_comparison(comparison, fmt)
    if output:
        atomic_write_text(output, text)
        click.echo(f"comparison: {output}")
    else:
        click.echo(text, nl=False)


@click.command("export")
@click.argument("run_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--merged", is_flag=True, help="Merge the adapter into the base model and save it in 16 bits.")
@click.option("--gguf", is_flag=True, help="Merge the adapter and write one GGUF file (Llama architecture; "
                                           "tokenizer and chat template included).")
@click.option("--output", type=click.Path(path_type=Path), default=None,
              help="Folder for the merged model (default: RUN_DIR/merged), or the .gguf file "
                   "(default: RUN_DIR/gguf/<run>-<dtype>.gguf).")
@click.option("--dtype", type=click.Choice(["auto", "float16", "bfloat16", "float32", "f16", "bf16", "q8_0"]),
              default="auto", show_default=True,
              help="--merged: float16, bfloat16, float32 ('auto': bfloat16 where the GPU supports it, else float16); "
                   "--gguf: f16, bf16 or q8_0 ('auto': f16).")
@click.option("--force", is_flag=True, help="Replace a non-empty --output folder of your own (outside every run; "
                                            "never another Odin folder), or an existing --output file.")
def export_command(run_dir, merged, gguf, output, dtype, force):
    """Export RUN_DIR's trained model (the adapter is already in RUN_DIR/adapter, in PEFT format)."""
    if merged and gguf:
        raise click.UsageError("choose one of --merged and --gguf")
    if not merged and not gguf:
        raise click.UsageError(f"nothing to export: the adapter is already in {run_dir / ADAPTER_DIR} "
                               "(PEFT format); pass --merged for a merged 16-bit model or --gguf for a GGUF file")
    if (Path(run_dir) / LOG_FILE).is_file():  # library output (torch warnings, loading bars) goes to the run's log
        console.attach_log(Path(run_dir) / LOG_FILE)
    if gguf:
        from odin_core.flows.export import export_gguf

        short = {"auto": "f16", "float16": "f16", "bfloat16": "bf16"}.get(dtype, dtype)
        with console.captured():
            path, info = export_gguf(run_dir, output, short, force=force)
        click.echo(f"gguf: {path} ({info['dtype']}, {info['tensors']} tensors, vocabulary {info['vocab']})")
        return
    if dtype in ("f16", "bf16", "q8_0"):
        dtype = {"f16": "float16", "bf16": "bfloat16"}.get(dtype, dtype)
        if dtype == "q8_0":
            raise click.UsageError("--dtype q8_0 is for --gguf; a merged folder is float16, bfloat16 or float32")
    from odin_core.flows.export import export_merged

    with console.captured():
        target = export_merged(run_dir, output, dtype, force=force)
    click.echo(f"merged model: {target}")


COMMANDS = (eval_command, report_command, compare_command, export_command)
