"""Odin's built-in evaluators (task accuracy, hyperedge set metrics, hyperedge discrimination, perplexity) and
the rewards of reinforcement learning that read answers the same way (correct, answer format).

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
from .rewards import AnswerFormat, Correct, CorrectOptions


@odin_core.hookimpl
def register_evaluators(register):
    register("metrics.task_accuracy", TaskAccuracy, aliases=("task_accuracy",))
    register("metrics.hyperedge_set", HyperedgeSetMetrics, options=SetMetricsOptions, aliases=("hyperedge_set_metrics",))
    register("metrics.hyperedge_discrimination", HyperedgeDiscrimination, options=DiscriminationOptions,
             aliases=("hyperedge_discrimination",))
    register("metrics.perplexity", Perplexity, options=PerplexityOptions, aliases=("perplexity",))


@odin_core.hookimpl
def register_rewards(register):
    register("metrics.correct", Correct, options=CorrectOptions,
             description="1 for a correct answer (as the evaluators read it), vertex sets their F1")
    register("metrics.answer_format", AnswerFormat, description="1 for an answer the evaluators can read")
