"""Odin core: the stable import surface for plugin authors and Python users.

A plugin imports everything it needs from here::

    import odin_core

    @odin_core.hookimpl
    def register_encoders(register):
        register("myplugin.json", JsonEncoder, options=JsonOptions)

and Python code registers components and runs recipes::

    @odin_core.register_encoder("notebook.plain")
    class PlainEncoder: ...

    result = odin_core.run_recipe("recipes/quickstart.toml", overrides=["training.max_steps=10"])

Names here are kept stable across releases; anything imported from a submodule
may move.
"""

__version__ = "0.2.0"

from odin_core.components.hookspecs import hookimpl  # noqa: E402
from odin_core.components.plugins import (  # noqa: E402
    get_engine,
    get_component,
    pm,
    register_engine,
    register_encoder,
    register_evaluator,
    register_loader,
    register_lora_strategy,
    register_model_loader,
    register_plugin,
    register_source,
    register_task,
    register_reward,
    register_tracker,
    unregister_plugin,
)
from odin_core.components.protocols import (  # noqa: E402
    NEGATIVE_SCHEMES,
    TASK_FAMILIES,
    Encoder,
    Engine,
    Evaluator,
    LoadedModel,
    LoadSettings,
    LoraStrategy,
    ModelLoader,
    Question,
    Source,
    Task,
    Reward,
    Tracker,
)
from odin_core.foundation import markdown  # noqa: E402  (tables and numbers for evaluators' report sections)
from odin_core.foundation.errors import DataError, ModelError, OdinError, RecipeError  # noqa: E402
from odin_core.foundation.files import read_utf8  # noqa: E402  (data files: one clear error for a missing or non-UTF-8 file)
from odin_core.foundation.files import write_folder  # noqa: E402  (a folder written whole or not at all)
from odin_core.foundation.memory import ModelShape  # noqa: E402
from odin_core.foundation.seeds import derive_seed  # noqa: E402
from odin_core.foundation.stats import bootstrap_interval, mcnemar_exact, wilson_interval  # noqa: E402
from odin_core.questions.answers import (  # noqa: E402
    ANSWER_KINDS,
    FORMAT_ERROR,
    format_answer,
    gold_value,
    grade,
    is_correct,
    normalise_label,
    parse_answer,
)
from odin_core.questions.hypergraph import Hypergraph  # noqa: E402
from odin_core.recipe import load_recipe  # noqa: E402
from odin_core.runtime.chat import resolve_chat_template  # noqa: E402
from odin_core.runtime.device import (  # noqa: E402
    cpu_weights_dtype, linear_module_names, parameter_count, trainable_parameter_count, training_device)
from odin_core.runtime.rundir import RunDir  # noqa: E402


def run_recipe(recipe, overrides=None, **kwargs):
    """Run a recipe (a path) end to end; returns a ``RunResult`` (``run_dir``, ``metrics``).

    Keywords: ``resume`` (a run directory or ``"latest"``), ``output_dir``, ``seeds``."""
    from odin_core.flows.run import run_recipe as _run_recipe

    return _run_recipe(recipe, overrides=overrides, **kwargs)


#: earlier name of ``run_recipe`` (no submodule is named ``run``, so it cannot be shadowed)
run = run_recipe

#: what extension authors receive, imported when first asked for (they pull in the evaluation and run flows):
#: ``EvalContext`` (an evaluator's ``evaluate(ctx)`` argument) and ``RunResult`` (what ``run_recipe`` returns)
_LAZY = {"EvalContext": "odin_core.evaluate.context", "RunResult": "odin_core.flows.run"}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'odin_core' has no attribute {name!r}")

__all__ = [
    "__version__", "hookimpl", "pm", "run_recipe", "run", "RunResult", "EvalContext", "load_recipe", "get_component",
    "register_plugin", "unregister_plugin", "register_source", "register_encoder", "register_task",
    "register_model_loader", "register_loader", "register_lora_strategy", "register_evaluator", "register_tracker",
    "register_reward", "Reward",
    "register_engine", "get_engine", "Engine",
    "Hypergraph", "Question", "LoadedModel", "LoadSettings", "Source", "Encoder", "Task", "ModelLoader",
    "LoraStrategy", "Evaluator", "Tracker", "TASK_FAMILIES", "NEGATIVE_SCHEMES",
    "ANSWER_KINDS", "FORMAT_ERROR", "format_answer", "parse_answer", "gold_value", "is_correct", "grade", "normalise_label",
    "OdinError", "RecipeError", "DataError", "ModelError", "read_utf8", "write_folder", "RunDir", "derive_seed", "resolve_chat_template",
    "wilson_interval", "mcnemar_exact", "bootstrap_interval", "training_device", "cpu_weights_dtype", "parameter_count",
    "trainable_parameter_count", "linear_module_names", "markdown", "ModelShape",
]
