"""The flow of ``odin estimate``: a recipe's peak training memory, before any weights load, against the device.

The model loader describes the model's shape (``shape(model_section, recipe)``: a config.json, GGUF
metadata, its options, a table of known models); the strategy and ``[training]`` decide precision,
trainable parameters, optimizer, checkpointing, batch and sequence length; ``odin_core.foundation.memory`` does the
arithmetic, and ``odin_core.runtime.machine`` says how much the device has free.
"""

from __future__ import annotations

from odin_core.components.plugins import get_component, get_engine
from odin_core.foundation.errors import ModelError
from odin_core.foundation.memory import GB, TrainingSetup, advice, estimate
from odin_core.recipe import load_recipe
from odin_core.recipe.schema import ANSWER_ROOM
from odin_core.runtime.device import cpu_weights_dtype
from odin_core.runtime.machine import available_memory


def machine_device() -> str:
    """``cuda`` when torch sees a GPU, else ``cpu`` (torch missing: ``cpu``)."""
    try:
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    except Exception:
        return "cpu"


def default_seq_len(recipe) -> int:
    """The longest training sequence: the prompt limit plus room for the answer, at most max_seq_length."""
    return min(recipe.model.max_seq_length, recipe.data.max_prompt_tokens + ANSWER_ROOM)


def recipe_setup(recipe, strategy, device: str, seq_len: int | None = None,
                 batch_size: int | None = None) -> TrainingSetup:
    """How ``recipe`` would train on ``device``, as the estimator needs it."""
    options = getattr(strategy, "options", None)
    full = bool(getattr(strategy, "full_finetuning", False))
    four_bit = bool(getattr(strategy, "load_in_4bit", False))
    dtype = recipe.model.dtype
    engine = get_engine(recipe.training.engine)
    # Unsloth's CPU fallback trains in bf16 where the CPU has it, with its chunked cross-entropy
    cpu_16bit = device == "cpu" and dtype == "auto" and cpu_weights_dtype(recipe.training.engine) == "bfloat16"
    if four_bit:
        precision = "4bit"
    elif dtype == "float32" or (dtype == "auto" and device == "cpu" and not cpu_16bit):
        precision = "fp32"
    else:
        precision = "16bit"
    optim = recipe.training.optim
    optimizer_8bit = ("8bit" in optim) if optim != "auto" else device == "cuda"
    checkpointing = bool(getattr(strategy, "gradient_checkpointing", False))
    targets = getattr(options, "target_modules", None) or (
        "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
    return TrainingSetup(
        batch_size=batch_size or recipe.training.batch_size,
        seq_len=seq_len or default_seq_len(recipe), precision=precision, full_finetuning=full,
        lora_r=getattr(options, "r", 0) or 0, target_modules=tuple(targets),
        modules_to_save=tuple(getattr(options, "modules_to_save", None) or ()),
        gradient_checkpointing=checkpointing, optimizer_8bit=optimizer_8bit, device=device,
        activation_bytes=2 if device == "cuda" or precision == "16bit" else 4, fused_attention=device == "cuda",
        fused_loss=bool(getattr(engine, "fused_loss", False)) and (device == "cuda" or cpu_16bit))


def estimate_recipe(path, overrides=(), device: str = "auto", seq_len: int | None = None,
                    batch_size: int | None = None, available: float | None = None) -> dict:
    """The estimate of ``path`` as plain data: shape, setup, GB by component, total, what is free, advice.

    ``device``: ``auto`` (a qlora recipe is estimated for CUDA; otherwise this machine's device), ``cpu`` or
    ``cuda``. ``available``: bytes to compare with (default: the device's free memory)."""
    recipe = load_recipe(path, overrides)
    strategy = get_component("lora_strategy", recipe.finetune.strategy).create(recipe.finetune.options)
    loader = get_component("model_loader", recipe.model.loader).create(recipe.model.options)
    shape_of = getattr(loader, "shape", None)
    shape = shape_of(recipe.model, recipe) if shape_of else None
    if shape is None:
        raise ModelError(f"the shape of {recipe.model.name or recipe.model.loader!r} is not known without "
                         "loading it: set model.name to a local folder with a config.json or a .gguf file "
                         "(or the loader has no shape())", file=recipe.path, key="model.name")
    if device == "auto":
        device = "cuda" if getattr(strategy, "requires_cuda", False) else machine_device()
    setup = recipe_setup(recipe, strategy, device, seq_len, batch_size)
    est = estimate(shape, setup)
    if available is None:
        available, what = available_memory(device)
        if available is None and device == "cuda":
            what = "no CUDA GPU is visible on this machine, so nothing to compare with"
    else:
        what = "given"
    out = est.as_dict()
    out.update({"recipe": str(path), "device": device, "available_gb": round(available / GB, 2) if available else None,
                "available_is": what, "fits": None if available is None else est.total <= available,
                "advice": advice(est, available) if available else []})
    return out
