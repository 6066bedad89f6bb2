"""Reinforcement learning with verifiable rewards (``[rl]``), in named steps: the questions, the rewards, the
trainer (TRL's ``GRPOTrainer``), resume, train, save.

GRPO samples ``rl.num_generations`` completions per training question, scores each with the recipe's reward
components (``[[rl.rewards]]``; the built-in ``metrics.correct`` reads answers exactly as the evaluators do) and
moves the policy towards the completions that scored above their group's mean. Checkpoints go to
``<run_dir>/rl_checkpoints``; a resume continues from the last complete one. The model ends in ``<run_dir>/rl``
(an adapter, or the whole model for full fine-tuning), its summary in ``rl.json`` and each logging step in
``rl_metrics.jsonl``.
"""

from __future__ import annotations

import dataclasses
import math
import time

from odin_core.components.plugins import get_component
from odin_core.engine.checkpoints import checkpoint_step, prune_metrics, usable_checkpoint, write_manifest
from odin_core.engine.interrupts import TrainingInterrupted, stop_on_signals, write_failures
from odin_core.engine.progress import fmt_duration
from odin_core.foundation import console
from odin_core.foundation.errors import RecipeError
from odin_core.foundation.files import ADAPTER, atomic_write_dir
from odin_core.foundation.layout import (FULL_MODEL_DIR, RL_CHECKPOINT_DIR, RL_DIR, RL_METRICS_LOG, RL_SUMMARY,
                                         TRAINER_STATE)
from odin_core.foundation.records import decode
from odin_core.runtime import processes
from odin_core.runtime.chat import model_uses_chat, prompt_and_completion
from odin_core.runtime.device import default_optimizer, peak_memory_mb, precision, training_device

#: dataset columns a reward sees (JSON columns decoded)
REWARD_COLUMNS = ("id", "task", "family", "answer_kind", "answer", "meta")
#: (TRL log key, Odin record key) of each RL logging step; ``rewards/<name>/mean`` become ``reward/<name>``
_LOGGED = (("reward", "reward"), ("reward_std", "reward_std"), ("kl", "kl"), ("loss", "loss"),
           ("completions/mean_length", "completion_length"), ("completions/clipped_ratio", "clipped_ratio"),
           ("entropy", "entropy"), ("learning_rate", "learning_rate"), ("grad_norm", "grad_norm"))


def rl_questions(loaded, split):
    """The training questions as GRPO reads them: the prompt text the model is evaluated with, and the columns
    the rewards read."""
    from datasets import Dataset

    chat = model_uses_chat(loaded)
    columns = {"prompt": [prompt_and_completion(loaded.tokenizer, row, chat)[0] for row in split]}
    for column in REWARD_COLUMNS:
        if column in split.column_names:
            columns[column] = list(split[column])
    return Dataset.from_dict(columns)


def reward_functions(recipe) -> tuple[list, list[float]]:
    """One TRL reward function per ``[[rl.rewards]]`` entry (named after it, so TRL logs each one), and their
    weights. A reward that returns a wrong count or a non-finite number stops the run naming the entry."""
    functions, weights = [], []
    for i, entry in enumerate(recipe.rl.rewards):
        reward = get_component("reward", entry.name, file=recipe.path, key=f"rl.rewards.{i}.name").create(
            entry.options)
        functions.append(_reward_function(reward, entry.name, f"rl.rewards.{i}", recipe.path))
        weights.append(entry.weight)
    return functions, weights


def _reward_function(reward, name: str, key: str, file):
    def score(prompts, completions, **columns):
        rows = [{column: decode(columns[column][i]) if column in ("answer", "meta") else columns[column][i]
                 for column in REWARD_COLUMNS if column in columns} for i in range(len(completions))]
        texts = [c if isinstance(c, str) else c[-1]["content"] for c in completions]  # chat: the last message
        values = [float(v) for v in reward.score(rows, texts)]
        if len(values) != len(texts):
            raise RecipeError(f"reward {name!r} returned {len(values)} scores for {len(texts)} completions; expected "
                              "one per completion", file=file, key=key)
        bad = next((v for v in values if not math.isfinite(v)), None)
        if bad is not None:
            raise RecipeError(f"reward {name!r} returned {bad}; rewards must be finite numbers (the RL stage stopped "
                              "without saving a checkpoint from this step)", file=file, key=key)
        return values

    score.__name__ = name  # TRL logs rewards/<__name__>/mean
    return score


def grpo_arguments(recipe, run_dir, device: str) -> dict:
    """``GRPOConfig`` keywords from ``[rl]``: each step samples ``num_generations`` completions for each of
    ``batch_size`` questions and takes one optimizer step on them."""
    rl = recipe.rl
    seed = rl.seed if rl.seed is not None else recipe.training_seed
    return dict(
        output_dir=str(run_dir.path / RL_CHECKPOINT_DIR),
        per_device_train_batch_size=rl.batch_size * rl.num_generations, gradient_accumulation_steps=1,
        num_generations=rl.num_generations, max_completion_length=rl.max_completion_length,
        temperature=rl.temperature, beta=rl.beta, learning_rate=rl.learning_rate, lr_scheduler_type=rl.lr_scheduler,
        max_grad_norm=rl.max_grad_norm, max_steps=rl.max_steps, warmup_steps=0,
        logging_steps=rl.logging_steps, save_strategy="steps", save_steps=rl.save_steps,
        save_total_limit=rl.save_total_limit, seed=seed, data_seed=seed, report_to="none", disable_tqdm=True,
        optim=default_optimizer(device), use_cpu=device == "cpu", dataloader_num_workers=0,
        remove_unused_columns=False, log_completions=False, gradient_checkpointing=False,
        logging_nan_inf_filter=False, **precision(device),
    )


def _progress_callback(recipe, run_dir, events):
    """One line and one ``rl_metrics.jsonl`` record per logging step; a non-finite loss or KL stops the run."""
    from transformers import TrainerCallback

    class RLProgress(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            logs = dict(logs or {})
            if "train_loss" in logs:  # the end-of-training summary
                return
            record = {ours: float(logs[theirs]) for theirs, ours in _LOGGED
                      if isinstance(logs.get(theirs), (int, float))}
            record |= {f"reward/{key[len('rewards/'):-len('/mean')]}": float(value) for key, value in logs.items()
                       if key.startswith("rewards/") and key.endswith("/mean") and isinstance(value, (int, float))}
            if not record:
                return
            for key in ("loss", "kl", "grad_norm"):
                if key in record and not math.isfinite(record[key]):
                    raise RecipeError(f"the RL stage diverged at step {state.global_step}: {key} is {record[key]}; "
                                      f"stopped without saving a checkpoint from it (learning_rate is "
                                      f"{recipe.rl.learning_rate:g})", file=recipe.path, key="rl.learning_rate")
            shown = [f"rl step {state.global_step}/{state.max_steps}"]
            shown += [f"{label} {record[key]:{fmt}}" for key, label, fmt in
                      (("reward", "reward", ".3f"), ("kl", "kl", ".4f"), ("completion_length", "length", ".1f"))
                      if key in record]
            console.say(" | ".join(shown), run_dir)
            events.metrics(state.global_step, record, log=RL_METRICS_LOG)

        def on_save(self, args, state, control, **kwargs):
            checkpoint = run_dir.path / RL_CHECKPOINT_DIR / f"checkpoint-{state.global_step}"
            write_manifest(checkpoint)
            events.checkpoint(state.global_step, str(checkpoint))

    return RLProgress()


def grpo_trainer_class(device: str):
    """TRL's ``GRPOTrainer``; on a CPU, with its per-token log-probabilities computed by TRL's own torch functions
    (``selective_log_softmax``, ``entropy_from_logits``) instead of its Triton kernel, which needs a GPU. The loss,
    advantages, sampling and logging stay TRL's."""
    from trl import GRPOTrainer

    if device == "cuda":
        return GRPOTrainer
    import torch
    from trl.trainer.utils import entropy_from_logits, selective_log_softmax

    class CPUGRPOTrainer(GRPOTrainer):
        def _get_per_token_logps_and_entropies(self, model, input_ids, attention_mask, logits_to_keep,
                                               batch_size=None, compute_entropy=False, compute_aux_loss=False,
                                               **multimodal):
            batch_size = batch_size or input_ids.size(0)
            logps, entropies = [], []
            for start in range(0, input_ids.size(0), batch_size):
                ids, mask = input_ids[start:start + batch_size], attention_mask[start:start + batch_size]
                # the logits that predict the completion's tokens, at the sampling temperature
                logits = model(input_ids=ids, attention_mask=mask, logits_to_keep=logits_to_keep + 1).logits
                logits = logits[:, :-1][:, -logits_to_keep:] / self.temperature
                logps.append(selective_log_softmax(logits, ids[:, -logits_to_keep:]))
                if compute_entropy:
                    with torch.no_grad():
                        entropies.append(entropy_from_logits(logits))
            return torch.cat(logps), (torch.cat(entropies) if compute_entropy else None), None

    return CPUGRPOTrainer


def _resume_checkpoint(run_dir, resume: bool):
    if not resume:
        return None
    checkpoint = usable_checkpoint(run_dir.path / RL_CHECKPOINT_DIR, lambda message: console.warn(message, run_dir))
    pruned = prune_metrics(run_dir, checkpoint_step(checkpoint) if checkpoint else 0, log=RL_METRICS_LOG)
    run_dir.log(f"RL stage: resuming from {checkpoint}" if checkpoint else "RL stage: no complete checkpoint yet; "
                "starting it over" + (f" ({pruned} later records of {RL_METRICS_LOG} dropped)" if pruned else ""))
    return checkpoint


def train_rl(recipe, loaded, datasets, run_dir, events, resume: bool = False) -> dict:
    """Train ``loaded.model`` (as supervised training left it, or as ``rl.start_from`` saved it) with GRPO on the
    train split's questions; returns the stage's summary (also written to ``rl.json``)."""
    from transformers import set_seed
    from trl import GRPOConfig

    device = training_device(recipe)
    rl = recipe.rl
    set_seed(rl.seed if rl.seed is not None else recipe.training_seed)
    questions = rl_questions(loaded, datasets["train"])
    functions, weights = reward_functions(recipe)
    checkpoint = _resume_checkpoint(run_dir, resume)
    model = loaded.model
    if getattr(model, "peft_config", None) is None and rl.beta > 0 and not rl.start_from:
        # TRL loads a fully fine-tuned model's KL reference from its folder: the one supervised training saved
        model.config._name_or_path = str(run_dir.path / FULL_MODEL_DIR)
    console.say(f"RL stage: GRPO on {len(questions)} questions, {rl.max_steps} steps of {rl.batch_size} questions x "
                f"{rl.num_generations} completions ({', '.join(e.name for e in rl.rewards)})", run_dir)
    started = time.perf_counter()
    with stop_on_signals(run_dir) as stop, write_failures(run_dir.path / RL_CHECKPOINT_DIR):
        config = GRPOConfig(**grpo_arguments(recipe, run_dir, device), reward_weights=weights)
        main = processes.current().is_main  # the other processes of a run sample and train; the main one logs
        trainer = grpo_trainer_class(device)(
            model=model, reward_funcs=functions, args=config, train_dataset=questions,
            processing_class=loaded.tokenizer,
            callbacks=[stop, *([_progress_callback(recipe, run_dir, events)] if main else [])])
        trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
        if stop.received:
            step = trainer.state.global_step
            raise TrainingInterrupted(step, run_dir.path / RL_CHECKPOINT_DIR / f"checkpoint-{step}")
        seconds = time.perf_counter() - started
        model = getattr(trainer.model, "module", trainer.model)
        target = run_dir.path / RL_DIR

        def save(tmp):
            model.save_pretrained(tmp)
            loaded.tokenizer.save_pretrained(tmp)

        if main:
            atomic_write_dir(target, save, ADAPTER)
    loaded.model = model
    summary = _summary(recipe, trainer, run_dir, device, seconds, checkpoint, len(questions), target)
    run_dir.write_json(RL_SUMMARY, summary)
    kind = "adapter" if summary["adapter"] else "model"
    console.say(f"RL stage: {summary['steps']} steps in {fmt_duration(seconds)} | reward "
                f"{_fmt(summary['first_reward'])} -> {_fmt(summary['last_reward'])} | {kind}: {target}", run_dir)
    return summary


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _summary(recipe, trainer, run_dir, device, seconds, checkpoint, questions: int, target) -> dict:
    records = run_dir.read_jsonl(RL_METRICS_LOG)
    rewards = [r["reward"] for r in records if "reward" in r]
    rl = recipe.rl
    state = trainer.state
    run_dir.write_json(f"rl_{TRAINER_STATE}", dataclasses.asdict(state))
    return {
        "method": rl.method, "device": device, "steps": int(state.global_step), "max_steps": int(state.max_steps),
        "questions": questions, "questions_seen": int(state.global_step) * rl.batch_size,
        "completions_sampled": int(state.global_step) * rl.batch_size * rl.num_generations,
        "train_seconds": round(seconds, 2), "peak_memory_mb": round(peak_memory_mb(device), 1),
        "first_reward": rewards[0] if rewards else None, "last_reward": rewards[-1] if rewards else None,
        "mean_reward": sum(rewards) / len(rewards) if rewards else None,
        "final_kl": next((r["kl"] for r in reversed(records) if "kl" in r), None),
        "rewards": [{"name": e.name, "weight": e.weight} for e in rl.rewards],
        "resumed_from_step": checkpoint_step(checkpoint) if checkpoint else None,
        "adapter": getattr(trainer.model, "peft_config", None) is not None, "model_dir": str(target),
    }
