"""Odin's built-in LoRA strategies: lora, qlora, rslora, dora and full fine-tuning.

A strategy decides how the base model is loaded (``load_in_4bit``,
``full_finetuning``) and wraps it for training (``apply``): through Unsloth's
``FastLanguageModel.get_peft_model`` on the Unsloth engine, through PEFT's
``get_peft_model`` on the transformers engine — the same ``LoraConfig`` either
way. ``requires_cuda`` strategies (4-bit bitsandbytes) are refused before any
model loads when there is no GPU (``odin_core.runtime.device.check_device``).

Importing this module is cheap: peft, torch and unsloth are imported inside ``apply``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

import odin_core

GradientCheckpointing = bool | Literal["unsloth"]


class AdapterOptions(BaseModel):
    """Options of the adapter strategies (keys of the recipe's ``[finetune]`` table)."""

    model_config = ConfigDict(extra="forbid")
    r: int = Field(16, gt=0, description="adapter rank")
    alpha: int = Field(16, gt=0, description="LoRA alpha (scaling alpha/r; alpha/sqrt(r) with rslora)")
    dropout: float = Field(0.0, ge=0, lt=1, description="dropout on the adapter input (0 is Unsloth's fast path)")
    target_modules: list[str] | None = Field(None, description="module names to adapt; default: the loader's")
    bias: Literal["none", "all", "lora_only"] = "none"
    gradient_checkpointing: GradientCheckpointing = Field(
        "unsloth", description="true, false, or 'unsloth' (Unsloth's offloaded checkpointing; plain on transformers)")
    random_state: int | None = Field(None, description="seed of the adapter initialisation; default: the training seed")
    modules_to_save: list[str] | None = Field(
        None, description="modules trained in full and saved with the adapter, e.g. ['embed_tokens', 'lm_head']")


class FullOptions(BaseModel):
    """Options of full fine-tuning."""

    model_config = ConfigDict(extra="forbid")
    gradient_checkpointing: GradientCheckpointing = "unsloth"


class AdapterStrategy:
    """LoRA adapters on a 16/32-bit base model (PEFT format)."""

    requires_cuda = False
    load_in_4bit = False
    full_finetuning = False
    use_rslora = False
    use_dora = False

    def __init__(self, options: AdapterOptions | None):
        self.options = options or AdapterOptions()

    @property
    def gradient_checkpointing(self):
        return self.options.gradient_checkpointing

    def apply(self, loaded, seed: int):
        from odin_finetune.apply import apply_adapter

        return apply_adapter(self, loaded, seed)


class QLoraStrategy(AdapterStrategy):
    """LoRA adapters on a 4-bit (bitsandbytes NF4) base model; needs a CUDA GPU."""

    requires_cuda = True
    load_in_4bit = True


class RsLoraStrategy(AdapterStrategy):
    """Rank-stabilised LoRA: scaling alpha/sqrt(r), for higher ranks."""

    use_rslora = True


class DoraStrategy(AdapterStrategy):
    """DoRA: weight-decomposed LoRA (magnitude and direction trained apart)."""

    use_dora = True


class FullStrategy:
    """Full fine-tuning: every weight trained; the run saves the whole model."""

    requires_cuda = False
    load_in_4bit = False
    full_finetuning = True

    def __init__(self, options: FullOptions | None):
        self.options = options or FullOptions()

    @property
    def gradient_checkpointing(self):
        return self.options.gradient_checkpointing

    def apply(self, loaded, seed: int):
        from odin_finetune.apply import apply_full

        return apply_full(self, loaded, seed)


STRATEGIES = {
    "lora": (AdapterStrategy, AdapterOptions),
    "qlora": (QLoraStrategy, AdapterOptions),
    "rslora": (RsLoraStrategy, AdapterOptions),
    "dora": (DoraStrategy, AdapterOptions),
    "full": (FullStrategy, FullOptions),
}


@odin_core.hookimpl
def register_engines(register):
    from odin_finetune.engines import ENGINES

    for name, factory in ENGINES.items():
        register(name, factory, description=factory.__doc__.split("\n")[0])


@odin_core.hookimpl
def register_lora_strategies(register):
    for name, (factory, options) in STRATEGIES.items():
        register(f"finetune.{name}", factory, options=options, aliases=(name,))
