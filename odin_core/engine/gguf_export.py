"""A merged Llama-architecture model written as one GGUF file with the ``gguf`` package's writer.

Weights are renamed with gguf's tensor-name tables (``model.layers.0.self_attn.q_proj.weight`` ->
``blk.0.attn_q.weight``), the query and key projections permuted as llama.cpp's converter does (its rotary
layout; transformers' GGUF loader permutes them back), 1-D tensors (norms) kept in float32 and the rest
written as f16, bf16 or q8_0. The byte-level BPE tokenizer goes in as a ``gpt2``-type vocabulary (tokens,
types, merges, special-token ids) with the chat template. No compiled llama.cpp is needed.
"""

from __future__ import annotations

import json

from odin_core.foundation.errors import DataError

GGUF_DTYPES = ("f16", "bf16", "q8_0")
ARCHITECTURES = ("llama", "mistral")  # llama.cpp writes Mistral 7B as "llama" too


def _permute(weights, n_head: int, n_head_kv: int | None = None):
    """llama.cpp's ``LlamaModel.permute``: rows of each head reordered for its rotary embedding."""
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return (weights.reshape(n_head, 2, weights.shape[0] // n_head // 2, *weights.shape[1:])
            .swapaxes(1, 2).reshape(weights.shape))


def _tokenizer_vocab(tokenizer) -> dict:
    """tokens (by id), token types, merges and special ids of a byte-level BPE fast tokenizer."""
    from gguf import TokenType

    state = json.loads(tokenizer.backend_tokenizer.to_str())
    model = state.get("model", {})
    if model.get("type") != "BPE":
        raise DataError(f"the tokenizer is a {model.get('type')!r} model; GGUF export writes byte-level BPE "
                        "tokenizers (gpt2 type)")
    vocab = tokenizer.get_vocab()
    size = max(vocab.values()) + 1
    tokens = [f"[PAD{i}]" for i in range(size)]
    types = [TokenType.UNUSED] * size
    for token, index in vocab.items():
        tokens[index] = token
        types[index] = TokenType.NORMAL
    for added in state.get("added_tokens", []):
        types[added["id"]] = TokenType.CONTROL if added.get("special") else TokenType.USER_DEFINED
    merges = [m if isinstance(m, str) else " ".join(m) for m in model.get("merges", [])]
    return {"tokens": tokens, "types": types, "merges": merges}


def write_gguf(model, tokenizer, path, dtype: str = "f16", name: str = "odin") -> dict:
    """Write ``model`` (a merged transformers causal LM) and ``tokenizer`` to the GGUF file ``path``."""
    import gguf
    import numpy as np
    import torch

    config = model.config
    if config.model_type not in ARCHITECTURES:
        raise DataError(f"GGUF export writes Llama-architecture models (llama, mistral); this one is "
                        f"{config.model_type!r}; use --merged for a Hugging Face folder")
    if dtype not in GGUF_DTYPES:
        raise DataError(f"GGUF dtype {dtype!r}: choose one of {', '.join(GGUF_DTYPES)}")
    qtype = {"f16": gguf.GGMLQuantizationType.F16, "bf16": gguf.GGMLQuantizationType.BF16,
             "q8_0": gguf.GGMLQuantizationType.Q8_0}[dtype]
    file_type = {"f16": gguf.LlamaFileType.MOSTLY_F16, "bf16": gguf.LlamaFileType.MOSTLY_BF16,
                 "q8_0": gguf.LlamaFileType.MOSTLY_Q8_0}[dtype]
    heads, kv_heads = config.num_attention_heads, config.num_key_value_heads or config.num_attention_heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
    arch = gguf.MODEL_ARCH.LLAMA
    names = gguf.get_tensor_name_map(arch, config.num_hidden_layers)

    writer = gguf.GGUFWriter(str(path), gguf.MODEL_ARCH_NAMES[arch])
    writer.add_name(name)
    writer.add_context_length(int(config.max_position_embeddings))
    writer.add_embedding_length(int(config.hidden_size))
    writer.add_block_count(int(config.num_hidden_layers))
    writer.add_feed_forward_length(int(config.intermediate_size))
    writer.add_head_count(int(heads))
    writer.add_head_count_kv(int(kv_heads))
    writer.add_rope_dimension_count(int(head_dim))
    writer.add_key_length(int(head_dim))
    writer.add_value_length(int(head_dim))
    writer.add_layer_norm_rms_eps(float(config.rms_norm_eps))
    rope = getattr(config, "rope_theta", None) or (getattr(config, "rope_parameters", None) or {}).get("rope_theta")
    if rope:
        writer.add_rope_freq_base(float(rope))
    writer.add_vocab_size(int(config.vocab_size))
    writer.add_file_type(file_type)

    vocab = _tokenizer_vocab(tokenizer)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(vocab["tokens"])
    writer.add_token_types(vocab["types"])
    writer.add_token_merges(vocab["merges"])
    ids = {attr: getattr(tokenizer, attr, None) for attr in ("bos_token_id", "eos_token_id", "pad_token_id",
                                                              "unk_token_id")}
    # transformers' GGUF tokenizer reads the BOS id whenever there is an EOS (and takes EOS from it): a model
    # without a BOS token gets its EOS as BOS, never prepended (add_bos_token false)
    if ids["bos_token_id"] is None:
        ids["bos_token_id"] = ids["eos_token_id"]
    for attr, add in (("bos_token_id", writer.add_bos_token_id), ("eos_token_id", writer.add_eos_token_id),
                      ("pad_token_id", writer.add_pad_token_id), ("unk_token_id", writer.add_unk_token_id)):
        if ids[attr] is not None:
            add(int(ids[attr]))
    writer.add_add_bos_token(False)
    if getattr(tokenizer, "chat_template", None):
        writer.add_chat_template(tokenizer.chat_template)

    written = 0
    tied = bool(getattr(config, "tie_word_embeddings", False))
    for hf_name, tensor in model.state_dict().items():
        if hf_name.endswith("rotary_emb.inv_freq") or (tied and hf_name == "lm_head.weight"):
            continue
        new_name = names.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        if new_name is None:
            raise DataError(f"no GGUF name for tensor {hf_name!r}")
        data = tensor.detach().to(torch.float32).cpu().numpy()
        if new_name.endswith("attn_q.weight"):
            data = _permute(data, heads, heads)
        elif new_name.endswith("attn_k.weight"):
            data = _permute(data, heads, kv_heads)
        if data.ndim == 1 or (qtype == gguf.GGMLQuantizationType.Q8_0 and data.shape[-1] % 32):
            writer.add_tensor(new_name, np.ascontiguousarray(data, dtype=np.float32))
        elif qtype == gguf.GGMLQuantizationType.F16:
            writer.add_tensor(new_name, np.ascontiguousarray(data, dtype=np.float16))
        else:
            writer.add_tensor(new_name, gguf.quants.quantize(data, qtype), raw_dtype=qtype)
        written += 1
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return {"tensors": written, "dtype": dtype, "vocab": len(vocab["tokens"]), "tied": tied}
