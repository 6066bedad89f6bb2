"""The wandb tracker, offline (no network, no account): config, metrics and summary are recorded, and an
API key in the environment never reaches the run directory."""

import time

import pytest

from odin_core.recipe import load_recipe
from odin_core.runtime.events import RunEvents
from odin_core.runtime.rundir import RunDir
from odin_trackers import MASK, redact
from training_support import recipe_text, toy_datasets, train_run

FAKE_KEY = "0d1n" + "7e57" * 9  # 40 characters, the shape of a wandb API key

TRACKING = """
[[tracking]]
name = "trackers.wandb"
project = "odin-tests"
mode = "offline"
tags = ["test"]
"""


@pytest.fixture
def offline(monkeypatch, tmp_path):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_API_KEY", FAKE_KEY)
    monkeypatch.setenv("WANDB_SILENT", "true")
    folder = tmp_path / "wandb-dir"
    monkeypatch.setenv("WANDB_DIR", str(folder))
    return folder


def wandb_log_containing(log, *needles, timeout=60.0):
    """The bytes of a .wandb log once it holds every needle: wandb's service process writes it
    asynchronously, and under load it can lag behind ``finish()`` returning."""
    deadline = time.monotonic() + timeout
    while True:
        data = log.read_bytes()
        if all(n in data for n in needles) or time.monotonic() > deadline:
            return data
        time.sleep(0.2)


def files_under(*folders):
    return [p for folder in folders if folder.exists() for p in folder.rglob("*") if p.is_file()]


def assert_no_key(*folders):
    for path in files_under(*folders):
        assert FAKE_KEY.encode() not in path.read_bytes(), path


def test_offline_tracker_records_a_run_without_leaking_the_key(core_plugin, write_recipe, tmp_path, offline):
    recipe = load_recipe(write_recipe(recipe_text() + TRACKING))
    run = RunDir.create(recipe, tmp_path / "runs")
    run.write_start_files()
    events = RunEvents(run)
    assert [name for name, _ in events.trackers] == ["trackers.wandb"]
    events.start()
    events.metrics(1, {"loss": 2.5, "learning_rate": 1e-3})
    events.metrics(2, {"loss": 2.0, "learning_rate": 5e-4})
    events.end("completed", {"steps": 2, "final_loss": 2.0, "adapter_dir": str(run.path / "adapter")})

    runs = list((offline / "wandb").glob("offline-run-*"))
    log_file = run.path / "odin.log"  # a failing tracker call is reported there
    assert len(runs) == 1, (files_under(offline), log_file.read_text() if log_file.exists() else "")
    [log] = runs[0].glob("run-*.wandb")
    data = wandb_log_containing(log, b"odin-tests", b"final_loss", b"learning_rate")
    assert b"odin-tests" in data and b"final_loss" in data and b"learning_rate" in data
    assert not (run.path / "wandb").exists()  # WANDB_DIR wins over the run directory
    assert_no_key(run.path, offline)
    assert not log_file.exists() or "warning" not in log_file.read_text()


def test_training_run_with_tracking_keeps_wandb_files_in_the_run_dir(core_plugin, write_recipe, tmp_path, offline,
                                                                     monkeypatch):
    monkeypatch.delenv("WANDB_DIR")
    recipe = write_recipe(recipe_text(max_steps=2, logging_steps=1, save_steps=2) + TRACKING)
    summary, _, run_dir = train_run(recipe, tmp_path / "run", toy_datasets(train=32))
    logs = list((run_dir.path / "wandb").glob("offline-run-*/run-*.wandb"))
    assert len(logs) == 1, (run_dir.path / "odin.log").read_text()
    [log] = logs
    data = wandb_log_containing(log, b"grad_norm", b"tokens_per_second", b"peak_memory_mb")
    assert b"grad_norm" in data and b"tokens_per_second" in data and b"peak_memory_mb" in data
    assert_no_key(run_dir.path)
    # no warning from tracking (an earlier test of the session may have imported unsloth: that notice is not one)
    warnings = [line for line in (run_dir.path / "odin.log").read_text().splitlines()
                if "warning" in line and "unsloth is imported in this process" not in line]
    assert warnings == []
    assert summary["steps"] == 2


def test_no_tracking_table_means_no_wandb(core_plugin, write_recipe, tmp_path, offline):
    recipe = load_recipe(write_recipe(recipe_text()))
    run = RunDir.create(recipe, tmp_path / "runs")
    events = RunEvents(run)
    events.start()
    events.end("completed", {})
    assert events.trackers == [] and not offline.exists() and not (run.path / "wandb").exists()


def test_secret_looking_config_values_are_masked():
    config = {"model": {"name": "x", "hf_token": "hf_abc"}, "tracking": [{"api_key": "k", "project": "p"}],
              "env": {"WANDB_API_KEY": "k2", "password": "p"}}
    assert redact(config) == {"model": {"name": "x", "hf_token": MASK}, "tracking": [{"api_key": MASK, "project": "p"}],
                              "env": {"WANDB_API_KEY": MASK, "password": MASK}}


def test_tracker_options_are_validated(core_plugin, write_recipe):
    from odin_core.foundation.errors import RecipeError

    with pytest.raises(RecipeError, match="tracking.0.api_key"):
        load_recipe(write_recipe(recipe_text() + TRACKING + 'api_key = "secret"\n'))
    with pytest.raises(RecipeError, match="tracking.0.mode"):
        load_recipe(write_recipe(recipe_text() + TRACKING.replace('"offline"', '"sometimes"')))
