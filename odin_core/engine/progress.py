"""Training progress: one line per logging step, a progress bar on a terminal, metrics and checkpoint events."""

from __future__ import annotations

import time
from pathlib import Path

from odin_core.engine.checkpoints import write_manifest
from odin_core.foundation import console
from odin_core.runtime.device import peak_memory_mb


def fmt_duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


#: (record key, how it is shown) in the order of a progress line
_PROGRESS_FIELDS = (("loss", "loss {:.4f}"), ("eval_loss", "eval_loss {:.4f}"), ("eval_accuracy", "eval_acc {:.3f}"),
                    ("learning_rate", "lr {:.2e}"),
                    ("grad_norm", "grad {:.3f}"), ("tokens_per_second", "{:,.0f} tok/s"),
                    ("peak_memory_mb", "peak {:,.0f} MB"))


def progress_line(step: int, max_steps: int, record: dict) -> str:
    """One compact line for a logging step."""
    parts = [f"step {step}/{max_steps}"]
    parts += [shown.format(record[key]) for key, shown in _PROGRESS_FIELDS if key in record]
    return " | ".join(parts)


_EVAL_SKIP = ("eval_runtime", "eval_samples_per_second", "eval_steps_per_second")


def progress_callback(run_dir, events, device: str, on_eval=None):
    """The run's TrainerCallback: progress bar, one line per logging step, metrics and checkpoint events.

    ``on_eval(step, record)``, when given, is called after each evaluation during training with its record
    (``eval_loss``, ...); an exception it raises stops training and propagates to the caller."""
    from transformers.trainer_callback import ProgressCallback
    from tqdm.auto import tqdm

    class OdinProgress(ProgressCallback):
        def __init__(self):
            super().__init__()
            self.show_bar = console.verbosity() != console.QUIET and console.terminal().isatty()
            self.last_time = None
            self.last_tokens = 0
            self.final: dict = {}

        def on_train_begin(self, args, state, control, **kwargs):
            self.training_bar = tqdm(total=state.max_steps, initial=state.global_step, dynamic_ncols=True,
                                     disable=not self.show_bar, desc="training", file=console.terminal())
            self.current_step = state.global_step
            self.last_time = time.perf_counter()
            self.last_tokens = state.num_input_tokens_seen

        def on_prediction_step(self, args, state, control, eval_dataloader=None, **kwargs):
            if self.show_bar:
                super().on_prediction_step(args, state, control, eval_dataloader=eval_dataloader, **kwargs)

        def on_log(self, args, state, control, logs=None, **kwargs):
            logs = dict(logs or {})
            if "train_loss" in logs:  # the end-of-training summary, not a logging step
                self.final = logs
                return
            record: dict = {}
            if "loss" in logs:
                now = time.perf_counter()
                tokens = state.num_input_tokens_seen
                elapsed = max(now - self.last_time, 1e-9)
                record = {key: float(logs[key]) for key in ("loss", "learning_rate", "grad_norm", "epoch")
                          if isinstance(logs.get(key), (int, float))}
                record["tokens_seen"] = int(tokens)
                record["tokens_per_second"] = (tokens - self.last_tokens) / elapsed
                record["peak_memory_mb"] = round(peak_memory_mb(device), 1)
                self.last_time, self.last_tokens = now, tokens
            elif "eval_loss" in logs:
                record = {key: float(value) for key, value in logs.items()
                          if key.startswith("eval_") and key not in _EVAL_SKIP and isinstance(value, (int, float))}
            if not record:
                return
            line = progress_line(state.global_step, state.max_steps, record)
            console.say(line, run_dir)
            events.metrics(state.global_step, record)
            if on_eval is not None and "eval_loss" in record:
                on_eval(state.global_step, record)

        def on_save(self, args, state, control, **kwargs):
            write_manifest(Path(args.output_dir) / f"checkpoint-{state.global_step}")
            events.checkpoint(state.global_step, str(Path(args.output_dir) / f"checkpoint-{state.global_step}"))

        def on_train_end(self, args, state, control, **kwargs):
            if self.training_bar is not None:
                self.training_bar.close()
                self.training_bar = None

    return OdinProgress()



#: the recipe keys a diverged run most likely needs changed
DIVERGENCE_KEYS = "training.learning_rate, training.warmup_ratio, training.max_grad_norm, model.dtype"


def _diverged(recipe, step: int, what: str):
    from odin_core.foundation.errors import RecipeError

    return RecipeError(f"training diverged at step {step}: {what}; stopped without saving a checkpoint or adapter "
                       f"from it. Likely keys: {DIVERGENCE_KEYS} (learning_rate is "
                       f"{recipe.training.learning_rate:g})", file=recipe.path, key="training.learning_rate")


def non_finite_parameter(model) -> str | None:
    """Name of the first trainable parameter holding a NaN or infinity, or None."""
    import torch

    for name, parameter in model.named_parameters():
        if parameter.requires_grad and not bool(torch.isfinite(parameter.detach()).all()):
            return name
    return None


def check_finite_model(recipe, model, step: int) -> None:
    """A RecipeError naming the step when the model's trainable weights are no longer finite."""
    name = non_finite_parameter(model)
    if name is not None:
        raise _diverged(recipe, step, f"parameter {name} is not finite")


def last_step_callback():
    """Logs the last step's loss whatever ``training.logging_steps`` is, so a short run never ends with
    "final loss None"."""
    from transformers import TrainerCallback

    class LogLastStep(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.max_steps and state.global_step >= state.max_steps:
                control.should_log = True

    return LogLastStep()


def guard_callback(recipe):
    """Stops training at a non-finite loss or weights, before anything of it is saved."""
    import math

    from transformers import TrainerCallback

    class DivergenceGuard(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            for key in ("loss", "eval_loss", "grad_norm"):
                value = (logs or {}).get(key)
                if isinstance(value, (int, float)) and not math.isfinite(value):
                    raise _diverged(recipe, state.global_step, f"{key} is {value}")

        def on_step_end(self, args, state, control, model=None, **kwargs):
            if control.should_save and model is not None:  # checked before the checkpoint is written
                check_finite_model(recipe, model, state.global_step)

    return DivergenceGuard()
