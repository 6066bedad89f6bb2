"""``odin new plugin`` end to end (generate, pip install -e, list, validate, its own tests, a toy run) and
``odin new recipe`` (a commented recipe that ``odin validate`` accepts)."""

import json
import os
import subprocess
import sys
import tomllib

import pytest

from conftest import run_odin

pytestmark = pytest.mark.timeout(600)

ALL_KINDS = "source,encoder,task,evaluator,tracker,model_loader,lora_strategy"


@pytest.fixture(scope="module")
def installed_plugin(tmp_path_factory):
    """A generated plugin with every kind, pip-installed in editable mode into this environment; uninstalled
    afterwards (the environment is shared)."""
    name = f"probe{os.getpid()}"
    folder = tmp_path_factory.mktemp("new") / f"odin-{name}"
    result = run_odin("new", "plugin", name, "--kinds", ALL_KINDS, "--output", str(folder))
    assert result.returncode == 0, result.stderr
    install = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "-e",
               str(folder)]
    done = subprocess.run(install, capture_output=True, text=True)
    try:
        assert done.returncode == 0, done.stderr
        yield name, folder
    finally:
        subprocess.run([sys.executable, "-m", "pip", "uninstall", "--quiet", "-y", f"odin-{name}"],
                       capture_output=True, text=True)


def test_plugin_files(tmp_path):
    result = run_odin("new", "plugin", "stars", "--kinds", "encoder,task", "--output", str(tmp_path / "p"))
    assert result.returncode == 0, result.stderr
    project = tomllib.loads((tmp_path / "p" / "pyproject.toml").read_text())["project"]
    assert project["name"] == "odin-stars" and project["dependencies"] == ["odin-slm"]
    assert project["entry-points"]["odin"] == {"stars": "odin_stars"}
    code = (tmp_path / "p" / "odin_stars" / "__init__.py").read_text()
    assert "def register_encoders(register)" in code and "def register_tasks(register)" in code
    assert "register_sources" not in code
    again = run_odin("new", "plugin", "stars", "--output", str(tmp_path / "p"))
    assert again.returncode == 2 and "non-empty folder" in again.stderr
    bad = run_odin("new", "plugin", "Bad-Name", "--output", str(tmp_path / "q"))
    assert bad.returncode == 2 and "plugin name 'Bad-Name'" in bad.stderr
    unknown = run_odin("new", "plugin", "x", "--kinds", "encoder,widget", "--output", str(tmp_path / "r"))
    assert unknown.returncode == 2 and "unknown component kind(s) widget" in unknown.stderr


def test_installed_plugin_is_listed_validated_and_tested(installed_plugin):
    name, folder = installed_plugin
    listed = run_odin("plugins", "--json")
    assert listed.returncode == 0, listed.stderr
    row = next(r for r in json.loads(listed.stdout)["plugins"] if r["name"] == name)
    assert row["distribution"] == f"odin-{name}"
    assert row["components"] == {
        "source": [f"{name}.rings"], "encoder": [f"{name}.list"], "task": [f"{name}.smallest_hyperedge"],
        "model_loader": [f"{name}.tiny"], "lora_strategy": [f"{name}.small_lora"],
        "evaluator": [f"{name}.answer_length"], "tracker": [f"{name}.print"]}
    valid = run_odin("validate", str(folder / "example.toml"))
    assert valid.returncode == 0 and f"loader {name}.tiny, strategy {name}.small_lora" in valid.stdout
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(folder / "tests")],
                           capture_output=True, text=True, cwd=folder)
    assert tests.returncode == 0 and "7 passed" in tests.stdout, tests.stdout[-2000:]


@pytest.mark.slow
def test_toy_run_with_the_new_components(installed_plugin, tmp_path):
    name, folder = installed_plugin
    result = run_odin("run", str(folder / "example.toml"), "--output-dir", str(tmp_path / "runs"),
                      env_extra={"OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    run_dir = next((tmp_path / "runs").iterdir())
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["training"]["steps"] == 2
    assert metrics["trained"]["metrics"][f"{name}.answer_length"]["rows"] == 8
    tasks = {json.loads(line)["task"] for line in (run_dir / "predictions-trained.jsonl").read_text().splitlines()}
    assert f"{name}.smallest_hyperedge" in tasks
    assert f"{name}: run completed" in (run_dir / "odin.log").read_text()


@pytest.mark.parametrize("args", [[], ["--model", "smollm2-135m-instruct"],
                                  ["--strategy", "finetune.full", "--source", "hypernetx.structures",
                                   "--encodings", "hypernetx.inc_mat", "--tasks", "low_order,hypernetx.reachability"]])
def test_new_recipe_validates(tmp_path, args):
    path = tmp_path / "new.toml"
    result = run_odin("new", "recipe", *args, "--output", str(path))
    assert result.returncode == 0, result.stderr
    text = path.read_text()
    assert "# r = 16  # adapter rank" in text or "finetune.full" in text
    assert "# learning_rate = 0.0002" in text
    # the recipe's own keys too, not only the components' options
    for line in ('# output_dir = "runs"', "# max_prompt_tokens =", '# rationale = "none"', '# cache_dir = ".odin_cache'):
        assert line in text, line
    valid = run_odin("validate", str(path))
    assert valid.returncode == 0, valid.stderr
    if args:
        assert "loader models.llama" in valid.stdout or "strategy finetune.full" in valid.stdout


def test_new_recipe_names_an_unknown_component(tmp_path):
    result = run_odin("new", "recipe", "--loader", "models.nope")
    assert result.returncode == 2 and "unknown model loader 'models.nope'" in result.stderr
