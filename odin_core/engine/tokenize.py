"""Training splits as token ids and labels, through the shared rendering in ``odin_core.runtime.chat``."""

from __future__ import annotations

from odin_core.runtime.chat import model_uses_chat, tokenize_batch


def uses_chat(loaded, split) -> bool:
    """Whether a split's rows go through the chat template: the model uses one and the rows carry ``messages``."""
    return model_uses_chat(loaded) and "messages" in split.column_names and len(split) > 0 and bool(split[0]["messages"])


def tokenize_split(split, loaded, *, max_length: int, completion_only_loss: bool = True, desc: str = "tokenizing"):
    """The split as ``input_ids``/``labels``, cut to ``max_length``; returns (dataset, examples dropped).

    An example whose completion falls entirely beyond ``max_length`` has nothing left to learn
    from and is dropped (and counted), as TRL does."""
    chat = uses_chat(loaded, split)
    tokenizer = loaded.tokenizer

    def fn(rows):
        out = tokenize_batch(tokenizer, rows, chat=chat, completion_only_loss=completion_only_loss)
        return {k: [seq[:max_length] for seq in v] for k, v in out.items()}

    tokenized = split.map(fn, batched=True, batch_size=256, remove_columns=split.column_names,
                          keep_in_memory=True, desc=desc)
    kept = tokenized.filter(lambda row: any(t != -100 for t in row["labels"]), keep_in_memory=True)
    return kept, len(tokenized) - len(kept)
