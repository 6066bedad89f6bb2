"""Odin's built-in evaluators: task accuracy, hyperedge set metrics, hyperedge discrimination, perplexity.

Each is selected by name in a recipe's ``[[eval]]`` table; its other keys are
its options. Evaluators read an ``odin_core.evaluate.EvalContext`` and contribute their own
``report.md`` section through ``report_section``.
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
    register("metrics.task_accuracy", TaskAccuracy, aliases=("task_accuracy",))
    register("metrics.hyperedge_set", HyperedgeSetMetrics, options=SetMetricsOptions, aliases=("hyperedge_set_metrics",))
    register("metrics.hyperedge_discrimination", HyperedgeDiscrimination, options=DiscriminationOptions,
             aliases=("hyperedge_discrimination",))
    register("metrics.perplexity", Perplexity, options=PerplexityOptions, aliases=("perplexity",))

