"""Odin's two training engines (``training.engine``), registered by the ``finetune`` plugin.

* ``unsloth``: Unsloth's ``FastLanguageModel`` loads and wraps the model, TRL's ``SFTTrainer`` (patched by
  Unsloth) trains it; without a GPU Unsloth 2026.10 falls back to CPU training by itself.
* ``transformers``: plain transformers, PEFT and a ``transformers.Trainer`` with TRL's data utilities
  (``pack_dataset``, ``DataCollatorForLanguageModeling``). Not ``SFTTrainer``: TRL 1.15's ``SFTTrainer``
  always installs a triton fused LM head, which fails on a CPU ("0 active drivers") unless Unsloth replaces
  it, and this engine is the baseline that must run everywhere.

A third engine is a plugin registering an ``odin_core.Engine`` through ``register_engines``; nothing in the
core names these two. Importing this module is cheap: every library is imported inside the methods.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager

from odin_core import RecipeError


def plain_checkpointing(model, mode) -> None:
    """Gradient checkpointing through transformers ('unsloth' means plain checkpointing there)."""
    if mode:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()


class TransformersEngine:
    """Plain transformers + PEFT + a transformers Trainer: the baseline that runs everywhere."""

    fused_loss = False

    def __init__(self, options=None):
        self.options = options

    def prepare(self, recipe) -> list[str]:
        if "unsloth" in sys.modules:
            return ["warning: unsloth is imported in this process; its patches to transformers also apply to the "
                    "transformers engine, which is then not plain transformers"]
        return []

    def cpu_weights_dtype(self, cpu_bf16: bool) -> str:
        return "float32"  # bf16 weights learn less per step on a CPU (BENCHMARKS.md)

    def load(self, source, *, dtype, auto_dtype, max_seq_length, load_in_4bit, full_finetuning,
             gradient_checkpointing, revision, trust_remote_code, device):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        kwargs = {"dtype": dtype, "revision": revision, "trust_remote_code": trust_remote_code}
        if load_in_4bit:
            import torch
            from transformers import BitsAndBytesConfig

            compute = dtype if dtype != torch.float32 else (
                torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16)
            kwargs["quantization_config"] = BitsAndBytesConfig(
                load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                bnb_4bit_compute_dtype=compute)
        if device == "cuda":
            kwargs["device_map"] = {"": 0}
        tokenizer = AutoTokenizer.from_pretrained(source, revision=revision, trust_remote_code=trust_remote_code)
        model = AutoModelForCausalLM.from_pretrained(source, **kwargs)
        return model, tokenizer

    def add_adapter(self, model, lora, *, use_dora, gradient_checkpointing, random_state, load_in_4bit):
        from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
        from transformers import set_seed

        if load_in_4bit:
            model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=bool(gradient_checkpointing),
                                                    gradient_checkpointing_kwargs={"use_reentrant": False})
        else:
            plain_checkpointing(model, gradient_checkpointing)
        set_seed(random_state)  # the adapter's initial weights
        return get_peft_model(model, LoraConfig(task_type="CAUSAL_LM", use_dora=use_dora, **lora))

    def prepare_full(self, model, gradient_checkpointing) -> None:
        plain_checkpointing(model, gradient_checkpointing)

    @contextmanager
    def generating(self, model):
        was_training = bool(getattr(model, "training", False))
        model.eval()
        try:
            yield
        finally:
            if was_training:
                model.train()

    def trainer(self, recipe, loaded, train_set, eval_set, arguments, *, pad_token_id, pad_to_multiple_of):
        from transformers import Trainer, TrainingArguments
        from trl import pack_dataset
        from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

        packing = recipe.training.packing
        if packing:
            length = recipe.model.max_seq_length
            train_set = pack_dataset(train_set, length, "bfd", {"keep_in_memory": True})
            if eval_set is not None:
                eval_set = pack_dataset(eval_set, length, "bfd", {"keep_in_memory": True})
        collator = DataCollatorForLanguageModeling(pad_token_id=pad_token_id, padding_free=packing,
                                                   pad_to_multiple_of=pad_to_multiple_of)
        args = TrainingArguments(**arguments, remove_unused_columns=False)
        return Trainer(model=loaded.model, args=args, train_dataset=train_set, eval_dataset=eval_set,
                       data_collator=collator, processing_class=loaded.tokenizer)


class UnslothEngine:
    """Unsloth's FastLanguageModel and TRL's SFTTrainer (patched by Unsloth): the fast path on a GPU."""

    fused_loss = True  # Unsloth's chunked cross-entropy (on a CPU only where it computes in bf16)

    def __init__(self, options=None):
        self.options = options

    def prepare(self, recipe) -> list[str]:
        import unsloth  # noqa: F401  (must patch transformers, trl and peft before anything imports them)

        if recipe.training.device == "cpu":
            import torch

            if torch.cuda.is_available():
                raise RecipeError("training.device = 'cpu' on a machine with a GPU needs engine = 'transformers' "
                                  "(Unsloth trains on the GPU whenever there is one)", file=recipe.path,
                                  key="training.device")
        return []

    def cpu_weights_dtype(self, cpu_bf16: bool) -> str:
        return "bfloat16" if cpu_bf16 else "float32"

    def load(self, source, *, dtype, auto_dtype, max_seq_length, load_in_4bit, full_finetuning,
             gradient_checkpointing, revision, trust_remote_code, device):
        from unsloth import FastLanguageModel  # noqa: I001  (must come before transformers)

        return FastLanguageModel.from_pretrained(
            model_name=source, max_seq_length=max_seq_length,
            # on a CPU Odin decides (cpu_weights_dtype); on a GPU "auto" is Unsloth's own choice
            dtype=None if auto_dtype and device == "cuda" else dtype, load_in_4bit=load_in_4bit,
            full_finetuning=full_finetuning, use_gradient_checkpointing=gradient_checkpointing,
            revision=revision, trust_remote_code=trust_remote_code)

    def add_adapter(self, model, lora, *, use_dora, gradient_checkpointing, random_state, load_in_4bit):
        from unsloth import FastLanguageModel

        kwargs = {"use_dora": True} if use_dora else {}
        return FastLanguageModel.get_peft_model(
            model, use_gradient_checkpointing=gradient_checkpointing, random_state=random_state,
            max_seq_length=getattr(model, "max_seq_length", 2048), **lora, **kwargs)

    def prepare_full(self, model, gradient_checkpointing) -> None:
        pass  # from_pretrained(full_finetuning=True) in the loader already set up checkpointing

    @contextmanager
    def generating(self, model):
        from unsloth import FastLanguageModel

        FastLanguageModel.for_inference(model)
        try:
            yield
        finally:
            FastLanguageModel.for_training(model)

    def trainer(self, recipe, loaded, train_set, eval_set, arguments, *, pad_token_id, pad_to_multiple_of):
        from unsloth import FastLanguageModel  # noqa: F401  (patches TRL before it is imported)
        from trl import SFTConfig, SFTTrainer

        args = SFTConfig(**arguments, max_length=recipe.model.max_seq_length, packing=recipe.training.packing,
                         pad_to_multiple_of=pad_to_multiple_of, completion_only_loss=None)  # labels: tokenize_split
        return SFTTrainer(model=loaded.model, args=args, train_dataset=train_set, eval_dataset=eval_set,
                          processing_class=loaded.tokenizer)


#: registered name -> engine class
ENGINES = {"unsloth": UnslothEngine, "transformers": TransformersEngine}
