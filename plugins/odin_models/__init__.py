"""Odin's built-in model loaders: Llama, Phi and Mistral checkpoints, and small scratch models.

Each family loader takes a Hugging Face hub name or a local directory in Hugging
Face layout (``model.name``) and loads it through Unsloth's ``FastLanguageModel``
(engine "unsloth") or plain transformers (engine "transformers"), with the
family's defaults: LoRA target modules, chat template, pad-token fix. A ``.gguf``
file, or a model known by name (``smollm2-135m-instruct``: a GGUF file shipped in
a pip package, see ``gguf_models.KNOWN_GGUF``), is dequantized once into a cached
Hugging Face folder that is then loaded the same way. The
``scratch`` loader builds a small model of one of those architectures from the
recipe, with a byte-level BPE tokenizer trained on the recipe's own training
text, so a whole run works offline on a CPU.

Importing this module is cheap: torch, transformers and unsloth are imported
inside ``load``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

import odin_core

ATTENTION_MLP = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
# Phi-3 / Phi-4-mini fuse q/k/v and gate/up; Unsloth's own Phi uploads are "llamafied" (separate
# projections), so both spellings are candidates and the loader keeps those the checkpoint has.
PHI_MODULES = ["qkv_proj", "o_proj", "gate_up_proj", "down_proj", "q_proj", "k_proj", "v_proj", "gate_proj",
               "up_proj"]


class FamilyOptions(BaseModel):
    """Options of the llama, phi and mistral loaders (keys of the recipe's ``[model]`` table)."""

    model_config = ConfigDict(extra="forbid")
    target_modules: list[str] | None = Field(
        None, description="LoRA target modules; default: the family's attention and MLP projections")
    pad_token: str | None = Field(
        None, description="token used for padding when the tokenizer has none; default: the family's choice")
    revision: str | None = Field(None, description="hub revision (branch, tag or commit)")
    trust_remote_code: bool = False


class FamilyLoader:
    """Loads a checkpoint of one model family by hub name or local directory."""

    family = ""
    default_name = ""
    #: family default for formatting examples as chat messages (the instruct checkpoints have a template)
    chat_template = True
    target_modules: list[str] = ATTENTION_MLP
    pad_candidates: tuple[str, ...] = ()
    #: ``general.architecture`` values of the GGUF files this loader takes
    gguf_architectures: tuple[str, ...] = ()

    def __init__(self, options: FamilyOptions | None):
        self.options = options or FamilyOptions()

    def check(self, model_section, recipe) -> None:
        """Recipe-time checks that need ``model.name`` (cheap: no torch, no network): a known GGUF model whose
        package is not installed, a ``.gguf`` path that does not exist or holds another architecture."""
        from odin_models.gguf_models import locate_gguf

        locate_gguf(model_section.name, recipe, self.family, self.gguf_architectures)

    def shape(self, model_section, recipe):
        """The model's shape (``odin_core.ModelShape``) without loading it, or None (for ``odin estimate``)."""
        from odin_models.shapes import family_shape

        return family_shape(self, model_section, recipe)

    def tokenizer(self, model_section, recipe):
        """The model's tokenizer without its weights (``data.token_count = "model"`` counts prompts with it)."""
        from odin_models.loading import load_tokenizer

        return load_tokenizer(self, model_section, recipe)

    def load(self, model_section, settings, run, train_texts):
        from odin_models.loading import load_family

        return load_family(self, model_section, settings, run)


class LlamaLoader(FamilyLoader):
    """Llama 3.x (1B, 3B, 8B) through Unsloth or transformers."""

    family = "llama"
    default_name = "unsloth/Llama-3.2-1B-Instruct"
    pad_candidates = ("<|finetune_right_pad_id|>", "<|reserved_special_token_0|>")
    gguf_architectures = ("llama",)


class PhiLoader(FamilyLoader):
    """Phi-3 / Phi-3.5-mini / Phi-4-mini through Unsloth or transformers."""

    family = "phi"
    default_name = "unsloth/Phi-3.5-mini-instruct"
    target_modules = PHI_MODULES
    pad_candidates = ("<|dummy_0|>", "<|placeholder1|>", "<|endoftext|>")
    gguf_architectures = ("phi3",)


class MistralLoader(FamilyLoader):
    """Mistral 7B through Unsloth or transformers."""

    family = "mistral"
    default_name = "unsloth/mistral-7b-instruct-v0.3"
    pad_candidates = ("[control_8]", "<unk>")
    gguf_architectures = ("llama", "mistral")  # llama.cpp writes Mistral 7B as "llama"


class ScratchOptions(BaseModel):
    """A small model built from a config, with a tokenizer trained on the recipe's training text."""

    model_config = ConfigDict(extra="forbid")
    architecture: Literal["llama", "mistral", "phi3", "qwen2"] = "llama"
    num_layers: int = Field(2, gt=0, le=64)
    hidden_size: int = Field(128, gt=0)
    num_heads: int = Field(4, gt=0)
    num_kv_heads: int | None = Field(None, gt=0, description="default: num_heads")
    intermediate_size: int | None = Field(None, gt=0, description="default: 4 x hidden_size")
    vocab_size: int = Field(512, ge=300, le=65536,
                            description="BPE vocabulary size (256 byte symbols + special tokens + merges)")
    rope_theta: float = Field(10000.0, gt=0)
    tie_word_embeddings: bool = False

    @model_validator(mode="after")
    def _shapes(self):
        if self.hidden_size % self.num_heads:
            raise ValueError(f"hidden_size ({self.hidden_size}) must be a multiple of num_heads ({self.num_heads})")
        kv = self.num_kv_heads or self.num_heads
        if self.num_heads % kv:
            raise ValueError(f"num_heads ({self.num_heads}) must be a multiple of num_kv_heads ({kv})")
        return self


class ScratchLoader:
    """A small Llama/Mistral/Phi-3/Qwen2 model built from the recipe; trains offline on a CPU."""

    family = "scratch"
    chat_template = False

    def __init__(self, options: ScratchOptions | None):
        self.options = options or ScratchOptions()

    def shape(self, model_section, recipe):
        from odin_models.shapes import scratch_shape

        return scratch_shape(self.options, model_section, recipe)

    def load(self, model_section, settings, run, train_texts):
        from odin_models.scratch import load_scratch

        return load_scratch(self.options, model_section, settings, run, train_texts)


LOADERS = {
    "llama": (LlamaLoader, FamilyOptions),
    "phi": (PhiLoader, FamilyOptions),
    "mistral": (MistralLoader, FamilyOptions),
    "scratch": (ScratchLoader, ScratchOptions),
}


@odin_core.hookimpl
def register_model_loaders(register):
    for name, (factory, options) in LOADERS.items():
        register(f"models.{name}", factory, options=options, aliases=(name,))
