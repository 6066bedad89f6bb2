"""Where a run computes: the device choice, mixed precision, optimizer default and peak memory.

Training, evaluation and reloading a saved run all ask here, so they never disagree.
"""

from __future__ import annotations

import resource

from odin_core.foundation.errors import RecipeError


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def training_device(recipe) -> str:
    """``"cuda"`` when a GPU is visible and ``training.device`` allows it, else ``"cpu"``."""
    return "cuda" if recipe.training.device != "cpu" and cuda_available() else "cpu"


def check_device(recipe, needs_cuda: bool = False) -> str:
    """The device a recipe will use; a clear RecipeError when it needs CUDA and none is visible.

    ``needs_cuda``: the LoRA strategy (or a reload) needs a GPU (4-bit bitsandbytes)."""
    has_cuda = cuda_available()
    if recipe.training.device == "cuda" and not has_cuda:
        raise RecipeError("training.device is 'cuda' but no CUDA GPU is visible", file=recipe.path,
                          key="training.device")
    if needs_cuda and not has_cuda:
        raise RecipeError(f"strategy {recipe.finetune.strategy!r} needs a CUDA GPU (4-bit bitsandbytes) and none is "
                          "visible; use strategy = \"finetune.lora\" on this machine", file=recipe.path,
                          key="finetune.strategy")
    return training_device(recipe)


def torch_threads() -> int:
    """The CPU threads torch computes with."""
    import torch

    return torch.get_num_threads()


def precision(device: str) -> dict:
    """``bf16``/``fp16`` flags for ``TrainingArguments``: bf16 where the GPU has it, fp16 on older GPUs, none on CPU."""
    if device != "cuda":
        return {"bf16": False, "fp16": False}
    import torch

    bf16 = torch.cuda.is_bf16_supported()
    return {"bf16": bf16, "fp16": not bf16}


def cpu_weights_dtype(engine: str) -> str:
    """The dtype a CPU run with ``model.dtype = "auto"`` trains its weights in, as the engine registered as
    ``engine`` decides from whether the CPU computes in bf16 natively (``machine.cpu_bf16``): the unsloth engine
    uses bf16 there, the transformers engine keeps float32 (bf16 weights learn less per step, BENCHMARKS.md)."""
    from odin_core.components.plugins import get_engine
    from odin_core.runtime.machine import cpu_bf16

    return get_engine(engine).cpu_weights_dtype(cpu_bf16())


def default_optimizer(device: str) -> str:
    """8-bit AdamW on CUDA (bitsandbytes), AdamW elsewhere."""
    return "adamw_8bit" if device == "cuda" else "adamw_torch"


def peak_memory_mb(device: str) -> float:
    """Peak memory so far: CUDA allocations on a GPU, the process's resident set size on a CPU."""
    if device == "cuda":
        import torch

        return torch.cuda.max_memory_allocated() / 2**20
    global _peak_seen_kb
    _peak_seen_kb = max(_peak_seen_kb, _peak_rss_kb())
    return _peak_seen_kb / 1024


#: the largest VmHWM read so far: Linux refreshes its high-water mark lazily, so two reads can go down by a page
_peak_seen_kb = 0.0


def _peak_rss_kb() -> float:
    """This process's peak resident set (kB): Linux's VmHWM, the high-water mark of this program's own memory.

    Not ``ru_maxrss``: at exec Linux carries the parent's peak into it, so a run started from a large process
    (a test session, a notebook kernel) would report the parent's memory as its own."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return float(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kB on Linux, where /proc is missing


def device_of(model):
    """The device of a model's first parameter (``"cpu"`` for a model without parameters)."""
    try:
        return next(model.parameters()).device
    except (StopIteration, AttributeError):
        return "cpu"


def linear_module_names(model) -> set[str]:
    """Last name parts of the model's linear layers (4-bit ones included), the output head excluded."""
    import torch

    names = set()
    for full_name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear):
            leaf = full_name.rsplit(".", 1)[-1]
            if leaf not in ("lm_head", "score"):
                names.add(leaf)
    return names


def parameter_count(model) -> int | None:
    """Parameters of ``model`` as trained numbers: a 4-bit (bitsandbytes) weight counts its unpacked shape."""
    import math

    try:
        params = list(model.parameters())
    except Exception:  # a model object without parameters()
        return None
    total = 0
    for p in params:
        state = getattr(p, "quant_state", None)
        shape = getattr(state, "shape", None)
        total += math.prod(shape) if shape is not None else p.numel()
    return int(total)


def trainable_parameter_count(model) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
