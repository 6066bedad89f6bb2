"""Loading checkpoints through Unsloth or transformers, with clear errors when a model cannot be had.

Everything heavy is imported inside the functions. On the Unsloth engine
``unsloth`` is imported before transformers, as Unsloth requires.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import odin_core
from odin_core import (
    LoadedModel,
    ModelError,
    RecipeError,
    cpu_weights_dtype,
    linear_module_names,
    parameter_count,
    resolve_chat_template,
    trainable_parameter_count,
    training_device,
)
from odin_models.gguf_models import locate_gguf
from odin_models.gguf_models import prepare as prepare_gguf

QUICKSTART = "recipes/quickstart.toml"
_PATH_LIKE = re.compile(r"^(\.{1,2}/|/|~)|\\")


def ways_out(name: str) -> str:
    return (f"Either set model.name to a local directory holding {name!r} in Hugging Face layout "
            f"(config.json, weights, tokenizer), or run the offline quickstart: odin run {QUICKSTART}")


def resolve_source(name: str, recipe, revision: str | None = None) -> str:
    """A local model directory, or a hub name that is cached or downloadable; otherwise one ModelError."""
    where = {"file": recipe.path, "key": "model.name"}
    candidates = [Path(name).expanduser()]
    if not candidates[0].is_absolute():
        candidates.append(recipe.base_dir / name)
    for path in candidates:
        if path.is_dir():
            if not (path / "config.json").is_file():
                raise ModelError(f"{str(path)!r} is a directory but not a model in Hugging Face layout "
                                 "(no config.json)", **where)
            return str(path.resolve())
    if _PATH_LIKE.search(name) or Path(name).suffix in (".safetensors", ".bin", ".gguf"):
        raise ModelError(f"local model directory {name!r} does not exist. {ways_out(name)}", **where)

    from huggingface_hub import HfApi, constants, try_to_load_from_cache
    from huggingface_hub.errors import GatedRepoError, HFValidationError, RepositoryNotFoundError
    from huggingface_hub.utils import validate_repo_id

    try:
        validate_repo_id(name)
    except HFValidationError:
        raise ModelError(f"{name!r} is neither a local directory nor a valid Hugging Face model name "
                         f"('owner/model'). {ways_out(name)}", **where) from None
    cached = try_to_load_from_cache(name, "config.json", revision=revision)
    try:
        HfApi().model_info(name, revision=revision, timeout=10)
        return name
    except Exception as exc:  # not found, gated, no network, offline mode, timeout
        problem = exc
    if isinstance(cached, str):
        # In the cache but not to be had from the Hub now: go offline, so the libraries read the cache
        # at once instead of retrying the network for a minute or more.
        os.environ["HF_HUB_OFFLINE"] = "1"
        constants.HF_HUB_OFFLINE = True
        return name
    if isinstance(problem, GatedRepoError):  # (a subclass of RepositoryNotFoundError)
        raise ModelError(f"model {name!r} is gated on the Hugging Face Hub: accept its licence and set HF_TOKEN. "
                         f"{ways_out(name)}", **where) from None
    if isinstance(problem, RepositoryNotFoundError):
        raise ModelError(f"model {name!r} does not exist on the Hugging Face Hub (or is private and no token "
                         f"is set). {ways_out(name)}", **where) from None
    reason = str(problem).strip().splitlines()[0] if str(problem).strip() else type(problem).__name__
    raise ModelError(f"model {name!r} is not a local directory, is not in the Hugging Face cache, and cannot "
                     f"be downloaded (the Hub is unreachable: {reason}). {ways_out(name)}", **where)


def torch_dtype(name: str, device: str, full_finetuning: bool = False, engine: str = "transformers"):
    """The torch dtype for a recipe's ``model.dtype`` ("auto": bf16/fp16 on CUDA; on a CPU what
    ``odin_core.cpu_weights_dtype`` decides for the engine)."""
    import torch

    if name != "auto":
        return getattr(torch, name)
    if device != "cuda":
        return getattr(torch, cpu_weights_dtype(engine))
    if torch.cuda.is_bf16_supported():
        return torch.bfloat16
    # fp16 master weights cannot be trained with fp16 mixed precision
    return torch.float32 if full_finetuning else torch.float16


def require_cuda_for_4bit(recipe) -> None:
    """4-bit loading needs CUDA: on a CPU, Unsloth would load in 16 bits instead, and a switch is never silent."""
    if training_device(recipe) != "cuda":
        raise RecipeError("4-bit loading (bitsandbytes) needs a CUDA GPU and none is visible; use "
                          "strategy = \"lora\" on this machine", file=recipe.path, key="finetune.strategy")


def load_pretrained(source: str, recipe, *, load_in_4bit: bool = False, full_finetuning: bool = False,
                    gradient_checkpointing="unsloth", revision: str | None = None,
                    trust_remote_code: bool = False):
    """(model, tokenizer) from a local directory or hub name, through the recipe's engine."""
    engine_name = recipe.training.engine
    engine = odin_core.get_engine(engine_name, file=recipe.path)
    section = recipe.model
    device = training_device(recipe)
    if load_in_4bit:
        require_cuda_for_4bit(recipe)
    dtype = torch_dtype(section.dtype, device, full_finetuning, engine_name)
    try:
        model, tokenizer = engine.load(source, dtype=dtype, auto_dtype=section.dtype == "auto",
                                       max_seq_length=section.max_seq_length, load_in_4bit=load_in_4bit,
                                       full_finetuning=full_finetuning, gradient_checkpointing=gradient_checkpointing,
                                       revision=revision, trust_remote_code=trust_remote_code, device=device)
    except Exception as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise ModelError(f"could not load {source!r} with the {engine_name} engine: {type(exc).__name__}: {message}",
                         file=recipe.path, key="model.name") from exc
    return model, tokenizer


def choose_target_modules(model, candidates, explicit, where: dict) -> list[str]:
    """The LoRA targets: ``explicit`` (all must exist) or the family candidates the model has."""
    present = linear_module_names(model)
    if explicit:
        missing = [m for m in explicit if m not in present]
        if missing:
            raise ModelError(f"target_modules {missing} are not linear layers of this model; it has: "
                             f"{', '.join(sorted(present))}", **where)
        return list(explicit)
    chosen = [m for m in candidates if m in present]
    if not chosen:
        raise ModelError(f"none of the family's LoRA target modules ({', '.join(candidates)}) are in this model; "
                         f"set target_modules to some of: {', '.join(sorted(present))}", **where)
    return chosen


def fix_pad_token(tokenizer, model, candidates=(), explicit: str | None = None) -> str | None:
    """Give the tokenizer a pad token distinct from EOS where the vocabulary allows; returns what was set."""
    vocab = tokenizer.get_vocab()
    if explicit is not None:
        if explicit not in vocab:
            raise ModelError(f"pad_token {explicit!r} is not in the tokenizer's vocabulary", key="model.pad_token")
        tokenizer.pad_token = explicit
    elif tokenizer.pad_token is None:
        choice = next((t for t in candidates if t in vocab), None)
        # EOS as padding still trains the EOS: padding is masked by position, not by token id
        tokenizer.pad_token = choice or tokenizer.eos_token
    else:
        return None
    if getattr(model, "config", None) is not None:
        model.config.pad_token_id = tokenizer.pad_token_id
    return tokenizer.pad_token


def parameter_counts(model) -> dict:
    return {"parameters": parameter_count(model), "trainable_parameters": trainable_parameter_count(model)}


def load_family(loader, model_section, settings, run) -> LoadedModel:
    """What a family loader's ``load`` does: resolve the name, load, apply the family defaults."""
    recipe = run.recipe
    options = loader.options
    if settings.load_in_4bit:
        require_cuda_for_4bit(recipe)  # before any download
    name = model_section.name or loader.default_name
    gguf = locate_gguf(name, recipe, loader.family, loader.gguf_architectures)
    if gguf is not None:
        if options.revision:
            raise ModelError("revision is for hub models; a GGUF file has none", file=recipe.path,
                             key="model.revision")
        source, gguf_info = prepare_gguf(gguf, recipe, run)
    else:
        source, gguf_info = resolve_source(name, recipe, options.revision), {}
    model, tokenizer = load_pretrained(
        source, recipe, load_in_4bit=settings.load_in_4bit, full_finetuning=settings.full_finetuning,
        gradient_checkpointing=settings.gradient_checkpointing, revision=options.revision,
        trust_remote_code=options.trust_remote_code)
    where = {"file": recipe.path, "key": "model"}
    pad = fix_pad_token(tokenizer, model, loader.pad_candidates, options.pad_token)
    targets = choose_target_modules(model, loader.target_modules, options.target_modules,
                                    {"file": recipe.path, "key": "model.target_modules"})
    chat = resolve_chat_template(model_section, loader.chat_template, tokenizer, where)
    info = {"family": loader.family, "name": name, "source": source, "pad_token": tokenizer.pad_token,
            "pad_token_fixed": pad is not None, "load_in_4bit": settings.load_in_4bit,
            "dtype": str(getattr(model, "dtype", "")), **parameter_counts(model), **gguf_info}
    return LoadedModel(model=model, tokenizer=tokenizer, engine=recipe.training.engine, target_modules=targets,
                       chat_template=chat, info=info)


def load_tokenizer(loader, model_section, recipe):
    """The tokenizer of ``model.name`` (a GGUF file, a local folder, or a cached hub model), without weights."""
    from transformers import AutoTokenizer

    options = model_section.options or loader.options
    name = model_section.name or loader.default_name
    gguf = locate_gguf(name, recipe, loader.family, loader.gguf_architectures)
    try:
        if gguf is not None:
            return AutoTokenizer.from_pretrained(str(gguf.path.parent), gguf_file=gguf.path.name)
        source = resolve_source(name, recipe, options.revision)
        return AutoTokenizer.from_pretrained(source, revision=options.revision,
                                             trust_remote_code=options.trust_remote_code)
    except (OSError, ValueError) as exc:
        raise ModelError(f"could not load the tokenizer of {name!r}: {exc}", file=recipe.path,
                         key="data.token_count") from None
