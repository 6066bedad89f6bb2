"""Each evaluation during training beyond the validation loss: extra metrics (the task accuracy a flow measures),
early stopping on one of them, and the best evaluation's checkpoint as the trained model."""

from __future__ import annotations


def best_model_arguments(training) -> dict:
    """``TrainingArguments`` keywords for ``training.early_stopping``: the best checkpoint is kept and loaded at
    the end (``load_best_model_at_end``), judged by the watched metric. A resumed run takes the early-stopping
    callback's patience counter back from its checkpoint (transformers does not, unless asked)."""
    stopping = training.early_stopping
    if stopping is None:
        return {}
    return dict(load_best_model_at_end=True, metric_for_best_model=stopping.metric,
                greater_is_better=stopping.metric != "eval_loss", restore_callback_states_from_checkpoint=True)


def add_eval_metrics(trainer, measure) -> None:
    """Add ``measure(step)``'s numbers, prefixed ``eval_``, to every evaluation's metrics, as ``compute_metrics``
    would: the progress log, trackers, ``on_eval``, early stopping and the best-checkpoint choice all see them.

    The model goes back to training mode afterwards."""
    original = trainer.evaluation_loop

    def evaluation_loop(*args, **kwargs):
        output = original(*args, **kwargs)
        prefix = kwargs.get("metric_key_prefix", "eval")
        model = getattr(trainer.model, "module", trainer.model)
        try:
            numbers = measure(trainer.state.global_step)
        finally:
            model.train()
        output.metrics.update({f"{prefix}_{key}": value for key, value in numbers.items()})
        return output

    trainer.evaluation_loop = evaluation_loop


def doubling_steps(eval_steps: int, max_steps: int) -> list[int]:
    """The steps ``eval_schedule = "doubling"`` evaluates at: eval_steps, 2x, 4x, ... below max_steps, and
    max_steps."""
    steps, step = [], eval_steps
    while step < max_steps:
        steps.append(step)
        step *= 2
    return [*steps, max_steps]


def eval_schedule_callback(training):
    """Evaluations at ``doubling_steps`` instead of every ``training.eval_steps`` (None for "every")."""
    if training.eval_schedule == "every":
        return None
    from transformers import TrainerCallback

    class DoublingEvaluations(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            control.should_evaluate = state.global_step in doubling_steps(training.eval_steps, state.max_steps)

    return DoublingEvaluations()


def early_stopping_callback(training):
    """transformers' ``EarlyStoppingCallback`` for ``training.early_stopping`` (None when it is off)."""
    stopping = training.early_stopping
    if stopping is None:
        return None
    from transformers import EarlyStoppingCallback

    return EarlyStoppingCallback(early_stopping_patience=stopping.patience, early_stopping_threshold=stopping.min_delta)


def best_summary(training, state) -> dict:
    """What early stopping chose: the best evaluation's step and value, and whether training stopped early."""
    stopping = training.early_stopping
    if stopping is None:
        return {}
    return {"early_stopping": {"metric": stopping.metric, "patience": stopping.patience,
                               "best_step": state.best_global_step, "best_value": state.best_metric,
                               "stopped_early": bool(state.max_steps and state.global_step < state.max_steps)}}
