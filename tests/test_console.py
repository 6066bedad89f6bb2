"""What ``odin run`` shows on the terminal: Odin's own lines by default, library output with -v, almost nothing
with -q, and on failure the earlier warnings and the log; library output always lands in the run's odin.log."""

import re
import subprocess
import sys

import pytest

from conftest import REPO, run_odin
from odin_core.foundation import console

#: the formats of every line Odin itself prints during ``odin run`` (docs/cli.md, "What a run prints")
ODIN_LINE = re.compile("|".join([
    r"warning: .+",
    r"data: (built|reused cached) dataset train=\d+, validation=\d+, test=\d+( in [\d.]+ s)?",
    r"evaluating \w+ model on \d+ \w+ examples \(\w+ engine\)",
    r"engine: \S+ \(importing its libraries\)",
    r"model: loading with \S+( \(.+\))?",
    r"base: the model is untrained \(random weights\); its base evaluation uses \d+ of \d+ rows",
    r"\w+: accuracy [\d.]+ \(macro [\d.]+\), \d+ format errors, [\d.]+ s",
    r"step \d+/\d+ \| loss [\d.]+( \| .+)?",
    r"trained \d+ steps in \w+ \| .+",
    r"result: trained [\d.]+% \[[\d.]+, [\d.]+\] on \d+ \w+ rows(; majority [\d.]+%(, shortcut [\d.]+%)?)?",
    r"run directory: .+",
    r"error: .+", r"\d+ warning\(s\) earlier in this command:", r"  warning: .+", r"log: .+",
]))
#: what library output looks like on a terminal: warnings, deprecations, progress bars, Unsloth's notices
LIBRARY_NOISE = re.compile(r"Warning|WARNING|[Dd]eprecat|\d+%\||it/s\]|examples/s\]|Unsloth")
CPU_FALLBACK = "warning: no CUDA GPU is visible"

TINY = ["--set", "training.max_steps=4", "--set", "training.save_steps=4", "--set", "training.logging_steps=2",
        "--set", "data.num_examples.train=48", "--set", "data.num_examples.validation=0",
        "--set", "data.num_examples.test=17", "--set", "data.sources.0.count=40", "--set", "data.sources.1.count=10",
        "--set", "generation.max_examples=17", "--set", "model.hidden_size=64", "--set", "model.vocab_size=400",
        "--set", "training.batch_size=4"]


def odin_run(tmp_path, *flags, extra=()):
    """``odin [flags] run`` of the quickstart at toy size; (result, its run directories)."""
    parent = tmp_path / "runs" / (flags[0].lstrip("-") if flags else "default")
    result = run_odin(*flags, "run", "recipes/quickstart.toml", *TINY, *extra, "--set",
                      f"data.cache_dir={tmp_path / 'cache'}", "--output-dir", str(parent))
    return result, sorted(parent.glob("quickstart-*"))


def lines(result) -> list[str]:
    return [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_default_verbose_and_quiet_terminal_output(tmp_path):
    default, runs = odin_run(tmp_path)
    assert default.returncode == 0, default.stderr[-3000:]
    shown = lines(default)
    strangers = [line for line in shown if not ODIN_LINE.fullmatch(line)]
    assert not strangers, strangers
    assert not [line for line in shown if LIBRARY_NOISE.search(line) and not line.startswith("warning: ")]
    assert sum(line.startswith(CPU_FALLBACK) for line in shown) == 1
    result_line, run_line = default.stdout.strip().splitlines()
    assert result_line.startswith("result: trained ") and run_line == f"run directory: {runs[0]}"
    # every phase has its summary line
    for start in ("data: built dataset", "base: accuracy", "trained 4 steps in", "trained: accuracy"):
        assert any(line.startswith(start) for line in shown), start
    log = (runs[0] / "odin.log").read_text()
    library = [line for line in log.splitlines() if console.LIBRARY_PREFIX in line]
    assert any("Unsloth" in line for line in library)  # its CPU notice, printed at import
    assert any("Truncating train dataset" in line for line in library)  # TRL's datasets progress bar, last state
    for line in shown:  # Odin's own lines are in the log too
        if not line.startswith(("run directory: ", "result: ")):
            assert line in log, line

    verbose, runs = odin_run(tmp_path, "-v")
    assert verbose.returncode == 0, verbose.stderr[-3000:]
    strangers = [line for line in lines(verbose) if not ODIN_LINE.fullmatch(line)]
    assert any("Unsloth" in line for line in strangers) and any("Truncating train dataset" in line for line in strangers)
    assert sum(line.startswith(CPU_FALLBACK) for line in lines(verbose)) == 1
    log = (runs[0] / "odin.log").read_text()
    assert "Truncating train dataset" in log and "base: accuracy" in log

    quiet, runs = odin_run(tmp_path, "--quiet")
    assert quiet.returncode == 0, quiet.stderr[-3000:]
    assert quiet.stderr == "" and quiet.stdout.splitlines()[1:] == [f"run directory: {runs[0]}"]
    assert ODIN_LINE.fullmatch(quiet.stdout.splitlines()[0]).group(0).startswith("result: trained ")
    assert CPU_FALLBACK in (runs[0] / "odin.log").read_text()  # not shown, still logged


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_failed_run_repeats_its_warnings_and_names_the_log(tmp_path):
    # no hypergraph for the test split: a warning while building, then the empty split stops the run
    failed, runs = odin_run(tmp_path, "--quiet", extra=["--set", "data.split.test=0", "--set", "data.split.train=0.9"])
    assert failed.returncode == 2 and failed.stdout == ""
    shown = lines(failed)
    assert shown[0].startswith("error: ") and "'test' split that generation.split evaluates is empty" in shown[0]
    assert shown[1].endswith("warning(s) earlier in this command:")
    assert any(line.startswith("  warning: split 'test' asked for 17 examples but got no hypergraph") for line in shown)
    assert any(line.startswith(f"  {CPU_FALLBACK}") for line in shown)
    assert shown[-1] == f"log: {runs[0] / 'odin.log'}"
    log = (runs[0] / "odin.log").read_text()
    assert "split 'test' asked for 17 examples" in log and "run failed" in log and "Traceback" not in failed.stderr


@pytest.mark.timeout(60)
def test_capture_sends_descriptor_output_to_the_log_and_keeps_odins_lines(tmp_path):
    """Bytes written straight to descriptors 1 and 2 (as C extensions do) go to the log, progress bars as their
    last state; Odin's lines reach the terminal; output before a log is attached is not lost."""
    script = f"""
import os, sys
from odin_core.foundation import console
console.set_verbosity(sys.argv[1])
with console.captured():
    os.write(2, b"early C-level line\\n")
    console.attach_log({str(tmp_path / 'odin.log')!r})
    os.write(1, b"bar:  10%|#  \\rbar: 100%|##########\\n")
    print("a library print", flush=True)
    console.say("data: built dataset train=1, validation=0, test=1 in 0.1 s")
    console.warn("something that matters")
    console.warn("something that matters")
print("after the capture")
"""
    for level in ("normal", "verbose", "quiet"):
        (tmp_path / "odin.log").unlink(missing_ok=True)
        done = subprocess.run([sys.executable, "-c", script, level], capture_output=True, text=True, cwd=REPO,
                              timeout=50)
        assert done.returncode == 0, done.stderr
        log = (tmp_path / "odin.log").read_text()
        library = [line.split(console.LIBRARY_PREFIX, 1)[1] for line in log.splitlines()]
        assert library == ["early C-level line", "bar: 100%|##########", "a library print"]
        assert done.stdout == "after the capture\n"
        odin = ["data: built dataset train=1, validation=0, test=1 in 0.1 s", "warning: something that matters"]
        if level == "normal":
            assert done.stderr.splitlines() == odin
        elif level == "quiet":
            assert done.stderr == ""
        else:
            assert set(odin) <= set(done.stderr.splitlines()) and "a library print" in done.stderr
            assert done.stderr.count("warning: something that matters") == 1


@pytest.mark.timeout(60)
def test_verbosity_options_hold_for_one_command(monkeypatch):
    """-q hides a recipe warning from that command only; the next command (same process) shows it again."""
    from click.testing import CliRunner

    from odin_core.cli import cli

    monkeypatch.delenv(console.VERBOSITY_ENV, raising=False)
    runner = CliRunner()
    both = runner.invoke(cli, ["-v", "-q", "schema"])
    assert both.exit_code == 2 and "--verbose and --quiet cannot be combined" in both.output
    args = ["validate", str(REPO / "recipes" / "hypergraph_llama1b.toml"), "--set", "model.trust_remote_code=true",
            "--set", "finetune.strategy=finetune.lora"]
    quiet = runner.invoke(cli, ["-q", *args])
    assert quiet.exit_code == 0 and "trust_remote_code" not in quiet.output and ": ok (" in quiet.output
    assert console.verbosity() == console.NORMAL
    normal = runner.invoke(cli, args)
    assert normal.exit_code == 0 and normal.output.count("warning: --set model.trust_remote_code=true") == 1


@pytest.mark.timeout(120)
def test_a_quiet_command_leaves_warning_filters_and_environment_as_they_were(monkeypatch):
    """Commands outside run/sweep/eval silence library warnings for themselves only, not for what the process
    does next (the next CliRunner command, a test, a notebook cell)."""
    import os
    import warnings

    from click.testing import CliRunner

    from odin_core.cli import cli

    monkeypatch.delenv(console.VERBOSITY_ENV, raising=False)
    monkeypatch.delenv("TRANSFORMERS_VERBOSITY", raising=False)
    monkeypatch.setenv("DATASETS_VERBOSITY", "info")  # set by the user: kept
    filters = list(warnings.filters)
    result = CliRunner().invoke(cli, ["validate", str(REPO / "recipes" / "quickstart.toml")])
    assert result.exit_code == 0, result.output
    assert list(warnings.filters) == filters
    assert "TRANSFORMERS_VERBOSITY" not in os.environ and os.environ["DATASETS_VERBOSITY"] == "info"
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        warnings.warn("still shown", UserWarning)
    assert [str(w.message) for w in seen] == ["still shown"]


def test_the_result_line_reads_the_run_metrics():
    import json

    from odin_core.cli.run import result_line

    metrics = json.loads((REPO / "studies/learning_mechanics/evidence/q4/metrics.json").read_text())
    assert result_line(metrics) == "result: trained 42.4% [36.7, 48.3] on 276 test rows; majority 33.7%, shortcut 61.6%"
    assert ODIN_LINE.fullmatch(result_line(metrics))
    assert result_line({"training": {}}) is None
