"""Run directories: atomic writes, JSON lines that survive a torn write, resolved recipe and environment."""

import json
import os

import pytest

from odin_core.foundation.files import atomic_write_text
from odin_core.recipe import load_recipe
from odin_core.runtime.rundir import RunDir


def test_atomic_write_leaves_old_file_when_interrupted(tmp_path, monkeypatch):
    target = tmp_path / "metrics.json"
    atomic_write_text(target, "old")

    def fail(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(KeyboardInterrupt):
        atomic_write_text(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]  # no temp file left behind


def test_run_dir_layout(core_plugin, write_recipe, tmp_path):
    recipe = load_recipe(write_recipe())
    first = RunDir.create(recipe, tmp_path / "runs")
    second = RunDir.create(recipe, tmp_path / "runs")
    assert first.path != second.path and first.path.name.startswith("core-test-")
    first.write_start_files()
    assert load_recipe(first.file("recipe.toml")).resolved() == recipe.resolved() | {}
    env = json.loads(first.file("environment.json").read_text())
    assert env["packages"]["pluggy"] and env["python"]


def test_jsonl_skips_torn_last_line(tmp_path):
    run = RunDir(tmp_path)
    run.append_jsonl("metrics.jsonl", {"step": 1, "loss": 2.0})
    with open(tmp_path / "metrics.jsonl", "a") as fh:
        fh.write('{"step": 2, "lo')
    assert run.read_jsonl("metrics.jsonl") == [{"step": 1, "loss": 2.0}]


def test_atomic_writes_give_ordinary_permissions(tmp_path):
    import stat

    from odin_core.foundation.files import atomic_write_dir

    mask = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "report.md", "x")
        atomic_write_dir(tmp_path / "folder", lambda tmp: (tmp / "a").write_text("y"))
    finally:
        os.umask(mask)
    assert stat.S_IMODE((tmp_path / "report.md").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "folder").stat().st_mode) == 0o755
