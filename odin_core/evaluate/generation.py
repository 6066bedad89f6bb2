"""Running a model for evaluation: batched greedy generation, completion log-probabilities, the loss.

Prompts are made by ``odin_core.runtime.chat`` exactly as training makes them.
"""

from __future__ import annotations

import math
from collections import defaultdict
from contextlib import contextmanager

from odin_core.evaluate.rows import answer_prefix, end_of_answer, rationale_of
from odin_core.foundation import console
from odin_core.questions.answers import answer_marker, format_answer
from odin_core.runtime.chat import common_prefix, encode, model_uses_chat, pad_token_id, prompt_and_completion
from odin_core.runtime.device import device_of


@contextmanager
def inference_mode(loaded):
    """Switch ``loaded.model`` to inference (Unsloth's fast path on that engine) and back afterwards.

    On the Unsloth engine ``FastLanguageModel.for_inference`` and, afterwards,
    ``for_training``; on the transformers engine ``eval()`` and the previous mode.
    Gradients are off inside. (``torch.no_grad``, not ``inference_mode``: tensors
    cached during evaluation must stay usable when training continues.)
    """
    import torch

    from odin_core.components.plugins import get_engine

    with get_engine(loaded.engine).generating(loaded.model), torch.no_grad():
        yield


def _left_pad(sequences: list[list[int]], pad_id: int, device):
    import torch

    width = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, seq in enumerate(sequences):
        if seq:
            ids[row, width - len(seq):] = torch.tensor(seq, dtype=torch.long)
            mask[row, width - len(seq):] = 1
    return ids.to(device), mask.to(device)


def _batches(order: list[int], batch_size: int):
    for start in range(0, len(order), batch_size):
        yield order[start:start + batch_size]


def answer_stop(tokenizer, prompt_length: int):
    """A ``StoppingCriteria`` that ends each sequence once its new text holds a complete answer (``Ans: [...]``),
    for reasoning written before the answer, where a ``]`` may come earlier."""
    import torch
    from transformers import StoppingCriteria

    class AnswerStop(StoppingCriteria):
        def __call__(self, input_ids, scores, **kwargs):
            texts = tokenizer.batch_decode(input_ids[:, prompt_length:], skip_special_tokens=True)
            spans = [answer_marker(t) for t in texts]
            done = [span is not None and "]" in t[span[0]:] for span, t in zip(spans, texts)]
            return torch.tensor(done, device=input_ids.device)

    return AnswerStop()


def generate(loaded, prompts: list[str], max_new_tokens, batch_size: int = 16, stop_strings=("]",)) -> list[str]:
    """Greedy completions of ``prompts``, in batches of ``batch_size`` with left padding.

    ``max_new_tokens``: one int, or one per prompt (prompts are batched with
    others of the same budget, longest first). Generation of a sequence stops
    at end-of-sequence or at any of ``stop_strings``; ``stop_strings=None`` stops it at the end of its answer
    instead (``Ans: [...]``, for reasoning before the answer). The returned text is cut
    at the end of the answer (``end_of_answer``). Call inside ``inference_mode``.
    """
    tokenizer, model = loaded.tokenizer, loaded.model
    budgets = [max_new_tokens] * len(prompts) if isinstance(max_new_tokens, int) else list(max_new_tokens)
    if len(budgets) != len(prompts):
        raise ValueError("max_new_tokens must be an int or one value per prompt")
    pad_id = pad_token_id(tokenizer)
    device = device_of(model)
    encoded = encode(tokenizer, prompts)
    outputs: list[str | None] = [None] * len(prompts)
    by_budget: dict[int, list[int]] = defaultdict(list)
    for i, budget in enumerate(budgets):
        by_budget[int(budget)].append(i)
    extra = {}
    if stop_strings:
        from transformers import StoppingCriteriaList, StopStringCriteria

        # built once: it preprocesses the whole vocabulary
        extra["stopping_criteria"] = StoppingCriteriaList([StopStringCriteria(tokenizer, list(stop_strings))])
    with console.progress(len(prompts), "evaluating", unit="ex") as bar:
        _generate_batches(loaded, encoded, by_budget, batch_size, pad_id, device, extra, outputs, bar,
                          answer_stopping=not stop_strings)
    return outputs


def _generate_batches(loaded, encoded, by_budget, batch_size, pad_id, device, extra, outputs, bar,
                      answer_stopping: bool = False) -> None:
    tokenizer, model = loaded.tokenizer, loaded.model
    for budget, members in sorted(by_budget.items(), reverse=True):
        members.sort(key=lambda i: len(encoded[i]), reverse=True)
        for batch in _batches(members, batch_size):
            ids, mask = _left_pad([encoded[i] for i in batch], pad_id, device)
            if answer_stopping:
                from transformers import StoppingCriteriaList

                extra = {"stopping_criteria": StoppingCriteriaList([answer_stop(tokenizer, ids.shape[1])])}
            out = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=budget, do_sample=False,
                                 temperature=None, top_p=None, top_k=None, pad_token_id=pad_id,
                                 eos_token_id=tokenizer.eos_token_id, **extra)
            new_tokens = out[:, ids.shape[1]:]
            texts = tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
            for i, text in zip(batch, texts):
                outputs[i] = end_of_answer(text)
            bar.update(len(batch))


def completion_logprobs(loaded, prompts: list[str], completions: list[str], batch_size: int = 16,
                        add_eos: bool = False) -> list[tuple[float, int]]:
    """(sum of log-probabilities, token count) of each completion given its prompt, batched.

    Prompt and completion are tokenized together and the completion's tokens are
    those after the common prefix with the prompt's own tokens (as TRL and the
    training engine do for prompt-completion data); ``add_eos`` appends the end-of-sequence token to the completion. Sequences
    are left-padded so every completion ends at the last position and only the
    last positions' logits are computed. Call inside ``inference_mode``.
    """
    import torch

    tokenizer, model = loaded.tokenizer, loaded.model
    pad_id = pad_token_id(tokenizer)
    device = device_of(model)
    sequences, lengths = [], []
    if len(prompts) != len(completions):
        raise ValueError("one completion per prompt")
    prompt_ids = encode(tokenizer, prompts)
    full_ids = encode(tokenizer, [p + c for p, c in zip(prompts, completions)])
    for prompt_seq, full in zip(prompt_ids, full_ids):
        if add_eos and tokenizer.eos_token_id is not None:
            full = full + [tokenizer.eos_token_id]
        shared = common_prefix(prompt_seq, full)
        count = max(1, len(full) - shared)
        sequences.append(full)
        lengths.append(min(count, len(full) - 1))
    results: list[tuple[float, int] | None] = [None] * len(sequences)
    order = sorted(range(len(sequences)), key=lambda i: len(sequences[i]), reverse=True)
    for batch in _batches(order, batch_size):
        ids, mask = _left_pad([sequences[i] for i in batch], pad_id, device)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        keep = max(lengths[i] for i in batch) + 1
        try:
            logits = model(input_ids=ids, attention_mask=mask, position_ids=positions, logits_to_keep=keep).logits
        except TypeError:  # a model without logits_to_keep
            logits = model(input_ids=ids, attention_mask=mask, position_ids=positions).logits
        logits = logits[:, -keep:, :].float()
        logprobs = torch.log_softmax(logits[:, :-1, :], dim=-1)
        targets = ids[:, -(keep - 1):]
        picked = logprobs.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
        for row, i in enumerate(batch):
            count = lengths[i]
            results[i] = (float(picked[row, -count:].sum()), count)
    return results




def answer_budgets(loaded, rows, chat: bool, fixed: int | None = None) -> dict[str, int]:
    """New-token budget per task: 1.25 x its longest canonical answer in tokens, plus 4 (or ``fixed``)."""
    budgets: dict[str, int] = {}
    for row in rows:
        if fixed is not None:
            budgets[row["task"]] = fixed
            continue
        _, completion = prompt_and_completion(loaded.tokenizer, row, chat)
        n = len(loaded.tokenizer(completion, add_special_tokens=False)["input_ids"])
        budgets[row["task"]] = max(budgets.get(row["task"], 0), n)
    if fixed is None:
        budgets = {task: math.ceil(1.25 * n) + 4 for task, n in budgets.items()}
    return budgets


class ModelRunner:
    """Runs one loaded model for an ``EvalContext``: generation, choice scores, loss."""

    def __init__(self, loaded, batch_size: int = 16, max_new_tokens: int | None = None, reasoning: bool = False):
        self.loaded = loaded
        self.batch_size = batch_size
        self.max_new_tokens = max_new_tokens
        #: the model reasons before answering: generation stops at the end of the answer, not at the first "]"
        self.reasoning = reasoning
        self.budgets: dict[str, int] = {}
        self.over_context = 0  # prompts whose tokens plus answer budget exceed the model's context

    def generate(self, rows, budget_rows=None) -> list[str]:
        """Greedy answers to ``rows``; each task's token budget from ``budget_rows`` (default: ``rows``), so a
        share of an evaluation set is answered as the whole set would be."""
        chat = model_uses_chat(self.loaded)
        self.budgets = answer_budgets(self.loaded, rows if budget_rows is None else budget_rows, chat,
                                      self.max_new_tokens)
        prompts = [prompt_and_completion(self.loaded.tokenizer, row, chat)[0] for row in rows]
        limit = getattr(self.loaded.tokenizer, "model_max_length", None)
        if isinstance(limit, int) and limit < 10**9:
            self.over_context = sum(len(ids) + self.budgets[row["task"]] > limit
                                    for ids, row in zip(encode(self.loaded.tokenizer, prompts), rows))
        with inference_mode(self.loaded):
            return generate(self.loaded, prompts, [self.budgets[row["task"]] for row in rows], self.batch_size,
                            stop_strings=None if self.reasoning else ("]",))

    def choice_scores(self, rows) -> list[float]:
        """log P(Yes answer) - log P(No answer) for each row (yes/no rows), scored right after the prompt.

        A row's reasoning trace (``data.rationale``) is left out: scored after the gold trace, the
        model would only have to copy the trace's conclusion."""
        chat = model_uses_chat(self.loaded)
        prompts, candidates = [], []
        for row in rows:
            prompt, completion = prompt_and_completion(self.loaded.tokenizer, row, chat)
            prefix = answer_prefix(completion, rationale_of(row["completion"]))
            for value in (True, False):
                prompts.append(prompt)
                candidates.append(prefix + format_answer("yes_no", value))
        with inference_mode(self.loaded):
            scored = completion_logprobs(self.loaded, prompts, candidates, self.batch_size)
        return [scored[2 * i][0] - scored[2 * i + 1][0] for i in range(len(rows))]

    def loss(self, rows) -> dict:
        """Mean completion loss per token (as training computes it) and its perplexity."""
        chat = model_uses_chat(self.loaded)
        pairs = [prompt_and_completion(self.loaded.tokenizer, row, chat) for row in rows]
        with inference_mode(self.loaded):
            scored = completion_logprobs(self.loaded, [p for p, _ in pairs], [c for _, c in pairs], self.batch_size,
                                         add_eos=not chat)
        total = -sum(s for s, _ in scored)
        tokens = sum(n for _, n in scored)
        loss = total / tokens if tokens else float("nan")
        return {"loss": loss, "perplexity": math.exp(loss) if loss < 700 else float("inf"), "tokens": tokens,
                "examples": len(rows)}

