"""Shared fixtures: core test components registered from Python, CLI runners, installed example plugins."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from pydantic import BaseModel

import odin_core
from odin_core.components.protocols import Question
from odin_core.questions.hypergraph import Hypergraph
from odin_core.recipe import load_recipe

REPO = Path(__file__).resolve().parent.parent
EXAMPLE_PLUGINS = REPO / "tests" / "plugins"


class CoreTestPlugin:
    """Minimal components for exercising the core without the built-in plugins' behaviour."""

    class SourceOptions(BaseModel):
        count: int = 3

    class TriangleSource:
        def __init__(self, options):
            self.count = options.count

        def hypergraphs(self, seed, base_dir):
            for i in range(self.count):
                yield Hypergraph.from_edges([(0, 1, 2), (2, 3)], graph_id=f"tri-{seed}-{i}")

    class PlainEncoder:
        order = "high"

        def __init__(self, options):
            pass

        def encode(self, graph, name="G"):
            return f"{name}: " + "; ".join(" ".join(graph.names[v] for v in e) for e in graph.edges)

    class EdgeCountTask:
        family = "low_order"
        answer_kind = "count"
        needs_high_order = False

        def __init__(self, options):
            pass

        def generate(self, graph, rng, want=None):
            return Question([graph], "How many hyperedges?", "count", graph.num_edges)

    class LoaderOptions(BaseModel):
        hidden_size: int = 64

    class NoModelLoader:
        def __init__(self, options):
            self.options = options

        def load(self, model_section, strategy, run, train_texts):
            raise NotImplementedError("core tests never load a model")

    class FrozenStrategy:
        requires_cuda = False
        load_in_4bit = False
        full_finetuning = False

        def __init__(self, options):
            pass

        def apply(self, loaded, seed):
            return loaded.model

    @odin_core.hookimpl
    def register_lora_strategies(self, register):
        register("test.frozen", self.FrozenStrategy)

    @odin_core.hookimpl
    def register_sources(self, register):
        register("test.source", self.TriangleSource, options=self.SourceOptions)

    @odin_core.hookimpl
    def register_encoders(self, register):
        register("test.encoder", self.PlainEncoder)

    @odin_core.hookimpl
    def register_tasks(self, register):
        register("test.edge_count", self.EdgeCountTask)

    @odin_core.hookimpl
    def register_model_loaders(self, register):
        register("test.loader", self.NoModelLoader, options=self.LoaderOptions)


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny models run fastest on one thread (and do not fight other processes for the cores)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def core_plugin():
    """Register the core test components for one test (llm style: register, then unregister)."""
    existing = odin_core.pm.get_plugin("core-test")
    if existing is not None:  # a module fixture registered it for longer
        yield existing
        return
    plugin = CoreTestPlugin()
    odin_core.register_plugin(plugin, name="core-test")
    yield plugin
    odin_core.unregister_plugin(name="core-test")


MINIMAL_RECIPE = """\
name = "core-test"
seed = 7

[model]
loader = "test.loader"
hidden_size = 32

[finetune]
strategy = "test.frozen"

[data]
encodings = ["test.encoder"]
tasks = ["test.edge_count"]

[[data.sources]]
name = "test.source"
count = 4
"""


@pytest.fixture
def write_recipe(tmp_path):
    """Write TOML text to a file in tmp_path and return its path."""

    def write(text=MINIMAL_RECIPE, name="recipe.toml"):
        path = tmp_path / name
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return write


@pytest.fixture(scope="session")
def example_plugins_path(tmp_path_factory):
    """pip-install the two example third-party plugins into a private folder (for PYTHONPATH)."""
    target = tmp_path_factory.mktemp("site")
    for name in ("odin_example_plugin", "odin_broken_plugin"):
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                        "--target", str(target), str(EXAMPLE_PLUGINS / name)], check=True)
    return target


def run_odin(*args, env_extra=None, cwd=None):
    """Run the ``odin`` CLI in a fresh interpreter; returns the CompletedProcess."""
    env = dict(os.environ)
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "odin_core", *args], capture_output=True, text=True,
                          env=env, cwd=cwd or REPO)


def load_data_recipe(path, overrides=None):
    """A recipe as the ``odin data`` commands load it: a full one, or a data-only one without ``[model]``."""
    return load_recipe(path, overrides, require_model=False)


#: the limit of a test that sets none (pytest.mark.timeout): tests that train set their own
DEFAULT_TIMEOUT = 900


def pytest_collection_modifyitems(items):
    """Every test has a time limit: those without a ``timeout`` mark get ``DEFAULT_TIMEOUT``."""
    for item in items:
        if item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(DEFAULT_TIMEOUT))
