"""Odin's built-in evaluators: task accuracy, hyperedge set metrics, hyperedge discrimination, perplexity.

Each is selected by name in a recipe's ``[[eval]]`` table; its other keys are
its options. Evaluators read an ``odin_core.evaluate.EvalContext``.
"""

import odin_core

from .evaluators import (
    DiscriminationOptions,
    HyperedgeDiscrimination,
    HyperedgeSetMetrics,
    Perplexity,
    PerplexityOptions,
    SetMetricsOptions,
    TaskAccuracy,
)


@odin_core.hookimpl
def register_evaluators(register):
    register("task_accuracy", TaskAccuracy)
    register("hyperedge_set_metrics", HyperedgeSetMetrics, options=SetMetricsOptions)
    register("hyperedge_discrimination", HyperedgeDiscrimination, options=DiscriminationOptions)
    register("perplexity", Perplexity, options=PerplexityOptions)

