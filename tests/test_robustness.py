"""Nothing lost, nothing run that was not asked for: the bad inputs and faults of issue 12, one regression test
each (the table in docs/robustness.md lists them with what each yields)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import REPO, run_odin
from odin_core.cli import cli
from odin_core.errors import DataError, RecipeError
from odin_core.files import atomic_write_dir
from odin_core.flows.run import RunFlow
from odin_core.recipe import load_recipe

QUICKSTART = REPO / "recipes" / "quickstart.toml"


def odin(*args, cwd=None):
    """The CLI in this process (the core test components registered here are visible to it)."""
    if cwd is None:
        result = CliRunner().invoke(cli, [str(a) for a in args])
    else:
        before = os.getcwd()
        os.chdir(cwd)
        try:
            result = CliRunner().invoke(cli, [str(a) for a in args])
        finally:
            os.chdir(before)
    return result.exit_code, result.output


def started_run(recipe_path, output_dir, overrides=()) -> Path:
    """A run directory as step 2 of ``odin run`` makes it (resolved recipe.toml, environment, log)."""
    flow = RunFlow(load_recipe(recipe_path, list(overrides)), output_dir=output_dir)
    flow.setup_run_dir()
    return flow.run_dir.path


def snapshot(folder: Path) -> dict:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# --- 1. export never deletes what it did not write ------------------------------------------------


@pytest.mark.timeout(120)
def test_export_refuses_a_folder_it_did_not_write_and_the_run_itself(tmp_path):
    run = started_run(QUICKSTART, tmp_path / "runs")
    unrelated = tmp_path / "some" / "folder"
    unrelated.mkdir(parents=True)
    (unrelated / "thesis.tex").write_text("years of work")
    before_run, before_folder = snapshot(run), snapshot(unrelated)
    for target, words in ((unrelated, "not an earlier export by Odin"), (run, "is the run directory"),
                          (run.parent, "is the run directory"), (run / "recipe.toml", "is a file")):
        code, out = odin("export", run, "--merged", "--output", target)
        assert code == 2 and words in out and "Traceback" not in out, out
    code, out = odin("export", run, "--merged", "--output", ".", cwd=unrelated)  # the working directory
    assert code == 2 and "not an earlier export by Odin" in out, out
    assert snapshot(run) == before_run and snapshot(unrelated) == before_folder


@pytest.mark.timeout(60)
def test_a_replaced_export_is_kept_until_the_new_one_is_complete(tmp_path):
    target = tmp_path / "export"
    atomic_write_dir(target, lambda tmp: (tmp / "model.safetensors").write_text("old"))

    def fail_halfway(tmp):
        (tmp / "model.safetensors").write_text("half")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        atomic_write_dir(target, fail_halfway)
    assert (target / "model.safetensors").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export"]  # no temporary folder left


# --- 2. --resume finds only this recipe's own runs ---------------------------------------------------


@pytest.mark.timeout(60)
def test_resume_latest_never_picks_another_recipes_run(core_plugin, write_recipe, tmp_path):
    from conftest import MINIMAL_RECIPE

    other = write_recipe(MINIMAL_RECIPE.replace('name = "core-test"', 'name = "pre-x"'), name="pre-x.toml")
    mine = write_recipe(MINIMAL_RECIPE.replace('name = "core-test"', 'name = "pre"'), name="pre.toml")
    run = started_run(other, tmp_path / "runs")
    before = snapshot(run)
    code, out = odin("run", mine, "--resume", "--output-dir", tmp_path / "runs")
    assert code == 2 and "no earlier run of 'pre'" in out, out
    assert snapshot(run) == before  # the other recipe's recipe.toml is not rewritten


# --- 3. --resume refuses folders that are not runs, and changed training settings ----------------------


@pytest.mark.timeout(60)
def test_resume_refuses_a_data_folder(core_plugin, write_recipe, tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "graph.hif.json").write_text("{}")
    code, out = odin("run", write_recipe(), "--resume", folder)
    assert code == 2 and "not a run directory" in out, out
    assert [p.name for p in folder.iterdir()] == ["graph.hif.json"]


@pytest.mark.timeout(60)
def test_resume_refuses_changed_training_settings_unless_allowed(core_plugin, write_recipe, tmp_path):
    recipe = write_recipe()
    run = started_run(recipe, tmp_path / "runs")
    before = snapshot(run)
    code, out = odin("run", recipe, "--resume", run, "--set", "training.learning_rate=0.5",
                     "--set", "data.num_examples.train=7")
    assert code == 2, out
    assert "training.learning_rate: 0.0002 in the run, 0.5 now" in out and "data.num_examples.train" in out
    assert "--allow-changes" in out and snapshot(run) == before
    # settings that do not change the trained weights may differ
    flow = RunFlow(load_recipe(recipe, ["training.logging_steps=1", "generation.max_examples=3"]), resume=str(run))
    flow.setup_run_dir()
    # with the flag: resumed, and the changes recorded in the run directory
    flow = RunFlow(load_recipe(recipe, ["training.learning_rate=0.5"]), resume=str(run), allow_changes=True)
    flow.setup_run_dir()
    (record,) = [json.loads(line) for line in (run / "resumes.jsonl").read_text().splitlines()]
    assert record["changes"] == {"training.learning_rate": {"run": 0.0002, "now": 0.5}}
    assert "--allow-changes" in (run / "odin.log").read_text()
