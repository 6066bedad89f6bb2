"""Wrapping a loaded model for training, through its engine: LoRA adapters (PEFT format), or the whole model."""

from __future__ import annotations

import odin_core
from odin_core import ModelError, linear_module_names


def _check_targets(model, targets) -> None:
    present = linear_module_names(model)
    missing = [t for t in targets if t not in present]
    if missing:
        raise ModelError(f"finetune.target_modules {missing} are not linear layers of this model; it has: "
                         f"{', '.join(sorted(present))}", key="finetune.target_modules")


def apply_adapter(strategy, loaded, seed: int):
    """The PEFT model for ``loaded`` with the strategy's adapter configuration."""
    options = strategy.options
    targets = options.target_modules or loaded.target_modules
    if not targets:
        raise ModelError("no LoRA target modules: the loader gave none; set finetune.target_modules",
                         key="finetune.target_modules")
    _check_targets(loaded.model, targets)
    random_state = options.random_state if options.random_state is not None else seed
    common = dict(r=options.r, lora_alpha=options.alpha, lora_dropout=options.dropout, bias=options.bias,
                  target_modules=list(targets), use_rslora=strategy.use_rslora, modules_to_save=options.modules_to_save)
    engine = odin_core.get_engine(loaded.engine)
    return engine.add_adapter(loaded.model, common, use_dora=strategy.use_dora,
                              gradient_checkpointing=options.gradient_checkpointing, random_state=random_state,
                              load_in_4bit=strategy.load_in_4bit)


def apply_full(strategy, loaded, seed: int):
    """The whole model, every parameter trainable."""
    model = loaded.model
    odin_core.get_engine(loaded.engine).prepare_full(model, strategy.options.gradient_checkpointing)
    for parameter in model.parameters():
        parameter.requires_grad_(True)
    model.train()
    return model
