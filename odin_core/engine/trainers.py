"""The ``TrainingArguments`` keywords every engine's trainer is built from (the engines themselves are
components, ``odin_core.Engine``; the built-in ``unsloth`` and ``transformers`` are in the ``finetune`` plugin)."""

from __future__ import annotations

from odin_core.foundation.layout import CHECKPOINT_DIR
from odin_core.runtime.device import default_optimizer, precision
from odin_core.runtime.processes import TIMEOUT

#: batches are padded to a multiple of this many tokens: a handful of shapes instead of one per batch length.
#: With one shape per length, the Unsloth engine's resident memory on a CPU grew with every new shape and never
#: came back (the quickstart: +39% peak RSS from step 100 to 300; BENCHMARKS.md, "Memory on long runs").
PAD_TO_MULTIPLE_OF = 64


def training_arguments(recipe, run_dir, device: str, has_eval: bool) -> dict:
    """The ``TrainingArguments`` keywords every engine shares, from the recipe's ``[training]``."""
    t = recipe.training
    return dict(
        output_dir=str(run_dir.path / CHECKPOINT_DIR),
        per_device_train_batch_size=t.batch_size, per_device_eval_batch_size=t.batch_size,
        gradient_accumulation_steps=t.gradient_accumulation_steps,
        num_train_epochs=t.num_epochs, max_steps=t.max_steps,
        learning_rate=t.learning_rate, lr_scheduler_type=t.lr_scheduler,
        # a float below 1 is a ratio of the total steps for transformers; 1.0 would read as "1 step"
        warmup_steps=min(t.warmup_ratio, 0.999999) if t.warmup_ratio else 0,
        weight_decay=t.weight_decay, max_grad_norm=t.max_grad_norm,
        optim=t.optim if t.optim != "auto" else default_optimizer(device),
        logging_steps=t.logging_steps,
        logging_nan_inf_filter=False,  # a NaN loss is shown as NaN (and stops the run), never averaged away
        eval_strategy="steps" if has_eval else "no", eval_steps=t.eval_steps if has_eval else None,
        save_strategy="steps", save_steps=t.save_steps, save_total_limit=t.save_total_limit,
        seed=recipe.training_seed, data_seed=recipe.training_seed, report_to="none", disable_tqdm=True,
        include_num_input_tokens_seen="non_padding", use_cpu=device == "cpu", dataloader_num_workers=0,
        gradient_checkpointing=False,  # the strategy set it up on the model
        ddp_timeout=int(TIMEOUT.total_seconds()),  # several processes: see odin_core.runtime.processes
        **precision(device),
    )


