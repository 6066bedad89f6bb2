"""Token counts of prompts before any tokenizer exists: an upper bound for the length budget, and the estimate
of builder versions up to 3 (kept so that frozen sets built with it rebuild byte for byte)."""

from __future__ import annotations

import re
from typing import Callable

# byte -> 1 when it belongs to the class (non-ASCII UTF-8 bytes count as letters)
_LETTER = bytes(1 if (b < 128 and chr(b).isalpha()) or b >= 128 else 0 for b in range(256))
_DIGIT = bytes(1 if 48 <= b <= 57 else 0 for b in range(256))
_PUNCT = bytes(1 if b < 128 and not chr(b).isalnum() and not chr(b).isspace() else 0 for b in range(256))


def _runs(mask: bytes, width: int) -> tuple[int, int]:
    """(runs of 1s, positions starting a window of width + 1 ones) in a 0/1 byte mask, with big-int bit tricks."""
    bits = int.from_bytes(mask, "big")
    window = bits
    for k in range(1, width + 1):
        window &= bits >> (8 * k)
    return bits.bit_count() - (bits & (bits >> 8)).bit_count(), window.bit_count()


def approx_tokens(text: str) -> int:
    """Approximate token count, used before the model's tokenizer exists.

    It mimics the pre-tokenisation of Llama/Phi/Mistral-style BPE: every run of
    letters is a token (plus one per further 5 letters), every run of up to 3
    digits is a token, every punctuation mark is a token, whitespace is free.
    So ``v12,`` is 3 tokens and a 0/1 matrix row ``1 0 1`` is 3. Real BPE merges
    common words into one token, so on Odin's prompts this errs on the high side.
    Computed with byte translation and integer bit counts: about 25 µs for a 2 KB prompt.
    """
    raw = text.encode("utf-8")
    letter_runs, long_letters = _runs(raw.translate(_LETTER), 5)
    digit_runs, long_digits = _runs(raw.translate(_DIGIT), 3)
    return letter_runs + (long_letters + 4) // 5 + digit_runs + (long_digits + 2) // 3 + raw.translate(_PUNCT).count(1)


# a letter run (non-ASCII bytes count as letters), a digit, a punctuation mark, a newline, or a space before a digit
_BOUND_PIECES = re.compile(rb"[A-Za-z\x80-\xff]+|[0-9]|[^A-Za-z0-9\x80-\xff\s]|\n|\s(?=[0-9])")


def token_bound(text: str) -> int:
    """A token count that the tokenizers Odin ships or builds do not exceed on Odin's prompts.

    Every digit is a token (SmolLM2 and Llama-2-style tokenizers split numbers into digits), so is a space
    before a digit (SmolLM2 writes it alone), every punctuation mark and every newline; a run of letters is one
    token plus one per further 3 letters. On every prompt of hypergraph-eval-v3 (3,444 prompts, all seven
    encodings, vertices named by ids and by words) it is at least SmolLM2-135M's count and above a scratch
    byte-level BPE's (``tests/test_tokens.py``); about 1.1x SmolLM2's at the median.
    """
    return sum(1 + (len(piece) - 1) // 3 for piece in _BOUND_PIECES.findall(text.encode("utf-8")))


#: data.token_count -> how the builder counts a prompt's tokens against data.max_prompt_tokens
TOKEN_COUNTERS: dict[str, Callable[[str], int]] = {"bound": token_bound, "estimate": approx_tokens}


def prompt_counter(recipe) -> Callable[[str], int]:
    """How the build counts a prompt's tokens for ``recipe`` (``data.token_count``): one of ``TOKEN_COUNTERS``,
    or, for ``"model"``, the recipe's model's tokenizer, which its loader gives without the weights."""
    if recipe.data.token_count != "model":
        return TOKEN_COUNTERS[recipe.data.token_count]
    tokenizer = model_tokenizer(recipe)

    def count(text: str) -> int:
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])

    return count


def model_tokenizer(recipe):
    """The tokenizer of the recipe's model through its loader's optional ``tokenizer(model_section, recipe)``, or
    one RecipeError naming ``data.token_count``."""
    from odin_core.components.plugins import get_component
    from odin_core.foundation.errors import RecipeError

    if recipe.model is None:
        raise RecipeError("'model' counts with the recipe's model's tokenizer, and this recipe has no [model]; use "
                          "'bound'", file=recipe.path, key="data.token_count")
    loader = get_component("model_loader", recipe.model.loader).create(recipe.model.options)
    if not hasattr(loader, "tokenizer"):
        raise RecipeError(f"'model': the {recipe.model.loader} loader cannot give its tokenizer before the data "
                          "exist (a scratch model's is trained on them); use 'bound'", file=recipe.path,
                          key="data.token_count")
    tokenizer = loader.tokenizer(recipe.model, recipe)
    tokenizer.model_max_length = 1 << 30  # counting only: no warning about long prompts
    return tokenizer
