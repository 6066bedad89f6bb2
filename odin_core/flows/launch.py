"""``odin run --num-processes N`` / ``--accelerate-config FILE``: the same command again, under ``accelerate
launch``, as N data-parallel processes (docs/multiprocess.md).

The launched processes know they are several from ``RANK``/``WORLD_SIZE`` (``odin_core.runtime.processes``) and never
launch again. The launcher's own failure report (a ``torch.distributed`` traceback) is replaced by one line:
the failed process has already printed its error.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

from odin_core.foundation.errors import OdinError, RecipeError
from odin_core.recipe import load_recipe

#: where the launcher's failure report starts: its traceback, or torch.distributed.elastic saying a process failed
_FAILURE_REPORT = re.compile(r"^(Traceback \(most recent call last\)|E\d{4} .*torch/distributed/elastic/.*failed)")
_EXIT_CODE = re.compile(r"exitcode\s*:\s*(-?\d+)")


def read_config(path) -> dict:
    """An Accelerate config file as a mapping, or one error naming the file."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise RecipeError("no such Accelerate config file (--accelerate-config); write one with `accelerate "
                          "config` or start from recipes/accelerate/", file=path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", None)
        raise RecipeError(f"is not a readable YAML Accelerate config ({type(exc).__name__})", file=path,
                          line=line + 1 if line is not None else None) from None
    if not isinstance(data, dict):
        raise RecipeError("is not an Accelerate config (expected a YAML mapping of settings)", file=path)
    return data


def check_launch(recipe_path, overrides, num_processes: int | None, config_file) -> int:
    """The number of processes the launch will start (from the config when not given), after checking the
    config and the recipe here, once, rather than in every process; one clear error otherwise."""
    if num_processes is not None and num_processes < 1:
        raise RecipeError(f"--num-processes must be at least 1 (got {num_processes})")
    config = read_config(config_file) if config_file else {}
    count = num_processes or config.get("num_processes") or 1
    if not isinstance(count, int) or count < 1:
        raise RecipeError(f"num_processes must be a whole number of at least 1 (got {count!r})", file=config_file,
                          key="num_processes")
    load_recipe(recipe_path, overrides)
    return count


def launch_command(child_args: list[str], num_processes: int | None, config_file) -> list[str]:
    """``accelerate launch`` starting ``python -m odin_core <child_args>`` in every process."""
    command = [sys.executable, "-m", "accelerate.commands.launch"]
    if config_file:
        command += ["--config_file", str(config_file)]
    else:  # plain DDP on this machine: NCCL across its GPUs, gloo across CPU processes when it has none
        command += ["--multi_gpu", "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]
    if num_processes:
        command += ["--num_processes", str(num_processes)]
    return [*command, "-m", "odin_core", *child_args]


def launch(child_args: list[str], num_processes: int | None, config_file) -> int:
    """Run the command under ``accelerate launch``, passing its output through; returns the exit code.

    A failed process's own error line is kept; what the launcher adds after it is summed up in one line."""
    command = launch_command(child_args, num_processes, config_file)
    if os.environ.get("ODIN_DEBUG"):  # everything, tracebacks included
        return subprocess.run(command).returncode
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, bufsize=1)
    held: list[str] = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: process.send_signal(signal.SIGTERM))
    try:
        try:
            _pass_through(process.stderr, held)
        except KeyboardInterrupt:  # Ctrl-C reached the processes too: they save a checkpoint and stop
            _pass_through(process.stderr, held)
            process.wait()
            raise
        code = process.wait()
    finally:
        signal.signal(signal.SIGTERM, previous)
    if code == 0:
        sys.stderr.writelines(held)
        return 0
    codes = [int(c) for c in _EXIT_CODE.findall("".join(held))]
    if codes:  # a process of the run failed and said why above
        failed = codes[0]
        raise _LaunchFailed(f"a process of the run ended with exit code {failed} (its message is above)",
                            failed if failed > 0 else 1)
    last = next((line.strip() for line in reversed(held) if line.strip()), f"exit code {code}")
    raise _LaunchFailed(f"accelerate launch failed: {last}", code)


def _pass_through(stream, held: list[str]) -> None:
    """Copy the launcher's stderr to ours, holding back everything from its failure report on."""
    for line in stream:
        if held or _FAILURE_REPORT.match(line):
            held.append(line)
        else:
            sys.stderr.write(line)
            sys.stderr.flush()


class _LaunchFailed(OdinError):
    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code
