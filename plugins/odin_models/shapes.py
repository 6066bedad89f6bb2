"""A model's shape (layers, widths, vocabulary) without loading it, for ``odin estimate``.

From a local Hugging Face folder's ``config.json`` (or one in the Hugging Face cache), a GGUF file's
metadata (the ``gguf`` package's reader: memory-mapped, no tensors read), the scratch loader's options, or
``KNOWN_SHAPES`` for the family defaults and the recipes' hub names. No network.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from odin_core import ModelShape

#: published configs of the models the recipes name (hub config.json values)
KNOWN_SHAPES = {
    "llama-3.2-1b": ModelShape(2048, 16, 32, 8, 8192, 128256, True, 64, "llama", "known shapes"),
    "llama-3.2-3b": ModelShape(3072, 28, 24, 8, 8192, 128256, True, 128, "llama", "known shapes"),
    "phi-3.5-mini": ModelShape(3072, 32, 32, 32, 8192, 32064, False, 96, "phi3", "known shapes"),
    "mistral-7b": ModelShape(4096, 32, 32, 8, 14336, 32768, False, 128, "mistral", "known shapes"),
}
_SUFFIXES = re.compile(r"(-instruct|-bnb-4bit|-unsloth|-v0\.\d|-hf)+$")


def known_shape(name: str) -> ModelShape | None:
    """The table's shape for a hub name such as ``unsloth/llama-3.2-1b-instruct-bnb-4bit``."""
    stem = name.rsplit("/", 1)[-1].lower()
    stem = _SUFFIXES.sub("", stem)
    while True:  # the suffixes can come in any order
        shorter = _SUFFIXES.sub("", stem)
        if shorter == stem:
            break
        stem = shorter
    return KNOWN_SHAPES.get(stem)


def shape_from_config(config: dict, source: str = "config.json") -> ModelShape:
    hidden = int(config["hidden_size"])
    heads = int(config["num_attention_heads"])
    return ModelShape(
        hidden_size=hidden, num_layers=int(config["num_hidden_layers"]), num_heads=heads,
        num_kv_heads=int(config.get("num_key_value_heads") or heads),
        intermediate_size=int(config.get("intermediate_size") or 4 * hidden),
        vocab_size=int(config["vocab_size"]), tie_word_embeddings=bool(config.get("tie_word_embeddings", False)),
        head_dim=config.get("head_dim") or hidden // heads, architecture=str(config.get("model_type", "")),
        source=source)


def shape_from_folder(folder: Path) -> ModelShape:
    path = Path(folder) / "config.json"
    return shape_from_config(json.loads(path.read_text(encoding="utf-8")), str(path))


def shape_from_gguf(path: Path) -> ModelShape:
    """From a GGUF file's metadata and tensor list, read with ``gguf.GGUFReader`` (memory-mapped)."""
    from gguf import GGUFReader

    reader = GGUFReader(str(path))

    def value(key, default=None):
        f = reader.fields.get(key)
        return f.contents() if f is not None else default

    arch = value("general.architecture")
    hidden = int(value(f"{arch}.embedding_length"))
    heads = int(value(f"{arch}.attention.head_count"))
    vocab = value(f"{arch}.vocab_size") or len(value("tokenizer.ggml.tokens", []))
    names = {t.name for t in reader.tensors}
    return ModelShape(
        hidden_size=hidden, num_layers=int(value(f"{arch}.block_count")), num_heads=heads,
        num_kv_heads=int(value(f"{arch}.attention.head_count_kv", heads)),
        intermediate_size=int(value(f"{arch}.feed_forward_length")), vocab_size=int(vocab),
        tie_word_embeddings="output.weight" not in names,
        head_dim=int(value(f"{arch}.attention.key_length", hidden // heads)), architecture=str(arch),
        source=str(path))


def cached_config(name: str) -> Path | None:
    """The hub model's config.json in the local Hugging Face cache, if there (no network)."""
    try:
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(name, "config.json")
    except Exception:  # an invalid repo id, no huggingface_hub
        return None
    return Path(found) if isinstance(found, str) else None


def family_shape(loader, model_section, recipe) -> ModelShape | None:
    """The shape of what a family loader would load, or None when nothing local describes it."""
    from odin_models.gguf_models import locate_gguf

    name = model_section.name or loader.default_name
    gguf = locate_gguf(name, recipe, loader.family, loader.gguf_architectures)
    if gguf is not None:
        return shape_from_gguf(gguf.path)
    for folder in (Path(name).expanduser(), recipe.base_dir / name):
        if (folder / "config.json").is_file():
            return shape_from_folder(folder)
    cached = cached_config(name)
    if cached is not None:
        return shape_from_config(json.loads(cached.read_text(encoding="utf-8")), f"{name} (Hugging Face cache)")
    return known_shape(name)


def scratch_shape(options, model_section, recipe) -> ModelShape:
    """The scratch model the options describe (or the built one ``model.name`` points at)."""
    if model_section.name:
        folder = Path(model_section.name).expanduser()
        folder = folder if folder.is_dir() else recipe.base_dir / folder
        if (folder / "config.json").is_file():
            return shape_from_folder(folder)
    hidden = options.hidden_size
    return ModelShape(hidden_size=hidden, num_layers=options.num_layers, num_heads=options.num_heads,
                      num_kv_heads=options.num_kv_heads or options.num_heads,
                      intermediate_size=options.intermediate_size or 4 * hidden,
                      vocab_size=options.vocab_size, tie_word_embeddings=options.tie_word_embeddings,
                      head_dim=hidden // options.num_heads, architecture=options.architecture,
                      source="scratch options (vocab_size is the tokenizer's upper bound)")
