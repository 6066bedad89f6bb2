"""Odin core: hook specs, plugin manager, recipes and the run flow.

Python API::

    import odin_core

    @odin_core.register_encoder("my-enc")
    class MyEncoder: ...

    result = odin_core.run("recipes/quickstart.toml", overrides=["training.max_steps=10"])
"""

__version__ = "0.1.0"

from odin_core.hookspecs import hookimpl  # noqa: E402
from odin_core.plugins import (  # noqa: E402
    pm,
    register_encoder,
    register_evaluator,
    register_loader,
    register_lora_strategy,
    register_plugin,
    register_source,
    register_task,
    register_tracker,
    unregister_plugin,
)
from odin_core.recipe import load_recipe  # noqa: E402


def run(recipe, overrides=None, **kwargs):
    """Run a recipe (path) end to end; returns an ``odin_core.run.RunResult``."""
    from odin_core.run import run as _run

    return _run(recipe, overrides=overrides, **kwargs)


__all__ = ["hookimpl", "pm", "run", "load_recipe", "register_plugin", "unregister_plugin", "register_source",
           "register_encoder", "register_task", "register_loader", "register_lora_strategy", "register_evaluator",
           "register_tracker"]
