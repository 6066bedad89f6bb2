"""The surface a newcomer touches (issue 24): Odin's environment in one's own shell."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, run_odin


@pytest.mark.timeout(300)
def test_scripts_shell_runs_a_command_in_odins_environment_from_where_it_was_called(tmp_path):
    # scripts/env.sh rebuilds an environment it did not finish making: only the suite's own one is safe to name
    assert (Path(sys.prefix) / ".odin-complete").is_file(), "run the suite through scripts/test (README)"
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV",)}
    env["ODIN_VENV"] = sys.prefix  # the environment the suite runs in (scripts/env.sh made it)
    done = subprocess.run([str(REPO / "scripts" / "shell"), "python", "-c",
                           "import os, sys, shutil; print(os.getcwd()); print(sys.prefix); print(shutil.which('odin'))"],
                          cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    cwd, prefix, odin = done.stdout.split("\n")[:3]
    assert Path(cwd) == tmp_path and Path(prefix) == Path(sys.prefix)
    assert Path(odin) == Path(sys.prefix) / "bin" / "odin"


@pytest.mark.timeout(120)
def test_odin_env_activate_prints_the_line_that_activates_its_environment():
    done = run_odin("env", "--activate")
    if sys.prefix == sys.base_prefix:
        assert done.returncode == 2 and "not running in a virtual environment" in done.stderr
    else:
        assert done.returncode == 0 and done.stdout == f"source {Path(sys.prefix) / 'bin' / 'activate'}\n"


@pytest.mark.timeout(600)
def test_a_third_engine_is_a_component_a_plugin_registers(core_plugin, write_recipe, tmp_path):
    """An engine registered from Python (as a plugin would) loads, wraps, trains and generates a run: nothing in
    the core or the built-in plugins names the engine."""
    import odin_core
    from odin_core.components.plugins import invalidate
    from training_support import recipe_text, toy_datasets, train_run

    calls = []

    @odin_core.register_engine("test.recording")
    class RecordingEngine:
        """The transformers engine, with each call recorded."""

        fused_loss = False

        def __init__(self, options):
            self.inner = odin_core.get_engine("transformers")

        def __getattr__(self, name):
            calls.append(name)
            return getattr(self.inner, name)

    try:
        recipe = write_recipe(recipe_text(engine="test.recording", max_steps=2, save_steps=2))
        summary, loaded, _ = train_run(recipe, tmp_path / "run", toy_datasets(train=32))
        assert summary["engine"] == "test.recording" and summary["steps"] == 2 and loaded.engine == "test.recording"
        assert {"prepare", "load", "add_adapter", "trainer"} <= set(calls), calls
        from odin_core.evaluate.generation import inference_mode
        from odin_core.foundation.errors import RecipeError
        from odin_core.recipe import load_recipe

        with inference_mode(loaded):
            pass
        assert "generating" in calls
        with pytest.raises(RecipeError) as caught:
            load_recipe(write_recipe(recipe_text(engine="test.recordin"), name="bad.toml"))
        assert caught.value.key == "training.engine" and "did you mean 'test.recording'" in caught.value.message
    finally:
        from odin_core.components.plugins import _local

        _local["engine"][:] = [e for e in _local["engine"] if e[0] != "test.recording"]
        invalidate()
