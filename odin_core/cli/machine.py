"""``odin env`` and ``odin estimate``: what this machine has, and whether a recipe's training fits in it."""

from __future__ import annotations

import json

import click

from odin_core.cli.common import FiniteFloat, count, recipe_argument


def _version(value) -> str:
    return value if value else "not installed"


@click.command("env")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--activate", is_flag=True, help="Print the shell line that activates the virtual environment this "
                                                "odin runs in (eval \"$(odin env --activate)\"), nothing else.")
def env_command(as_json, activate):
    """Python, torch, CUDA and driver, each GPU's memory, accelerator packages, CPU threads, RAM, real weights."""
    if activate:
        import shlex
        import sys
        from pathlib import Path

        if sys.prefix == sys.base_prefix:
            raise click.UsageError("odin is not running in a virtual environment: nothing to activate")
        click.echo(f"source {shlex.quote(str(Path(sys.prefix) / 'bin' / 'activate'))}")
        return
    from odin_core.runtime.machine import machine_report

    report = machine_report()
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    torch = report["torch"]
    click.echo(f"odin               {_version(report['odin'])}")
    click.echo(f"python             {report['python']} ({report['executable']})")
    click.echo(f"platform           {report['platform']}")
    click.echo(f"torch              {_version(torch['version'])}" + (f", CUDA {torch['cuda']}" if torch.get("cuda") else
                                                               ", no CUDA build" if torch["version"] else ""))
    click.echo(f"driver             {report['driver'] or 'none (no NVIDIA driver found)'}")
    if report["gpus"]:
        for gpu in report["gpus"]:
            click.echo(f"gpu {gpu['index']}           {gpu['name']}: {gpu['free_gb']:.1f} of {gpu['total_gb']:.1f} GB free, "
                       f"compute capability {gpu['compute_capability']}, bf16 {'yes' if gpu['bf16'] else 'no'}")
    else:
        click.echo(f"gpu                none: {report['no_gpu']}; training runs on the CPU (finetune.qlora needs a GPU)")
    cpu, ram = report["cpu"], report["ram_gb"]
    click.echo(f"cpu                {cpu['threads']} threads ({cpu['usable']} usable by this process), "
               f"bf16 {'yes' if cpu['bf16'] else 'no'}"
               + (f", torch uses {torch['threads']}" if torch.get("threads") else ""))
    if ram:
        click.echo(f"ram                {ram.get('available', 0):.1f} of {ram.get('total', 0):.1f} GB available")
    for key, entry in report["packages"].items():
        click.echo(f"{key:<18} {_version(entry['version'])}")
    weights = report["weights"]
    if weights["installed"]:
        where = ", ".join(weights["gguf"]) or "no .gguf file in it (reinstall it)"
        click.echo(f"weights            {weights['distribution']} {weights['version']}: {where}")
    else:
        click.echo(f"weights            {weights['distribution']} not installed ({weights['install']})")


@click.command("estimate")
@recipe_argument
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True,
              help="Estimate for this device ('auto': CUDA for a 4-bit strategy, else this machine's).")
@click.option("--seq-len", type=count(1), default=None,
              help="Tokens a sequence (default: data.max_prompt_tokens + 64, at most model.max_seq_length).")
@click.option("--memory-gb", type=FiniteFloat(min=0, min_open=True), default=None,
              help="Compare with this much memory instead of the device's free memory.")
def estimate_command(recipe, overrides, as_json, device, seq_len, memory_gb):
    """Estimate RECIPE's peak training memory before loading any weights, and whether it fits."""
    from odin_core.flows.estimate import estimate_recipe

    result = estimate_recipe(recipe, overrides, device=device, seq_len=seq_len,
                             available=memory_gb * 1024**3 if memory_gb else None)
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    from odin_core.foundation.markdown import params

    shape, setup = result["shape"], result["setup"]
    layers = f"{shape['num_layers']} layer{'' if shape['num_layers'] == 1 else 's'}"
    click.echo(f"{recipe}: {shape['architecture']} with {layers}, hidden {shape['hidden_size']}, "
               f"vocabulary {shape['vocab_size']}: {params(result['parameters'])} parameters "
               f"(shape from {shape['source']})")
    trained = "every weight" if setup["full_finetuning"] else f"LoRA r={setup['lora_r']}"
    click.echo(f"  {result['device']}, weights {setup['precision']}, {trained} "
               f"({params(result['trainable_parameters'])} trainable), batch {setup['batch_size']} x "
               f"{setup['seq_len']} tokens, gradient checkpointing {'on' if setup['gradient_checkpointing'] else 'off'}, "
               f"{'8-bit' if setup['optimizer_8bit'] else 'fp32'} AdamW")
    for part, gb in result["gb"].items():
        click.echo(f"  {part:<15} {gb:8.2f} GB")
    click.echo(f"  {'peak (estimate)':<15} {result['total_gb']:8.2f} GB")
    if result["fits"] is None:
        click.echo(f"fits: unknown ({result['available_is']}; --memory-gb compares with a size of your choice)")
        return
    verdict = "yes" if result["fits"] else "no"
    click.echo(f"fits: {verdict} ({result['available_gb']:.1f} GB {result['available_is']})")
    for tip in result["advice"]:
        click.echo(f"  to fit: {tip}")


COMMANDS = (env_command, estimate_command)
