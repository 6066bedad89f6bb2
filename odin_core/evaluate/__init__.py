"""Evaluation: batched generation, the context evaluators share, stage records and trivial baselines.

``evaluate_model`` runs a model on an evaluation split: every evaluator the recipe
names (``[[eval]]`` tables, or the defaults) reads one ``EvalContext``, which computes
each expensive thing at most once and only when an evaluator asks for it:
``context.generations`` (greedy answers, one batched pass), ``context.choice_scores()``
(log P(Yes) - log P(No) for yes/no rows) and ``context.loss()`` (completion loss on the
validation split). ``trivial_baselines`` scores constant answers chosen on the training
split with the same evaluators on the same rows.
"""

from odin_core.evaluate.baselines import baseline_answers, best_constant_set, trivial_baselines
from odin_core.evaluate.context import EvalContext
from odin_core.evaluate.generation import ModelRunner, completion_logprobs, generate, inference_mode
from odin_core.evaluate.in_training import TrainingAccuracy, stratified_subset
from odin_core.evaluate.prompted import evaluate_prompted
from odin_core.evaluate.rows import answer_prefix, end_of_answer, rationale_of, rows_of, select_examples
from odin_core.evaluate.stage import evaluate_model, prediction_records, run_evaluators, write_predictions
from odin_core.foundation.records import ACCURACY_EVALUATOR, SCHEMA_VERSION, row_key, task_accuracy

__all__ = ["TrainingAccuracy", "stratified_subset", "evaluate_prompted", "baseline_answers", "best_constant_set", "trivial_baselines", "EvalContext", "ModelRunner",
           "completion_logprobs", "generate", "inference_mode", "answer_prefix", "end_of_answer", "rationale_of", "rows_of",
           "select_examples", "ACCURACY_EVALUATOR", "SCHEMA_VERSION", "evaluate_model", "prediction_records",
           "row_key", "run_evaluators", "task_accuracy", "write_predictions"]
