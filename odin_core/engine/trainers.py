"""The trainer objects of the two engines, from one set of ``TrainingArguments`` keywords.

* ``unsloth``: TRL's ``SFTTrainer``/``SFTConfig`` on the model Unsloth loaded (Unsloth
  patches both; without a GPU Unsloth 2026.10 falls back to CPU training by itself).
* ``transformers``: plain ``transformers.Trainer`` with TRL's data utilities
  (``pack_dataset``, ``DataCollatorForLanguageModeling``). Not ``SFTTrainer``: TRL 1.15's
  ``SFTTrainer`` always installs a triton fused LM head, which fails on a CPU ("0 active
  drivers") unless Unsloth replaces it, and this engine is the baseline that must run everywhere.
"""

from __future__ import annotations

from odin_core.chat import pad_token_id
from odin_core.device import default_optimizer, precision
from odin_core.layout import CHECKPOINT_DIR
from odin_core.processes import TIMEOUT

#: batches are padded to a multiple of this many tokens: a handful of shapes instead of one per batch length.
#: With one shape per length, the Unsloth engine's resident memory on a CPU grew with every new shape and never
#: came back (the quickstart: +39% peak RSS from step 100 to 300; BENCHMARKS.md, "Memory on long runs").
PAD_TO_MULTIPLE_OF = 64


def training_arguments(recipe, run_dir, device: str, has_eval: bool) -> dict:
    """The ``TrainingArguments`` keywords both engines share, from the recipe's ``[training]``."""
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
        ddp_timeout=int(TIMEOUT.total_seconds()),  # several processes: see odin_core.processes
        **precision(device),
    )


def unsloth_trainer(recipe, loaded, train_set, eval_set, common):
    from unsloth import FastLanguageModel  # noqa: F401  (patches TRL before it is imported)
    from trl import SFTConfig, SFTTrainer

    t = recipe.training
    args = SFTConfig(**common, max_length=recipe.model.max_seq_length, packing=t.packing,
                     pad_to_multiple_of=PAD_TO_MULTIPLE_OF, completion_only_loss=None)  # labels are built by tokenize_split
    return SFTTrainer(model=loaded.model, args=args, train_dataset=train_set, eval_dataset=eval_set,
                      processing_class=loaded.tokenizer)


def transformers_trainer(recipe, loaded, train_set, eval_set, common):
    from transformers import Trainer, TrainingArguments
    from trl import pack_dataset
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

    packing = recipe.training.packing
    if packing:
        length = recipe.model.max_seq_length
        train_set = pack_dataset(train_set, length, "bfd", {"keep_in_memory": True})
        if eval_set is not None:
            eval_set = pack_dataset(eval_set, length, "bfd", {"keep_in_memory": True})
    collator = DataCollatorForLanguageModeling(pad_token_id=pad_token_id(loaded.tokenizer), padding_free=packing,
                                               pad_to_multiple_of=PAD_TO_MULTIPLE_OF)
    args = TrainingArguments(**common, remove_unused_columns=False)
    return Trainer(model=loaded.model, args=args, train_dataset=train_set, eval_dataset=eval_set,
                   data_collator=collator, processing_class=loaded.tokenizer)

