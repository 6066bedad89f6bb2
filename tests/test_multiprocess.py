"""Several processes for one run: ``odin run --num-processes 2`` on the CPU (gloo), through ``accelerate launch``.

The quickstart recipe at toy size, trained with 2 processes x batch 2 and with 1 process x batch 4: the same
global batch over the same data order (one seeded sampler, each process taking its half of every batch), so
the losses agree up to float rounding. Each launch starts three interpreters; the slow tests take about a
minute per run on the 2-core CPU.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from conftest import REPO, run_odin

#: the quickstart at toy size: 96 training rows, a 64-wide model, 12 optimizer steps, a checkpoint every 4
TOY = ["--set", "training.max_steps=12", "--set", "training.save_steps=4", "--set", "training.logging_steps=1",
       "--set", "data.num_examples.train=96", "--set", "data.num_examples.validation=8",
       "--set", "data.num_examples.test=17", "--set", "data.sources.0.count=60",
       "--set", "generation.evaluate_base=false", "--set", "generation.max_examples=17",
       "--set", "model.hidden_size=64", "--set", "model.vocab_size=400"]

#: relative difference allowed between the 2-process and the 1-process loss: the same maths in float32, but
#: the gradients are summed across processes by an all-reduce (another order of additions) and each process
#: averages its own tokens before the Trainer rescales by the tokens of the whole batch; measured 6e-5 after
#: 6 steps (2026-11-26), so 1e-3 leaves room for the drift to grow over 12 steps without hiding a wrong batch
#: (half the batch, or unsynchronised gradients, move the loss by several percent within a few steps).
LOSS_TOLERANCE = 1e-3


def odin_run(tmp_path: Path, out: str, *args: str) -> subprocess.CompletedProcess:
    return run_odin("run", "recipes/quickstart.toml", *TOY, "--set", f"data.cache_dir={tmp_path / 'cache'}",
                    "--output-dir", str(tmp_path / out), *args)


def the_run_dir(folder: Path) -> Path:
    runs = [p for p in folder.iterdir() if p.is_dir()]
    assert len(runs) == 1, f"expected one run directory under {folder}, found {runs}"
    return runs[0]


def logged_losses(run: Path) -> dict[int, float]:
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    steps = [r["step"] for r in records if "loss" in r]
    assert len(steps) == len(set(steps)), f"a step was logged twice: {steps}"
    return {r["step"]: r["loss"] for r in records if "loss" in r}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The same toy quickstart: 2 processes x batch 2, then 1 process x batch 4 (one training at a time), with the
    task accuracy measured on 8 validation rows at steps 6 and 12."""
    tmp = tmp_path_factory.mktemp("multiprocess")
    accuracy = ["--set", "training.eval_steps=6", "--set", "training.eval_accuracy_examples=8"]
    two = odin_run(tmp, "two", "--set", "training.batch_size=2", "--num-processes", "2", *accuracy)
    assert two.returncode == 0, two.stderr[-4000:]
    one = odin_run(tmp, "one", "--set", "training.batch_size=4", *accuracy)
    assert one.returncode == 0, one.stderr[-4000:]
    return {"tmp": tmp, "two": the_run_dir(tmp / "two"), "one": the_run_dir(tmp / "one"), "two_stdout": two.stdout}


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_two_processes_train_like_one_with_the_same_global_batch(runs):
    two, one = runs["two"], runs["one"]
    metrics = json.loads((two / "metrics.json").read_text())
    training = metrics["training"]
    assert training["processes"] == 2 and training["global_batch_size"] == 2 * 1 * 2  # batch x accumulation x procs
    assert json.loads((one / "metrics.json").read_text())["training"]["global_batch_size"] == 4
    assert "| global_batch_size | 4 |" in (two / "report.md").read_text()

    losses_two, losses_one = logged_losses(two), logged_losses(one)
    assert sorted(losses_two) == list(range(1, 13))  # every step logged once: only the main process writes
    assert losses_two[12] < losses_two[1]
    assert training["final_loss"] == pytest.approx(losses_two[12])
    for step in losses_one:
        assert losses_two[step] == pytest.approx(losses_one[step], rel=LOSS_TOLERANCE), f"step {step}"


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_processes_share_the_accuracy_rows_and_all_see_the_whole_score(runs):
    """Each process answers half of the accuracy rows; the gathered answers cover every row once, in the order
    one process uses, and the logged accuracy is the whole file's (early stopping sees it in every process)."""
    from odin_core.questions.answers import is_correct, parse_answer

    for step in (6, 12):
        files = [run / "training_predictions" / f"predictions-step-{step:06d}.jsonl" for run in (runs["two"], runs["one"])]
        two, one = ([json.loads(line) for line in path.read_text().splitlines()] for path in files)
        assert [r["row_key"] for r in two] == [r["row_key"] for r in one] and len(two) == 8
        assert all(isinstance(r["generated"], str) for r in two)
        logged = [json.loads(line) for line in (runs["two"] / "metrics.jsonl").read_text().splitlines()]
        (record,) = [r for r in logged if r.get("step") == step and "eval_accuracy" in r]
        rescored = [is_correct(r["answer_kind"], parse_answer(r["answer_kind"], r["generated"], "ids"), r["answer"])
                    for r in two]
        assert record["eval_accuracy"] == pytest.approx(sum(rescored) / len(rescored))
        assert f"accuracy at step {step}: 8 rows answered by 2 processes (4 here)" in (runs["two"] / "odin.log").read_text()


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_only_the_main_process_writes_the_run(runs):
    two = runs["two"]
    assert len(list(runs["tmp"].joinpath("two").rglob("report.md"))) == 1
    adapters = [p for p in two.rglob("adapter_config.json") if "checkpoints" not in p.parts]
    assert adapters == [two / "adapter" / "adapter_config.json"]
    log = (two / "odin.log").read_text()
    assert log.count("run completed") == 1 and log.count("trained 12 steps") == 1
    assert "training with 2 processes: global batch 4" in log
    # the dataset was built once, into the cache, by the main process; the other read it from there
    assert json.loads((two / "data_report.json").read_text()).get("cached") is not True
    assert runs["two_stdout"].count("run directory:") == 1
    checkpoint = two / "checkpoints" / "checkpoint-12"
    assert {"rng_state_0.pth", "rng_state_1.pth"} <= {p.name for p in checkpoint.iterdir()}
    manifest = json.loads((checkpoint / "odin-checksums.json").read_text())
    assert "rng_state_1.pth" in manifest  # recorded after every process saved its part


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_a_killed_two_process_run_resumes_to_the_same_loss(runs):
    tmp = runs["tmp"]
    out = tmp / "killed"
    command = [sys.executable, "-m", "odin_core", "run", "recipes/quickstart.toml", *TOY,
               "--set", f"data.cache_dir={tmp / 'cache'}", "--set", "training.batch_size=2",
               "--output-dir", str(out), "--num-processes", "2"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=REPO,
                               start_new_session=True)  # its own process group: the launcher and both processes
    deadline = time.time() + 600
    while not list(out.glob("*/checkpoints/checkpoint-4/odin-checksums.json")):
        if process.poll() is not None:
            raise AssertionError(process.stderr.read()[-4000:])
        assert time.time() < deadline, "the run never wrote checkpoint-4"
        time.sleep(0.1)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    run = the_run_dir(out)
    assert not (run / "adapter").exists(), "killed too late: the run had finished"

    resume = ["run", "recipes/quickstart.toml", *TOY, "--set", f"data.cache_dir={tmp / 'cache'}",
              "--set", "training.batch_size=2", "--resume", str(run)]
    alone = run_odin(*resume)  # one process would halve the global batch
    assert alone.returncode == 2 and "--num-processes: 2 in the run, 1 now" in alone.stderr

    done = run_odin(*resume, "--num-processes", "2")
    assert done.returncode == 0, done.stderr[-4000:]
    assert the_run_dir(out) == run
    training = json.loads((run / "metrics.json").read_text())["training"]
    assert training["resumed_from_step"] >= 4 and training["steps"] == 12 and training["processes"] == 2
    resumed, straight = logged_losses(run), logged_losses(runs["two"])
    assert sorted(resumed) == list(range(1, 13))
    for step in straight:  # the same processes, data order and RNG states: the same numbers
        assert resumed[step] == pytest.approx(straight[step], rel=1e-5), f"step {step}"


# --- bad input: one clear error, before any process starts ---------------------------------------------------

@pytest.mark.timeout(120)
@pytest.mark.parametrize("count", ["0", "-2"])
def test_num_processes_below_one_is_refused(count):
    done = run_odin("run", "recipes/quickstart.toml", "--num-processes", count)
    assert done.returncode == 2
    assert f"Invalid value for '--num-processes': {count} is not in the range 1<=x<=" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.timeout(120)
def test_a_missing_or_unreadable_accelerate_config_is_named(tmp_path):
    missing = tmp_path / "nowhere.yaml"
    done = run_odin("run", "recipes/quickstart.toml", "--accelerate-config", str(missing))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [
        f"error: {missing}: no such Accelerate config file (--accelerate-config); write one with `accelerate "
        "config` or start from recipes/accelerate/"]
    listed = tmp_path / "list.yaml"
    listed.write_text("- distributed_type: MULTI_GPU\n")
    done = run_odin("run", "recipes/quickstart.toml", "--accelerate-config", str(listed))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert f"{listed}: is not an Accelerate config" in done.stderr
    broken = tmp_path / "broken.yaml"
    broken.write_text("num_processes: 2\ndistributed_type: [MULTI_GPU\n")
    done = run_odin("run", "recipes/quickstart.toml", "--accelerate-config", str(broken))
    assert done.returncode == 2 and "Traceback" not in done.stderr and str(broken) in done.stderr


@pytest.mark.timeout(120)
def test_a_recipe_error_is_reported_once_before_launching(tmp_path):
    done = run_odin("run", "recipes/quickstart.toml", "--set", "training.batch_size=0", "--num-processes", "2",
                    "--output-dir", str(tmp_path))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.count("error:") == 1 and "training.batch_size" in done.stderr
    assert not any(tmp_path.iterdir())  # nothing was launched, no run directory made


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name, kind", [("ddp", "MULTI_GPU"), ("fsdp", "FSDP"), ("deepspeed_zero2", "DEEPSPEED")])
def test_shipped_accelerate_configs_load_in_accelerate(name, kind):
    from accelerate.commands.config.config_args import load_config_from_file

    path = REPO / "recipes" / "accelerate" / f"{name}.yaml"
    config = load_config_from_file(str(path))
    assert str(config.distributed_type).rsplit(".", 1)[-1] == kind
    assert config.num_processes == yaml.safe_load(path.read_text())["num_processes"] == 2
    if kind == "DEEPSPEED":
        assert config.deepspeed_config["zero_stage"] == 2
