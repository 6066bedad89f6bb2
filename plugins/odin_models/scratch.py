"""Scratch models: a small Llama/Mistral/Phi-3/Qwen2 built from the recipe, with a locally trained tokenizer.

The model and its byte-level BPE tokenizer are saved in Hugging Face layout in
``<run_dir>/base_model`` and then loaded from there through the recipe's engine,
exactly like a downloaded checkpoint: so ``odin eval``, ``odin export`` and
``--resume`` reload the same base, and another recipe can reuse it as ``model.name``.
"""

from __future__ import annotations

from pathlib import Path

from odin_core import LoadedModel, ModelError, resolve_chat_template, write_folder
from odin_models.loading import choose_target_modules, load_pretrained, parameter_counts

BASE_MODEL_DIR = "base_model"
PAD, EOS = "<|pad|>", "<|endoftext|>"

#: architecture -> (transformers config class, LoRA target modules)
ARCHITECTURES = {
    "llama": ("LlamaConfig", ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]),
    "mistral": ("MistralConfig", ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]),
    "qwen2": ("Qwen2Config", ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]),
    "phi3": ("Phi3Config", ["qkv_proj", "o_proj", "gate_up_proj", "down_proj"]),
}


def train_tokenizer(texts, vocab_size: int, max_length: int):
    """A byte-level BPE tokenizer trained on ``texts``, as a transformers ``PreTrainedTokenizerFast``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[PAD, EOS], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    count = 0

    def counted():
        nonlocal count
        for text in texts:
            count += 1
            yield text

    tokenizer.train_from_iterator(counted(), trainer)
    if count == 0:
        raise ModelError("the scratch loader needs training text to build its tokenizer, and the train split "
                         "is empty", key="data.num_examples.train")
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token=EOS, pad_token=PAD,
                                   model_max_length=max_length, padding_side="right")


def build_model(options, tokenizer, max_length: int, seed: int):
    """A randomly initialised causal LM of ``options.architecture`` (seeded)."""
    import torch
    import transformers

    config_name, _ = ARCHITECTURES[options.architecture]
    config_class = getattr(transformers, config_name)
    config = config_class(
        vocab_size=len(tokenizer), hidden_size=options.hidden_size, num_hidden_layers=options.num_layers,
        num_attention_heads=options.num_heads, num_key_value_heads=options.num_kv_heads or options.num_heads,
        intermediate_size=options.intermediate_size or 4 * options.hidden_size,
        max_position_embeddings=max_length, rope_theta=options.rope_theta,
        tie_word_embeddings=options.tie_word_embeddings, pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id, bos_token_id=None)
    torch.manual_seed(seed)
    return transformers.AutoModelForCausalLM.from_config(config, dtype=torch.float32)


def build_base(options, target: Path, texts, max_length: int, seed: int) -> None:
    """Train the tokenizer, build the model and save both in Hugging Face layout at ``target`` (atomically)."""
    tokenizer = train_tokenizer(texts, options.vocab_size, max_length)
    model = build_model(options, tokenizer, max_length, seed)

    def save(tmp):
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)

    write_folder(target, save, "base model", hint="free space, then resume the run")


def load_scratch(options, model_section, settings, run, train_texts) -> LoadedModel:
    """Build the scratch model in the run directory (unless it is there already), then load it."""
    recipe = run.recipe
    if settings.load_in_4bit:
        raise ModelError("4-bit loading (qlora) is for pretrained checkpoints; use strategy 'finetune.lora' or 'finetune.full' "
                         "with the scratch loader", file=recipe.path, key="finetune.strategy")
    if model_section.name:
        base = Path(model_section.name).expanduser()
        if not base.is_absolute() and not base.is_dir():
            base = recipe.base_dir / base
        if not (base / "config.json").is_file():
            raise ModelError(f"{model_section.name!r} is not a built scratch model (no config.json there); "
                             "leave model.name out to build one", file=recipe.path, key="model.name")
        built = False
    else:
        base = run.path / BASE_MODEL_DIR
        built = not (base / "config.json").is_file()
        if built:
            if train_texts is None:
                raise ModelError(f"{base} holds no scratch model, and none can be built without the training "
                                 "text", file=recipe.path, key="model")
            build_base(options, base, train_texts, model_section.max_seq_length, recipe.training_seed)
    model, tokenizer = load_pretrained(str(base), recipe, full_finetuning=settings.full_finetuning,
                                       gradient_checkpointing=settings.gradient_checkpointing)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = PAD
    chat = resolve_chat_template(model_section, False, tokenizer, {"file": recipe.path, "key": "model.chat_template"})
    # from the loaded model: a reused base (model.name) may be of another architecture than the options say
    candidates = list(dict.fromkeys(m for _, targets in ARCHITECTURES.values() for m in targets))
    targets = choose_target_modules(model, candidates, None, {"file": recipe.path, "key": "model"})
    info = {"family": "scratch", "architecture": model.config.model_type, "source": str(base), "built": built,
            "vocab_size": len(tokenizer), **parameter_counts(model)}
    return LoadedModel(model=model, tokenizer=tokenizer, engine=recipe.training.engine, target_modules=targets,
                       chat_template=chat, info=info, untrained=True)
