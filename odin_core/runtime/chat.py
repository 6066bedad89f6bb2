"""What the model sees: chat or plain formatting, prompt/answer split and tokenisation.

Training and evaluation both call these functions, so the text a model is trained
on and the text it is evaluated on are made in one place:

* ``recipe_uses_chat`` decides, before any model loads, whether dataset rows carry
  chat ``messages`` (``model.chat_template``, else the loader's family default);
  ``resolve_chat_template`` makes the same decision once the tokenizer is known.
* ``render`` turns a row into (prompt text, prompt + answer text): through the
  tokenizer's chat template for chat models, plain ``prompt + completion`` otherwise.
* ``encode`` tokenises, adding special tokens unless the text starts with BOS already
  (a chat template writes its own).
"""

from __future__ import annotations

import json

from odin_core.foundation.errors import DataError, ModelError


def messages_for(prompt: str, completion: str) -> list[dict]:
    """The chat form of an example: the user asks the prompt, the assistant answers."""
    return [{"role": "user", "content": prompt}, {"role": "assistant", "content": completion.strip()}]


def row_messages(row) -> list[dict]:
    """A row's ``messages`` (decoded when stored as JSON), or the chat form of its prompt and completion."""
    value = row.get("messages")
    if isinstance(value, str):
        value = json.loads(value)
    return value or messages_for(row["prompt"], row["completion"])


def recipe_uses_chat(recipe) -> bool:
    """Whether a recipe's examples are chat-formatted: ``model.chat_template``, else its loader's default."""
    model = getattr(recipe, "model", None)
    if model is None:
        return False
    if model.chat_template is not None:
        return bool(model.chat_template)
    from odin_core.components.plugins import get_component

    loader = get_component("model_loader", model.loader).create(model.options)
    return bool(getattr(loader, "chat_template", False))


def resolve_chat_template(model_section, family_default: bool, tokenizer, where: dict | None = None) -> bool:
    """Whether a loaded model is used through its chat template: the recipe's choice, else the family's default
    when the tokenizer has a template. For loaders; ``where`` is the file/key an error names."""
    has_template = bool(getattr(tokenizer, "chat_template", None))
    if model_section.chat_template is True and not has_template:
        raise ModelError("model.chat_template is true but this tokenizer has no chat template", **(where or {}))
    if model_section.chat_template is not None:
        return bool(model_section.chat_template)
    return bool(family_default and has_template)


def model_uses_chat(loaded) -> bool:
    """Whether a loaded model gets its prompts through the tokenizer's chat template."""
    return bool(loaded.chat_template and getattr(loaded.tokenizer, "chat_template", None))


def render(tokenizer, row, chat: bool) -> tuple[str, str]:
    """(prompt text, prompt + answer text) of a row, as the model reads them."""
    if not chat:
        return row["prompt"], row["prompt"] + row["completion"]
    messages = row_messages(row)
    turns = list(messages)
    while turns and turns[-1].get("role") == "assistant":
        turns.pop()
    prompt = tokenizer.apply_chat_template(turns, add_generation_prompt=True, tokenize=False)
    full = tokenizer.apply_chat_template(list(messages), tokenize=False)
    return prompt, full


def prompt_and_completion(tokenizer, row, chat: bool) -> tuple[str, str]:
    """The text the model is given and the gold text that follows it."""
    prompt, full = render(tokenizer, row, chat)
    if full.startswith(prompt):
        return prompt, full[len(prompt):]
    messages = row_messages(row)
    answer = next((m.get("content", "") for m in reversed(messages) if m.get("role") == "assistant"), row["completion"])
    return prompt, answer


def encode(tokenizer, texts: list[str]) -> list[list[int]]:
    """Token ids of each text; special tokens are added unless the text already starts with BOS (a chat template's)."""
    bos = getattr(tokenizer, "bos_token", None)
    with_bos = [bool(bos) and t.startswith(bos) for t in texts]
    out: list[list[int] | None] = [None] * len(texts)
    for flag in (False, True):
        idx = [i for i, b in enumerate(with_bos) if b == flag]
        if idx:
            ids = tokenizer([texts[i] for i in idx], add_special_tokens=not flag)["input_ids"]
            for i, seq in zip(idx, ids):
                out[i] = list(seq)
    return out


def common_prefix(a: list[int], b: list[int]) -> int:
    """Length of the common prefix of two token sequences (where a completion starts, as TRL finds it)."""
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def tokenize_batch(tokenizer, rows: dict, *, chat: bool, completion_only_loss: bool = True) -> dict:
    """``input_ids`` and ``labels`` (prompt tokens -100 when ``completion_only_loss``) for a batch of rows.

    A plain completion ends with EOS; a chat template writes its own end of turn."""
    columns = list(rows)
    batch = [dict(zip(columns, values)) for values in zip(*(rows[c] for c in columns))]
    rendered = [render(tokenizer, row, chat) for row in batch]
    prompt_ids = encode(tokenizer, [p for p, _ in rendered])
    full_ids = encode(tokenizer, [f for _, f in rendered])
    if not chat and tokenizer.eos_token_id is not None:
        full_ids = [ids + [tokenizer.eos_token_id] for ids in full_ids]
    labels = []
    for p, f in zip(prompt_ids, full_ids):
        start = common_prefix(p, f) if completion_only_loss else 0
        labels.append([-100] * start + f[start:])
    return {"input_ids": full_ids, "labels": labels}


def pad_token_id(tokenizer) -> int:
    """The id batches are padded with: the pad token, else end-of-sequence."""
    if tokenizer.pad_token_id is not None:
        return tokenizer.pad_token_id
    if tokenizer.eos_token_id is not None:
        return tokenizer.eos_token_id
    raise DataError("the tokenizer has neither a pad token nor an end-of-sequence token; cannot pad batches")
