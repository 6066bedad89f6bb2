"""Supervised fine-tuning on completions, in named steps: tokenize, build the trainer, resume, train, save.

Both engines train on the same token sequences (``odin_core.runtime.chat.tokenize_batch``:
the prompt's tokens are masked out of the labels, so the loss is on completions
only). Checkpoints go to ``<run_dir>/checkpoints`` every ``save_steps``; ``resume``
continues from the last complete one through ``Trainer``'s own resume (model,
optimizer, scheduler, RNG states and data order). The adapter (PEFT format) and
tokenizer end in ``<run_dir>/adapter`` (``<run_dir>/model`` for full fine-tuning).
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass

from odin_core.components.plugins import get_engine
from odin_core.engine.checkpoints import checkpoint_step, prune_metrics, sync_saves_callback, usable_checkpoint
from odin_core.engine.interrupts import TrainingInterrupted, stop_on_signals, write_failures
from odin_core.engine.progress import (check_finite_model, fmt_duration, guard_callback, last_step_callback,
                                      progress_callback)
from odin_core.engine.reference import answer_distribution_loss
from odin_core.engine.tokenize import tokenize_split
from odin_core.engine.trainers import PAD_TO_MULTIPLE_OF, training_arguments
from odin_core.engine.validation import (add_eval_metrics, best_model_arguments, best_summary,
                                         early_stopping_callback, eval_schedule_callback)
from odin_core.foundation import console
from odin_core.foundation.errors import ModelError, RecipeError
from odin_core.foundation.files import ADAPTER, atomic_write_dir
from odin_core.foundation.layout import ADAPTER_DIR, CHECKPOINT_DIR, FULL_MODEL_DIR, TRAINER_STATE
from odin_core.runtime import processes
from odin_core.runtime.chat import pad_token_id
from odin_core.runtime.device import parameter_count, peak_memory_mb, trainable_parameter_count, training_device


@dataclass
class _Resume:
    checkpoint: object = None  # Path of the checkpoint training continues from, or None
    start_tokens: int = 0


def _is_peft(model) -> bool:
    return hasattr(model, "peft_config")


def _check_engine(recipe, loaded, run_dir) -> None:
    wanted = recipe.training.engine
    if loaded.engine != wanted:
        raise ModelError(f"the model was loaded for the {loaded.engine} engine but training.engine is {wanted!r}",
                         file=recipe.path, key="training.engine")


def _setup_data(recipe, loaded, datasets, run_dir):
    """(tokenized train set, tokenized validation set or None, training examples dropped)."""
    t = recipe.training
    length = recipe.model.max_seq_length
    train_set, dropped = tokenize_split(datasets["train"], loaded, max_length=length,
                                       completion_only_loss=t.completion_only_loss, desc="tokenizing train")
    if len(train_set) == 0:
        raise RecipeError("no training examples left after tokenization (the train split is empty, or every "
                          "completion falls beyond model.max_seq_length)", file=recipe.path, key="data.num_examples.train")
    if dropped:
        console.warn(f"{dropped} of {len(datasets['train'])} training examples dropped: their completion starts beyond "
                     f"model.max_seq_length = {length}", run_dir)
    eval_set = None
    validation = datasets.get("validation") if hasattr(datasets, "get") else None
    if t.eval_steps and validation is not None and len(validation):
        eval_set, _ = tokenize_split(validation, loaded, max_length=length, completion_only_loss=t.completion_only_loss,
                                     desc="tokenizing validation")
    return train_set, eval_set, dropped


def check_examples_fit(recipe, loaded, datasets, sample: int = 256) -> None:
    """Before any evaluation: a RecipeError naming ``model.max_seq_length`` when none of (up to) ``sample``
    training examples, spread over the split, keeps a completion token within it."""
    train_split = datasets["train"]
    if len(train_split) == 0:
        raise RecipeError("the train split is empty; expected training examples", file=recipe.path,
                          key="data.num_examples.train")
    step = max(1, len(train_split) // sample)
    picked = train_split.select(range(0, len(train_split), step)[:sample])
    length = recipe.model.max_seq_length
    kept, _ = tokenize_split(picked, loaded, max_length=length, completion_only_loss=recipe.training.completion_only_loss,
                             desc="checking lengths")
    if len(kept) == 0:
        raise RecipeError(f"no training example fits in {length} tokens (none of {len(picked)} checked keeps any "
                          "of its completion); raise model.max_seq_length or shorten the prompts "
                          "(data.max_prompt_tokens)", file=recipe.path, key="model.max_seq_length")


def _setup_trainer(recipe, loaded, train_set, eval_set, run_dir, events, device, callbacks, on_eval=None,
                   eval_metrics=None):
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    common = training_arguments(recipe, run_dir, device, eval_set is not None)
    if eval_set is not None:
        common |= best_model_arguments(recipe.training)
    trainer = get_engine(recipe.training.engine, file=recipe.path).trainer(
        recipe, loaded, train_set, eval_set, common, pad_token_id=pad_token_id(loaded.tokenizer),
        pad_to_multiple_of=PAD_TO_MULTIPLE_OF)
    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    if eval_set is not None and eval_metrics is not None:
        add_eval_metrics(trainer, eval_metrics)
    procs = processes.current()
    if procs.several:  # first: a checkpoint's manifest is written once every process has saved its part
        trainer.add_callback(sync_saves_callback())
    if procs.is_main:  # the others' losses reach the main process's log through the trainer
        trainer.add_callback(progress_callback(run_dir, events, device, on_eval))
    stopping = early_stopping_callback(recipe.training) if eval_set is not None else None
    schedule = eval_schedule_callback(recipe.training) if eval_set is not None else None
    for callback in [*callbacks, *([stopping] if stopping else []), *([schedule] if schedule else [])]:
        trainer.add_callback(callback)
    trainer.add_callback(last_step_callback())
    trainer.add_callback(guard_callback(recipe))  # after the callbacks that may ask for a checkpoint
    return trainer


def _setup_resume(run_dir, resume: bool) -> _Resume:
    if not resume:
        return _Resume()
    def warn(message):
        console.warn(message, run_dir)

    checkpoint = usable_checkpoint(run_dir.path / CHECKPOINT_DIR, warn)
    if checkpoint is None:
        # the steps logged before the kill are trained again
        pruned = prune_metrics(run_dir, 0) if processes.current().is_main else 0
        run_dir.log("resume: no complete checkpoint yet; training from the start"
                    + (f" ({pruned} earlier metric records dropped)" if pruned else ""))
        return _Resume()
    # read now: save_total_limit may delete this checkpoint during training
    start_tokens = json.loads((checkpoint / TRAINER_STATE).read_text()).get("num_input_tokens_seen", 0)
    pruned = prune_metrics(run_dir, checkpoint_step(checkpoint)) if processes.current().is_main else 0
    run_dir.log(f"resuming training from {checkpoint}" + (f" ({pruned} later metric records dropped)" if pruned else ""))
    return _Resume(checkpoint, start_tokens)


def _save_model(trainer, loaded, run_dir):
    """Save the adapter (or the whole model) and tokenizer atomically; returns (model, folder)."""
    model = getattr(trainer.model, "module", trainer.model)
    target = run_dir.path / (ADAPTER_DIR if _is_peft(model) else FULL_MODEL_DIR)
    if not processes.current().is_main:  # saved once, by the main process
        return model, target

    def save(tmp):
        model.save_pretrained(tmp)
        loaded.tokenizer.save_pretrained(tmp)

    atomic_write_dir(target, save, ADAPTER)
    run_dir.write_json(TRAINER_STATE, dataclasses.asdict(trainer.state))
    return model, target


def _summary(recipe, trainer, model, target, run_dir, device, seconds, resumed: _Resume, train_set, dropped) -> dict:
    state = trainer.state
    losses = [h["loss"] for h in state.log_history if "loss" in h]
    eval_losses = [h["eval_loss"] for h in state.log_history if "eval_loss" in h]
    session_tokens = state.num_input_tokens_seen - resumed.start_tokens
    return {
        "engine": recipe.training.engine,
        "device": device,
        "strategy": recipe.finetune.strategy,
        "steps": int(state.global_step),
        "max_steps": int(state.max_steps),
        "epochs": round(float(state.epoch or 0), 4),
        "train_examples": len(train_set),
        "train_sequences": len(trainer.train_dataset),  # fewer than the examples when packed
        "processes": processes.current().world_size,
        "global_batch_size": processes.global_batch_size(recipe, processes.current().world_size),
        "dropped_examples": dropped,
        "train_seconds": round(seconds, 2),
        "tokens": int(session_tokens),
        "tokens_per_second": round(session_tokens / seconds, 1) if seconds > 0 else None,
        "peak_memory_mb": round(peak_memory_mb(device), 1),
        "final_loss": losses[-1] if losses else None,
        "mean_loss": sum(losses) / len(losses) if losses else None,  # of the logged losses, resumed runs too
        "eval_loss": eval_losses[-1] if eval_losses else None,
        "trainable_parameters": trainable_parameter_count(model),
        "parameters": parameter_count(model),
        "resumed_from_step": checkpoint_step(resumed.checkpoint) if resumed.checkpoint else None,
        **best_summary(recipe.training, state),
        "adapter_dir": str(target),
        "checkpoint_dir": str(run_dir.path / CHECKPOINT_DIR),
    }


def train(recipe, loaded, datasets, run_dir, events, resume: bool = False, callbacks=(), on_eval=None,
          eval_metrics=None) -> dict:
    """Fine-tune ``loaded.model`` (already wrapped by the LoRA strategy) on ``datasets["train"]``.

    ``callbacks``: extra ``transformers.TrainerCallback`` objects. ``on_eval(step, record)``: called after each
    evaluation during training (every ``training.eval_steps``) with the validation record (``eval_loss``, ...);
    whatever it raises stops training and propagates (a sweep prunes a trial that way). ``eval_metrics(step)``:
    more numbers for each evaluation (task accuracy), logged as ``eval_<name>`` with the loss and seen by
    ``on_eval`` and ``training.early_stopping``. Returns a JSON-serialisable
    summary: steps, train_seconds, tokens_per_second, peak_memory_mb, final_loss, adapter_dir, ...
    """
    import torch
    from transformers import set_seed

    _check_engine(recipe, loaded, run_dir)
    device = training_device(recipe)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    set_seed(recipe.training_seed)
    train_set, eval_set, dropped = _setup_data(recipe, loaded, datasets, run_dir)
    resumed = _setup_resume(run_dir, resume)
    procs = processes.current()
    if procs.several:
        run_dir.log(f"training with {procs.world_size} processes: global batch "
                    f"{processes.global_batch_size(recipe, procs.world_size)} = batch_size {recipe.training.batch_size} "
                    f"x gradient_accumulation_steps {recipe.training.gradient_accumulation_steps} x {procs.world_size}")

    started = time.perf_counter()
    with stop_on_signals(run_dir) as stop, write_failures(run_dir.path / CHECKPOINT_DIR):
        trainer = _setup_trainer(recipe, loaded, train_set, eval_set, run_dir, events, device, [stop, *callbacks],
                                  on_eval, eval_metrics)
        trainer.train(resume_from_checkpoint=str(resumed.checkpoint) if resumed.checkpoint else None)
        if stop.received:
            step = trainer.state.global_step
            raise TrainingInterrupted(step, run_dir.path / CHECKPOINT_DIR / f"checkpoint-{step}")
        seconds = time.perf_counter() - started
        check_finite_model(recipe, getattr(trainer.model, "module", trainer.model), trainer.state.global_step)
        model, target = _save_model(trainer, loaded, run_dir)
    loaded.model = model
    summary = _summary(recipe, trainer, model, target, run_dir, device, seconds, resumed, train_set, dropped)
    summary["answer_distribution_loss"] = answer_distribution_loss(
        datasets["train"], train_set, completion_only=recipe.training.completion_only_loss,
        traces=recipe.data.rationale == "trace")
    line = (f"trained {summary['steps']} steps in {fmt_duration(seconds)} | "
            f"{summary['tokens_per_second'] or 0:,.0f} tok/s | peak {summary['peak_memory_mb']:,.0f} MB"
            f"{'' if device == 'cuda' else ' (RSS)'} | final loss "
            f"{summary['final_loss'] if summary['final_loss'] is None else format(summary['final_loss'], '.4f')} | "
            f"{'adapter' if _is_peft(model) else 'model'}: {target}")
    stopping = summary.get("early_stopping")
    if stopping and stopping["best_step"] is not None:
        line += (f"\nbest {stopping['metric']} {stopping['best_value']:.4f} at step {stopping['best_step']}: the saved "
                 f"{'adapter' if _is_peft(model) else 'model'} is that step's"
                 + (f" (stopped early at step {summary['steps']})" if stopping["stopped_early"] else ""))
    if processes.current().is_main:
        console.say(line, run_dir)
    else:
        run_dir.log(line)
    return summary
