"""The plugin surface a third party relies on: names, clashes, options from recipes, lifecycle hooks,
evaluator sections in the report, the Python API called twice, and one exit code per error."""

import json
from importlib import metadata
from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import BaseModel

import odin_core
from odin_core.cli import cli
from odin_core.components.plugins import get_component, registry
from odin_core.foundation.errors import RecipeError
from odin_core.recipe import load_recipe
from conftest import load_data_recipe, run_odin

pytestmark = pytest.mark.timeout(300)


def test_distribution_is_odin_slm_and_the_plugin_example_depends_on_it():
    assert metadata.version("odin-slm") == odin_core.__version__
    entry_points = {ep.name: ep.value for ep in metadata.entry_points(group="odin") if ep.dist.name == "odin-slm"}
    assert entry_points == {"hypernetx": "odin_hypernetx", "models": "odin_models", "finetune": "odin_finetune",
                            "metrics": "odin_metrics", "trackers": "odin_trackers"}
    # from a component's name to its code without pyproject.toml: <namespace>.x lives in plugins/odin_<namespace>
    plugins = Path(__file__).resolve().parent.parent / "plugins"
    assert all(module == f"odin_{name}" and (plugins / module / "__init__.py").is_file()
               for name, module in entry_points.items())


def test_every_builtin_component_is_namespaced_by_its_plugin():
    engines = set()
    for kind, components in registry().items():
        for name, component in components.items():
            if kind == "engine":  # named after the library stack each drives, as training.engine always was
                engines.add((name, component.plugin))
            elif component.plugin in {"hypernetx", "models", "finetune", "metrics", "trackers"}:
                assert name.startswith(component.plugin + "."), (kind, name)
    assert {("unsloth", "finetune"), ("transformers", "finetune")} <= engines


def test_deprecated_names_resolve_to_current_ones(write_recipe, capsys):
    path = write_recipe("""\
        name = "old-names"
        [model]
        loader = "scratch"
        [finetune]
        strategy = "lora"
        [data]
        tasks = ["reachability", "low_order"]
        encodings = ["hypernetx.n_set"]
        [[data.sources]]
        name = "hypernetx.synthetic"
        [[eval]]
        name = "task_accuracy"
        """)
    recipe = load_recipe(path)
    assert (recipe.model.loader, recipe.finetune.strategy, recipe.eval[0].name) == (
        "models.scratch", "finetune.lora", "metrics.task_accuracy")
    assert recipe.data.task_names == ["hypernetx.reachability", "low_order"]
    assert "loader" not in registry().components and registry()["loader"] is registry()["model_loader"]
    assert odin_core.register_loader is odin_core.register_model_loader
    assert "'scratch' is deprecated; use 'models.scratch'" in capsys.readouterr().err


class _Clashing:
    def __init__(self, name):
        self.name = name

    @odin_core.hookimpl
    def register_encoders(self, register):
        register("clash.encoder", lambda options: None)


def test_two_plugins_registering_one_name_is_an_error_naming_both():
    odin_core.register_plugin(_Clashing("a"), name="clash-a")
    odin_core.register_plugin(_Clashing("b"), name="clash-b")
    try:
        with pytest.raises(RecipeError) as info:
            get_component("encoder", "clash.encoder", key="data.encodings.0")
        assert "'clash-a'" in info.value.message and "'clash-b'" in info.value.message
        listing = json.loads(CliRunner().invoke(cli, ["plugins", "--json"]).output)
        (clash,) = listing["clashes"]
        assert (clash["kind"], clash["name"], sorted(clash["plugins"])) == ("encoder", "clash.encoder", ["clash-a", "clash-b"])
    finally:
        odin_core.unregister_plugin(name="clash-a")
        odin_core.unregister_plugin(name="clash-b")


def test_an_entry_point_taking_a_builtin_name_is_reported_with_both(tmp_path):
    site = tmp_path / "site"
    (site / "impostor").mkdir(parents=True)
    (site / "impostor" / "__init__.py").write_text("")
    info = site / "impostor-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: impostor\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[odin]\nhypernetx = impostor\n")
    out = run_odin("plugins", "--json", env_extra={"PYTHONPATH": str(site)})
    assert out.returncode == 0, out.stderr
    listing = json.loads(out.stdout)
    (broken,) = listing["broken"]
    assert broken["distribution"] == "impostor" and "entry point name 'hypernetx' clashes" in broken["error"]
    assert "'odin-slm'" in broken["error"]  # the built-in keeps its name
    assert "hypernetx.n_set" in {c for p in listing["plugins"] for c in p["components"].get("encoder", [])}


class SeparatorOptions(BaseModel):
    separator: str = "; "


class SeparatedEncoder:
    order = "high"

    def __init__(self, options):
        self.separator = options.separator

    def encode(self, graph, name="G"):
        return f"{name}: " + self.separator.join(" ".join(graph.names[v] for v in e) for e in graph.edges)


class OffsetOptions(BaseModel):
    offset: int = 0


class OffsetCountTask:
    family = "low_order"
    answer_kind = "count"
    needs_high_order = False

    def __init__(self, options):
        self.offset = options.offset

    def generate(self, graph, rng, want=None):
        return odin_core.Question([graph], f"How many hyperedges, plus {self.offset}?", "count",
                                  graph.num_edges + self.offset)


class OptionsPlugin:
    @odin_core.hookimpl
    def register_encoders(self, register):
        register("opts.separated", SeparatedEncoder, options=SeparatorOptions)

    @odin_core.hookimpl
    def register_tasks(self, register):
        register("opts.offset_count", OffsetCountTask, options=OffsetOptions)


@pytest.fixture
def options_plugin(core_plugin):
    odin_core.register_plugin(OptionsPlugin(), name="opts")
    yield
    odin_core.unregister_plugin(name="opts")


def test_encoder_and_task_options_are_set_from_the_recipe(options_plugin, write_recipe, tmp_path):
    path = write_recipe(f"""\
        name = "options"
        [data]
        encodings = [{{ name = "opts.separated", separator = " || " }}]
        tasks = [{{ name = "opts.offset_count", offset = 10 }}]
        cache_dir = "{tmp_path / 'cache'}"
        [data.num_examples]
        train = 4
        validation = 0
        test = 0
        [[data.sources]]
        name = "test.source"
        """)
    recipe = load_data_recipe(path)
    assert recipe.data.resolved()["encodings"] == [{"name": "opts.separated", "separator": " || "}]
    dataset = odin_core_data().load_or_build(recipe)["train"]
    for row in dataset:
        assert " || " in row["prompt"] and "plus 10?" in row["prompt"]
        assert row["completion"] == " Ans: [12]"  # the triangle source's 2 hyperedges + 10
    with pytest.raises(RecipeError) as info:
        load_data_recipe(path, ['data.encodings=[{ name = "opts.separated", separatr = "x" }]'])
    assert info.value.key == "data.encodings.0.separatr" and "did you mean 'separator'" in info.value.message
    with pytest.raises(RecipeError) as info:
        load_data_recipe(path, ['data.tasks=[{ name = "opts.offset_count", offset = "many" }]'])
    assert "data.tasks.0.offset" in info.value.message
    with pytest.raises(RecipeError, match="takes no options"):
        load_data_recipe(path, ['data.tasks=[{ name = "all", offset = 1 }]'])


def odin_core_data():
    from odin_core import data

    return data


# --- a tiny real run with plugins: lifecycle hooks, evaluator sections, the Python API twice -------------

TINY_RUN = """\
name = "api"
seed = 3

[model]
loader = "models.scratch"
max_seq_length = 256
num_layers = 1
hidden_size = 32
num_heads = 2
vocab_size = 300

[finetune]
strategy = "finetune.lora"
r = 4
alpha = 8
gradient_checkpointing = false

[data]
encodings = ["test.encoder"]
tasks = ["test.edge_count"]
cache_dir = "{cache}"

[data.num_examples]
train = 16
validation = 4
test = 6

[[data.sources]]
name = "hypernetx.synthetic"
count = 40

[training]
engine = "transformers"
max_steps = 2
batch_size = 4
logging_steps = 1
save_steps = 100

[generation]
batch_size = 8
max_new_tokens = 6
evaluate_base = false

[[eval]]
name = "metrics.task_accuracy"

[[eval]]
name = "probe.lengths"

[[eval]]
name = "probe.sectioned"
"""


class LengthEvaluator:
    """Mean length of the generated answers (no report section of its own)."""

    requires_columns = ("prompt",)

    def __init__(self, options):
        pass

    def evaluate(self, context):
        if not context.has_model:
            return {"skipped": "no model"}
        return {"mean_chars": sum(map(len, context.generations)) / len(context.generations), "rows": len(context.examples)}


class SectionedEvaluator(LengthEvaluator):
    def report_section(self, stages):
        return "## Probe section\n\n" + ", ".join(f"{label}: {m.get('rows')}" for label, m in stages.items())


class ProbePlugin:
    def __init__(self):
        self.ended = []

    @odin_core.hookimpl
    def register_evaluators(self, register):
        register("probe.lengths", LengthEvaluator)
        register("probe.sectioned", SectionedEvaluator)

    @odin_core.hookimpl
    def odin_run_end(self, run, status, summary):
        self.ended.append((run.path, status))


class FailingHooks:
    @odin_core.hookimpl
    def odin_run_start(self, run):
        raise RuntimeError("dashboard is down")

    @odin_core.hookimpl
    def odin_run_end(self, run, status):  # implementations may take a subset of the arguments
        raise RuntimeError("still down")


@pytest.fixture(scope="module")
def api_runs(tmp_path_factory):
    from conftest import CoreTestPlugin

    folder = tmp_path_factory.mktemp("api")
    recipe = folder / "api.toml"
    recipe.write_text(TINY_RUN.format(cache=folder / "cache"))
    probe = ProbePlugin()
    mine = odin_core.pm.get_plugin("core-test") is None
    if mine:
        odin_core.register_plugin(CoreTestPlugin(), name="core-test")
    odin_core.register_plugin(probe, name="probe")
    odin_core.register_plugin(FailingHooks(), name="failing")
    try:
        first = odin_core.run_recipe(recipe, output_dir=folder / "runs")
        second = odin_core.run(recipe, overrides=["training.max_steps=1"], output_dir=folder / "runs")
        third = odin_core.run_recipe(recipe, output_dir=folder / "runs")
    finally:
        odin_core.unregister_plugin(name="failing")
        odin_core.unregister_plugin(name="probe")
        if mine:
            odin_core.unregister_plugin(name="core-test")
    return [first, second, third], probe


@pytest.mark.slow
def test_python_api_runs_recipes_again_and_again(api_runs):
    results, _ = api_runs
    assert len({r.run_dir for r in results}) == 3
    assert [r.metrics["training"]["steps"] for r in results] == [2, 1, 2]
    assert callable(odin_core.run) and callable(odin_core.run_recipe)


@pytest.mark.slow
def test_a_failing_lifecycle_hook_is_named_and_the_others_still_run(api_runs):
    results, probe = api_runs
    assert [status for _, status in probe.ended] == ["completed"] * 3
    log = (results[0].run_dir / "odin.log").read_text()
    assert "plugin 'failing' hook odin_run_start failed: RuntimeError: dashboard is down" in log
    assert "plugin 'failing' hook odin_run_end failed: RuntimeError: still down" in log


@pytest.mark.slow
def test_plugin_evaluators_reach_the_report(api_runs):
    results, _ = api_runs
    metrics = json.loads((results[0].run_dir / "metrics.json").read_text())
    trained = metrics["trained"]["metrics"]
    # 6 asked; the core test source's few hypergraphs repeat prompts, and a split keeps each prompt once
    rows = metrics["trained"]["num_examples"]
    assert trained["probe.lengths"]["rows"] == rows and 0 < rows <= 6
    report = (results[0].run_dir / "report.md").read_text()
    generic = report.split("## probe.lengths\n", 1)[1].split("\n## ", 1)[0]
    assert "| stage | mean_chars | rows |" in generic
    assert f"| trained | {trained['probe.lengths']['mean_chars']:.3f} | {rows} |" in generic
    assert "| majority | – | – |" in generic or "majority" not in generic  # the baseline has no generations
    assert f"## Probe section\n\ntrained: {rows}" in report


def test_not_a_run_directory_is_one_message_with_exit_code_2(tmp_path):
    folder = tmp_path / "not-a-run"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    runner = CliRunner()
    for args in (["eval", str(folder)], ["export", str(folder), "--merged"], ["report", str(folder)],
                 ["compare", str(folder)], ["run", "recipes/quickstart.toml", "--resume", str(folder)]):
        result = runner.invoke(cli, args)
        assert result.exit_code == 2, (args, result.output)
        assert "not a run directory" in result.output and "Traceback" not in result.output, args
    assert (folder / "notes.txt").read_text() == "mine" and len(list(folder.iterdir())) == 1


def test_plugins_import_only_the_public_surface_and_never_each_other():
    import ast
    from pathlib import Path

    plugins = Path(__file__).resolve().parent.parent / "plugins"
    packages = {p.name for p in plugins.iterdir() if (p / "__init__.py").is_file()}
    allowed = {"odin_core", "odin_core.foundation.markdown"}
    offenders = []
    for path in plugins.rglob("*.py"):
        own = path.relative_to(plugins).parts[0]

        def refused(module: str) -> bool:
            top = module.split(".")[0]
            if top == "odin_core":
                return module not in allowed
            return top in packages and top != own  # another plugin

        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and refused(node.module):
                offenders.append(f"{path.relative_to(plugins)}: {node.module}")
            elif isinstance(node, ast.Import):
                offenders += [f"{path.relative_to(plugins)}: {a.name}" for a in node.names if refused(a.name)]
    assert not offenders, offenders
