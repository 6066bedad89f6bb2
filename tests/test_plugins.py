"""Plugin discovery: entry points, third-party plugins (one working, one broken), the env filter,
registration from Python, and a CLI that starts without heavy imports."""

import json
import sys

import pytest

import odin_core
from conftest import run_odin
from odin_core.components.plugins import get_component, plugin_infos, registry
from odin_core.recipe import load_recipe

BUILTIN_PLUGINS = {"hypernetx", "models", "finetune", "metrics", "trackers"}

THIRD_PARTY_RECIPE = """\
name = "third-party"
[model]
loader = "models.scratch"
[data]
encodings = ["example.edge_list", "hypernetx.n_set"]
tasks = ["vertex_count"]
[[data.sources]]
name = "hypernetx.synthetic"
"""


def test_builtin_plugins_are_entry_points_with_components():
    out = run_odin("plugins", "--json")
    assert out.returncode == 0, out.stderr
    listing = json.loads(out.stdout)
    names = {p["name"] for p in listing["plugins"]}
    assert BUILTIN_PLUGINS <= names
    by_name = {p["name"]: p for p in listing["plugins"]}
    assert by_name["hypernetx"]["distribution"] == "odin-slm"
    assert "hypernetx.n_set" in by_name["hypernetx"]["components"]["encoder"]
    assert "register_encoders" in by_name["hypernetx"]["hooks"]
    assert "finetune.lora" in by_name["finetune"]["components"]["lora_strategy"]
    assert "models.scratch" in by_name["models"]["components"]["model_loader"]


def test_third_party_plugin_is_listed_and_its_encoder_validates(example_plugins_path, tmp_path):
    env = {"PYTHONPATH": str(example_plugins_path)}
    out = run_odin("plugins", "--json", env_extra=env)
    assert out.returncode == 0, out.stderr
    listing = json.loads(out.stdout)
    example = next(p for p in listing["plugins"] if p["name"] == "example")
    assert example["distribution"] == "odin-example-plugin" and example["version"] == "1.2.0"
    assert example["components"] == {"encoder": ["example.edge_list"]}
    # the broken plugin is reported, with its distribution and error, and the CLI keeps working
    broken = {b["name"]: b for b in listing["broken"]}
    assert broken["broken"]["distribution"] == "odin-broken-plugin"
    assert "simulated import failure" in broken["broken"]["error"]

    recipe = tmp_path / "third.toml"
    recipe.write_text(THIRD_PARTY_RECIPE)
    out = run_odin("validate", str(recipe), env_extra=env)
    assert out.returncode == 0, out.stderr
    out = run_odin("example-hello", env_extra=env)
    assert out.returncode == 0 and "hello from odin-example-plugin" in out.stdout

    human = run_odin("plugins", env_extra=env)
    assert "BROKEN broken (odin-broken-plugin 0.0.1)" in human.stdout


def test_unknown_encoder_without_the_plugin_names_the_problem(tmp_path):
    recipe = tmp_path / "third.toml"
    recipe.write_text(THIRD_PARTY_RECIPE)
    out = run_odin("validate", str(recipe))
    assert out.returncode == 2
    assert "data.encodings.0" in out.stderr and "unknown encoder 'example.edge_list'" in out.stderr
    assert "hypernetx.n_set" in out.stderr  # lists what is registered
    assert "Traceback" not in out.stderr


def test_load_plugins_env_filters_entry_points(example_plugins_path):
    env = {"PYTHONPATH": str(example_plugins_path), "ODIN_LOAD_PLUGINS": ""}
    listing = json.loads(run_odin("plugins", "--json", env_extra=env).stdout)
    assert listing == {"plugins": [], "broken": [], "clashes": []}
    env["ODIN_LOAD_PLUGINS"] = "example,finetune"
    listing = json.loads(run_odin("plugins", "--json", env_extra=env).stdout)
    assert {p["name"] for p in listing["plugins"]} == {"example", "finetune"}
    assert listing["broken"] == []


def test_hook_filter():
    listing = json.loads(run_odin("plugins", "--json", "--hook", "register_evaluators").stdout)
    assert [p["name"] for p in listing["plugins"]] == ["metrics"]


def test_register_encoder_from_python_is_used_by_recipes(core_plugin, write_recipe):
    @odin_core.register_encoder("notebook.upper")
    class UpperEncoder:
        order = "high"

        def __init__(self, options):
            pass

        def encode(self, graph, name="G"):
            return f"{name} HAS " + " ".join(str(len(e)) for e in graph.edges)

    try:
        assert get_component("encoder", "notebook.upper").plugin == "python"
        path = write_recipe()
        recipe = load_recipe(path, ['data.encodings=["notebook.upper"]'])
        from odin_core.data import build_dataset

        datasets, report = build_dataset(recipe)
        prompts = datasets["train"]["prompt"]
        assert prompts and all("G HAS 3 2" in p for p in prompts)
        assert set(datasets["train"]["encoding"]) == {"notebook.upper"}
    finally:
        from odin_core.components import plugins

        plugins._local["encoder"].clear()
        plugins.invalidate()


def test_plugin_raising_while_registering_is_broken_not_fatal():
    class Faulty:
        @odin_core.hookimpl
        def register_encoders(self, register):
            raise ValueError("bad registration")

    odin_core.register_plugin(Faulty(), name="faulty")
    try:
        comps = registry()
        assert "hypernetx.n_set" in comps["encoder"]  # the others still register
        from odin_core.components.plugins import broken_plugins

        assert any(b.name == "faulty" and "bad registration" in b.error for b in broken_plugins())
        assert "faulty" not in {p.name for p in plugin_infos()}
    finally:
        from odin_core.components import plugins

        plugins._broken[:] = [b for b in plugins._broken if b.name != "faulty"]
        plugins.invalidate()


@pytest.mark.parametrize("args", [["--help"], ["plugins"], ["schema"], ["validate", "recipes/quickstart.toml"],
                                  ["new", "recipe"], ["estimate", "--help"]])
def test_light_commands_do_not_import_heavy_libraries(args):
    code = (
        "import sys\n"
        "from odin_core.cli import main\n"
        f"sys.argv = ['odin', *{args!r}]\n"
        "try:\n    main()\nexcept SystemExit as exc:\n    rc = exc.code\n"
        "heavy = sorted(m for m in ('torch', 'transformers', 'unsloth', 'trl', 'datasets', 'peft', 'hypernetx')"
        " if m in sys.modules)\n"
        "print('HEAVY', heavy, 'RC', rc, file=sys.stderr)\n"
    )
    import subprocess

    from conftest import REPO

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert "HEAVY [] RC 0" in out.stderr, out.stderr
