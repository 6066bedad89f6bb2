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
