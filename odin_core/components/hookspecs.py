"""Odin's hook specifications: the whole plugin interface, in one module.

A plugin is a module or object with functions marked ``@odin_core.hookimpl``
named like the specs below. Built-in plugins and third-party plugins use
exactly these hooks; the built-in ones are entry points of group ``odin`` too.

Component hooks receive a ``register`` callable::

    register(name, factory, options=None, description=None, aliases=())

``name`` is ``<plugin>.<component>`` (e.g. ``myplugin.json``). ``factory(options)``
is called with the validated options model instance (or ``None`` when the
component declares no options) and returns an object that follows the protocol
of that component kind (see ``odin_core.components.protocols``). ``options`` is a pydantic
model class: the recipe keys that component accepts. ``aliases``: older names
still accepted, with a deprecation warning.

Lifecycle hooks are called by the run flow; every plugin may implement them
(trackers, callbacks, notifiers). Each implementation is called on its own: one
that raises is reported with its plugin's name, and the others still run.
"""

import pluggy

hookspec = pluggy.HookspecMarker("odin")
hookimpl = pluggy.HookimplMarker("odin")


# --- components ----------------------------------------------------------


@hookspec
def register_sources(register):
    """Register hypergraph sources: each yields ``odin_core.questions.hypergraph.Hypergraph`` objects."""


@hookspec
def register_encoders(register):
    """Register dataset encoders: each turns a hypergraph into prompt text."""


@hookspec
def register_tasks(register):
    """Register tasks: each turns a hypergraph into a question and its canonical answer."""


@hookspec
def register_model_loaders(register):
    """Register base-model loaders: each loads (model, tokenizer) for a model section."""


@hookspec
def register_lora_strategies(register):
    """Register LoRA strategies: each wraps a loaded model with trainable adapters."""


@hookspec
def register_engines(register):
    """Register training engines (``training.engine``): each loads, wraps, trains and generates through one
    library stack (``odin_core.Engine``)."""


@hookspec
def register_evaluators(register):
    """Register evaluators: each computes metrics from an evaluation context."""


@hookspec
def register_rewards(register):
    """Register rewards (``[[rl.rewards]] name``): each scores sampled completions for reinforcement learning
    (``odin_core.Reward``)."""


@hookspec
def register_trackers(register):
    """Register experiment trackers (e.g. wandb), enabled by ``[[tracking]]`` tables."""


# --- command line --------------------------------------------------------


@hookspec
def register_commands(cli):
    """Add click commands or groups to the ``odin`` CLI group ``cli``."""


# --- run lifecycle -------------------------------------------------------


@hookspec
def odin_run_start(run):
    """A run begins. ``run`` is an ``odin_core.runtime.rundir.RunDir`` holding the resolved recipe."""


@hookspec
def odin_metrics_logged(run, step, metrics):
    """Metrics were logged at ``step``: a dict of floats (loss, learning rate, ...)."""


@hookspec
def odin_checkpoint_saved(run, step, path):
    """A checkpoint was written to ``path`` at ``step``."""


@hookspec
def odin_run_end(run, status, summary):
    """A run ends. ``status`` is ``"completed"``, ``"failed"`` or ``"interrupted"``."""
