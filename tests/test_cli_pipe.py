"""Output piped into a reader that stops early (``odin data show ... | head``) ends quietly with exit code 0."""

import subprocess
import sys

import pytest

from conftest import REPO

pytestmark = pytest.mark.timeout(300)


def read_then_close(args, lines=2, merged=False):
    """Run ``odin ARGS`` with stdout (and with ``merged`` stderr) into a pipe, read ``lines`` lines, close the
    pipe as ``head`` does."""
    process = subprocess.Popen([sys.executable, "-m", "odin_core", *args], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT if merged else subprocess.PIPE, cwd=REPO)
    got = [process.stdout.readline() for _ in range(lines)]
    process.stdout.close()
    stderr = "" if merged else process.stderr.read().decode()
    process.wait(timeout=240)
    return process.returncode, got, stderr


@pytest.mark.parametrize("merged", [False, True], ids=["stdout", "stdout-and-stderr"])
def test_data_show_into_a_closed_pipe(tmp_path, merged):
    args = ["data", "show", "recipes/quickstart.toml", "-n", "200", "--set", f"data.cache_dir={tmp_path}",
            "--set", "data.num_examples.train=300", "--set", "data.num_examples.test=17",
            "--set", "data.num_examples.validation=0", "--set", "data.sources.0.count=60"]
    code, got, stderr = read_then_close(args, merged=merged)
    assert got[-1].startswith(b"G describes a hypergraph")
    assert code == 0, stderr
    assert "BrokenPipeError" not in stderr and "bug" not in stderr and "Traceback" not in stderr


@pytest.mark.parametrize("args", [["schema"], ["--help"], ["plugins"]])
def test_other_output_into_a_closed_pipe(args):
    code, got, stderr = read_then_close(args, lines=1)
    assert got[0]
    assert code == 0 and "BrokenPipeError" not in stderr and "Exception ignored" not in stderr, stderr
