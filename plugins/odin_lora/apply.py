"""Wrapping a loaded model for training: adapters through Unsloth or PEFT, or the whole model."""

from __future__ import annotations

from odin_core import ModelError, linear_module_names


def _check_targets(model, targets) -> None:
    present = linear_module_names(model)
    missing = [t for t in targets if t not in present]
    if missing:
        raise ModelError(f"lora.target_modules {missing} are not linear layers of this model; it has: "
                         f"{', '.join(sorted(present))}", key="lora.target_modules")


def _plain_checkpointing(model, mode) -> None:
    """Gradient checkpointing on the transformers engine ('unsloth' means plain checkpointing there)."""
    if mode:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()


def apply_adapter(strategy, loaded, seed: int):
    """The PEFT model for ``loaded`` with the strategy's adapter configuration."""
    options = strategy.options
    targets = options.target_modules or loaded.target_modules
    if not targets:
        raise ModelError("no LoRA target modules: the loader gave none; set lora.target_modules",
                         key="lora.target_modules")
    _check_targets(loaded.model, targets)
    random_state = options.random_state if options.random_state is not None else seed
    common = dict(r=options.r, lora_alpha=options.alpha, lora_dropout=options.dropout, bias=options.bias,
                  target_modules=list(targets), use_rslora=strategy.use_rslora, modules_to_save=options.modules_to_save)
    if loaded.engine == "unsloth":
        from unsloth import FastLanguageModel

        kwargs = {"use_dora": True} if strategy.use_dora else {}
        return FastLanguageModel.get_peft_model(
            loaded.model, use_gradient_checkpointing=options.gradient_checkpointing, random_state=random_state,
            max_seq_length=getattr(loaded.model, "max_seq_length", 2048), **common, **kwargs)

    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
    from transformers import set_seed

    model = loaded.model
    if strategy.load_in_4bit:
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=bool(options.gradient_checkpointing),
                                                gradient_checkpointing_kwargs={"use_reentrant": False})
    else:
        _plain_checkpointing(model, options.gradient_checkpointing)
    set_seed(random_state)  # the adapter's initial weights
    config = LoraConfig(task_type="CAUSAL_LM", use_dora=strategy.use_dora, **common)
    return get_peft_model(model, config)


def apply_full(strategy, loaded, seed: int):
    """The whole model, every parameter trainable."""
    model = loaded.model
    # On Unsloth, from_pretrained(full_finetuning=True) in the loader already set up checkpointing
    if loaded.engine != "unsloth":
        _plain_checkpointing(model, strategy.options.gradient_checkpointing)
    for parameter in model.parameters():
        parameter.requires_grad_(True)
    model.train()
    return model
