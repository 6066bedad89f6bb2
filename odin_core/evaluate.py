"""Evaluation: batched generation, the context evaluators share, and trivial baselines.

``evaluate_model`` runs a model on an evaluation split: every evaluator the recipe
names (``[[eval]]`` tables; ``DEFAULT_EVALUATORS`` when there are none) reads one
``EvalContext``, which computes each expensive thing at most once and only when
an evaluator asks for it:

* ``context.generations``: greedy answers from one batched generation pass
  (left padding, a token budget per task, stop at the end of the answer);
* ``context.choice_scores()``: for yes/no rows, log P(Yes answer) - log P(No answer);
* ``context.loss()``: mean completion loss (and perplexity) on the validation split.

``trivial_baselines`` evaluates answers chosen from the training split with no
model (majority answer per task; the best constant vertex set) with the same
evaluators on the same examples. Every result is a *stage record* (see
``SCHEMA_VERSION`` and the README's metrics.json schema).
"""

from __future__ import annotations

import json
import math
import random
import sys
import time
from collections import Counter, defaultdict
from contextlib import contextmanager
from pathlib import Path

import click

from odin_core.answers import FORMAT_ERROR, format_answer, is_correct, parse_answer, vertex_ids_only
from odin_core.errors import DataError, RecipeError

#: version of the stage records in metrics.json; bumped on any incompatible change
SCHEMA_VERSION = 1

#: evaluators used when a recipe has no [[eval]] tables
DEFAULT_EVALUATORS = ("task_accuracy", "hyperedge_set_metrics", "hyperedge_discrimination", "perplexity")

#: validation examples the loss is computed on, at most
DEFAULT_LOSS_EXAMPLES = 500


# --- rows ------------------------------------------------------------------


def _decode(value, default=None):
    """A JSON column's value (rows may also carry it already decoded)."""
    if value is None:
        return default
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def rows_of(split) -> list[dict]:
    """Rows of a Hugging Face ``Dataset`` or of a list of dicts, as a list of dicts."""
    if split is None:
        return []
    if hasattr(split, "to_list"):
        return split.to_list()
    return [dict(row) for row in split]


def select_examples(split, max_examples: int | None, seed: int) -> list[dict]:
    """At most ``max_examples`` rows, a seeded sample that keeps the split's order (so every task stays in)."""
    n = len(split)
    if max_examples is None or n <= max_examples:
        return rows_of(split)
    indices = sorted(random.Random(seed).sample(range(n), max_examples))
    if hasattr(split, "select"):
        return split.select(indices).to_list()
    return [dict(split[i]) for i in indices]


def check_columns(rows: list[dict], needed, where: str) -> None:
    """A DataError naming the missing columns when ``rows`` lack any of ``needed``."""
    if not rows:
        return
    missing = [c for c in needed if c not in rows[0]]
    if missing:
        raise DataError(f"{where}: dataset lacks column(s) {', '.join(missing)}; "
                        f"it has {', '.join(sorted(rows[0]))}")


def answer_prefix(completion: str) -> str:
    """Whatever precedes ``Ans`` in a canonical completion (the leading space of ``" Ans: [3]"``)."""
    at = completion.find("Ans")
    return completion[:at] if at > 0 else ""


def end_of_answer(text: str) -> str:
    """``text`` cut after the first ``]`` that follows ``Ans``: what a model says after its answer is not read."""
    at = text.find("Ans")
    if at < 0:
        return text
    close = text.find("]", at)
    return text if close < 0 else text[: close + 1]


# --- model access ---------------------------------------------------------------


def _device_of(model):
    try:
        return next(model.parameters()).device
    except (StopIteration, AttributeError):
        return "cpu"


@contextmanager
def inference_mode(loaded):
    """Switch ``loaded.model`` to inference (Unsloth's fast path on that engine) and back afterwards.

    On the Unsloth engine ``FastLanguageModel.for_inference`` and, afterwards,
    ``for_training``; on the transformers engine ``eval()`` and the previous mode.
    Gradients are off inside. (``torch.no_grad``, not ``inference_mode``: tensors
    cached during evaluation must stay usable when training continues.)
    """
    import torch

    model = loaded.model
    was_training = bool(getattr(model, "training", False))
    if loaded.engine == "unsloth":
        from unsloth import FastLanguageModel

        FastLanguageModel.for_inference(model)
    else:
        model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        if loaded.engine == "unsloth":
            FastLanguageModel.for_training(model)
        elif was_training:
            model.train()


def _pad_id(tokenizer) -> int:
    if tokenizer.pad_token_id is not None:
        return tokenizer.pad_token_id
    if tokenizer.eos_token_id is not None:
        return tokenizer.eos_token_id
    raise DataError("the tokenizer has neither a pad token nor an end-of-sequence token; cannot pad batches")


def _encode(tokenizer, text: str) -> list[int]:
    """Token ids of ``text``; special tokens are added unless the text already starts with BOS (a chat template's)."""
    bos = getattr(tokenizer, "bos_token", None)
    add_special = not (bos and text.startswith(bos))
    return tokenizer(text, add_special_tokens=add_special)["input_ids"]


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


def generate(loaded, prompts: list[str], max_new_tokens, batch_size: int = 16, stop_strings=("]",)) -> list[str]:
    """Greedy completions of ``prompts``, in batches of ``batch_size`` with left padding.

    ``max_new_tokens``: one int, or one per prompt (prompts are batched with
    others of the same budget, longest first). Generation of a sequence stops
    at end-of-sequence or at any of ``stop_strings``; the returned text is cut
    at the end of the answer (``end_of_answer``). Call inside ``inference_mode``.
    """
    tokenizer, model = loaded.tokenizer, loaded.model
    budgets = [max_new_tokens] * len(prompts) if isinstance(max_new_tokens, int) else list(max_new_tokens)
    if len(budgets) != len(prompts):
        raise ValueError("max_new_tokens must be an int or one value per prompt")
    pad_id = _pad_id(tokenizer)
    device = _device_of(model)
    encoded = [_encode(tokenizer, p) for p in prompts]
    outputs: list[str | None] = [None] * len(prompts)
    by_budget: dict[int, list[int]] = defaultdict(list)
    for i, budget in enumerate(budgets):
        by_budget[int(budget)].append(i)
    extra = {}
    if stop_strings:
        from transformers import StoppingCriteriaList, StopStringCriteria

        # built once: it preprocesses the whole vocabulary
        extra["stopping_criteria"] = StoppingCriteriaList([StopStringCriteria(tokenizer, list(stop_strings))])
    for budget, members in sorted(by_budget.items(), reverse=True):
        members.sort(key=lambda i: len(encoded[i]), reverse=True)
        for batch in _batches(members, batch_size):
            ids, mask = _left_pad([encoded[i] for i in batch], pad_id, device)
            out = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=budget, do_sample=False,
                                 temperature=None, top_p=None, top_k=None, pad_token_id=pad_id,
                                 eos_token_id=tokenizer.eos_token_id, **extra)
            new_tokens = out[:, ids.shape[1]:]
            texts = tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
            for i, text in zip(batch, texts):
                outputs[i] = end_of_answer(text)
    return outputs


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
    pad_id = _pad_id(tokenizer)
    device = _device_of(model)
    sequences, lengths = [], []
    for prompt, completion in zip(prompts, completions, strict=True):
        prompt_ids = _encode(tokenizer, prompt)
        full = _encode(tokenizer, prompt + completion)
        if add_eos and tokenizer.eos_token_id is not None:
            full = full + [tokenizer.eos_token_id]
        shared = 0
        for a, b in zip(prompt_ids, full):
            if a != b:
                break
            shared += 1
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


# --- prompts --------------------------------------------------------------------


def _messages(row):
    value = row.get("messages")
    if isinstance(value, str):
        value = _decode(value)
    return value or None


def uses_chat(loaded) -> bool:
    """Whether prompts go through the tokenizer's chat template: the model is used with one and has one."""
    return bool(loaded.chat_template and getattr(loaded.tokenizer, "chat_template", None))


def chat_messages(row) -> list[dict]:
    """The row's ``messages``; rows without (a frozen set) get the data builder's form: user prompt, assistant answer."""
    return _messages(row) or [{"role": "user", "content": row["prompt"]},
                              {"role": "assistant", "content": row["completion"].strip()}]


def prompt_and_completion(loaded, row, chat: bool) -> tuple[str, str]:
    """The text the model is given and the gold text that follows it (chat-rendered when ``chat``)."""
    if not chat:
        return row["prompt"], row["completion"]
    messages = chat_messages(row)
    turns = list(messages)
    while turns and turns[-1].get("role") == "assistant":
        turns.pop()
    tokenizer = loaded.tokenizer
    prompt = tokenizer.apply_chat_template(turns, add_generation_prompt=True, tokenize=False)
    full = tokenizer.apply_chat_template(messages, tokenize=False)
    if full.startswith(prompt):
        return prompt, full[len(prompt):]
    answer = next((m.get("content", "") for m in reversed(messages) if m.get("role") == "assistant"), row["completion"])
    return prompt, answer


def answer_budgets(loaded, rows, chat: bool, fixed: int | None = None) -> dict[str, int]:
    """New-token budget per task: 1.25 x its longest canonical answer in tokens, plus 4 (or ``fixed``)."""
    budgets: dict[str, int] = {}
    for row in rows:
        if fixed is not None:
            budgets[row["task"]] = fixed
            continue
        _, completion = prompt_and_completion(loaded, row, chat)
        n = len(loaded.tokenizer(completion, add_special_tokens=False)["input_ids"])
        budgets[row["task"]] = max(budgets.get(row["task"], 0), n)
    if fixed is None:
        budgets = {task: math.ceil(1.25 * n) + 4 for task, n in budgets.items()}
    return budgets


class ModelRunner:
    """Runs one loaded model for an ``EvalContext``: generation, choice scores, loss."""

    def __init__(self, loaded, batch_size: int = 16, max_new_tokens: int | None = None):
        self.loaded = loaded
        self.batch_size = batch_size
        self.max_new_tokens = max_new_tokens
        self.budgets: dict[str, int] = {}
        self.over_context = 0  # prompts whose tokens plus answer budget exceed the model's context

    def generate(self, rows) -> list[str]:
        chat = uses_chat(self.loaded)
        self.budgets = answer_budgets(self.loaded, rows, chat, self.max_new_tokens)
        prompts = [prompt_and_completion(self.loaded, row, chat)[0] for row in rows]
        limit = getattr(self.loaded.tokenizer, "model_max_length", None)
        if isinstance(limit, int) and limit < 10**9:
            self.over_context = sum(len(_encode(self.loaded.tokenizer, p)) + self.budgets[row["task"]] > limit
                                    for p, row in zip(prompts, rows))
        with inference_mode(self.loaded):
            return generate(self.loaded, prompts, [self.budgets[row["task"]] for row in rows], self.batch_size)

    def choice_scores(self, rows) -> list[float]:
        """log P(Yes answer) - log P(No answer) for each row (yes/no rows)."""
        chat = uses_chat(self.loaded)
        prompts, candidates = [], []
        for row in rows:
            prompt, completion = prompt_and_completion(self.loaded, row, chat)
            prefix = answer_prefix(completion)
            for value in (True, False):
                prompts.append(prompt)
                candidates.append(prefix + format_answer("yes_no", value))
        with inference_mode(self.loaded):
            scored = completion_logprobs(self.loaded, prompts, candidates, self.batch_size)
        return [scored[2 * i][0] - scored[2 * i + 1][0] for i in range(len(rows))]

    def loss(self, rows) -> dict:
        """Mean completion loss per token (as training computes it) and its perplexity."""
        chat = uses_chat(self.loaded)
        pairs = [prompt_and_completion(self.loaded, row, chat) for row in rows]
        with inference_mode(self.loaded):
            scored = completion_logprobs(self.loaded, [p for p, _ in pairs], [c for _, c in pairs], self.batch_size,
                                         add_eos=not chat)
        total = -sum(s for s, _ in scored)
        tokens = sum(n for _, n in scored)
        loss = total / tokens if tokens else float("nan")
        return {"loss": loss, "perplexity": math.exp(loss) if loss < 700 else float("inf"), "tokens": tokens,
                "examples": len(rows)}


# --- the context -----------------------------------------------------------------


class EvalContext:
    """What evaluators read: the examples, and (lazily, computed once) the model's outputs.

    ``examples``: the rows (dicts with the dataset's columns); ``gold``: their
    structured answers; ``meta``: their decoded ``meta`` dicts. ``generations``,
    ``predictions`` (parsed, ``FORMAT_ERROR`` when unreadable) and ``correct``
    come from one batched generation pass; ``choice_scores()`` and ``loss()``
    from forward passes. A context without a model (baselines) is given its
    generations and scores instead, and ``loss()`` returns None.
    """

    def __init__(self, examples, *, runner: ModelRunner | None = None, loss_examples=None, generations=None,
                 choice_scores=None, stage: str = "", split: str = ""):
        self.examples = list(examples)
        self.gold = [_decode(row.get("answer")) for row in self.examples]
        self.meta = [_decode(row.get("meta"), {}) or {} for row in self.examples]
        self.runner = runner
        self.loss_examples = loss_examples
        self.stage = stage
        self.split = split
        self.timings: dict[str, float] = {}
        self._generations = list(generations) if generations is not None else None
        self._scores = list(choice_scores) if choice_scores is not None else None
        self._predictions = None
        self._correct = None
        self._loss = None

    @property
    def has_model(self) -> bool:
        return self.runner is not None

    @property
    def generations(self) -> list[str]:
        """The generated answer text per example (one batched pass, on first use)."""
        if self._generations is None:
            if self.runner is None:
                raise RuntimeError("this evaluation context has neither a model nor given generations")
            start = time.perf_counter()
            self._generations = self.runner.generate(self.examples)
            self.timings["generation_seconds"] = time.perf_counter() - start
        return self._generations

    @property
    def generated(self) -> bool:
        """Whether generations exist already (without computing them)."""
        return self._generations is not None

    @property
    def predictions(self) -> list:
        """Parsed answers (``odin_core.answers.parse_answer``): FORMAT_ERROR where unreadable."""
        if self._predictions is None:
            # with v0, v1, ... names only, any other word in a set answer is a format error
            sets = [gold for row, gold in zip(self.examples, self.gold) if row["answer_kind"] == "vertex_set"]
            names = "ids" if vertex_ids_only(sets) else None
            self._predictions = [parse_answer(row["answer_kind"], text, names)
                                 for row, text in zip(self.examples, self.generations)]
        return self._predictions

    @property
    def correct(self) -> list[bool]:
        """Exact match of each prediction with the gold answer."""
        if self._correct is None:
            self._correct = [is_correct(row["answer_kind"], pred, gold)
                             for row, pred, gold in zip(self.examples, self.predictions, self.gold)]
        return self._correct

    def choice_scores(self) -> list[float | None]:
        """Per example: log P(Yes) - log P(No) of the canonical answers for yes/no rows, None for others."""
        if self._scores is None:
            if self.runner is None:
                raise RuntimeError("this evaluation context has neither a model nor given scores")
            indices = [i for i, row in enumerate(self.examples) if row["answer_kind"] == "yes_no"]
            start = time.perf_counter()
            scores = self.runner.choice_scores([self.examples[i] for i in indices]) if indices else []
            self.timings["choice_score_seconds"] = time.perf_counter() - start
            self._scores = [None] * len(self.examples)
            for i, score in zip(indices, scores):
                self._scores[i] = score
        return self._scores

    def loss(self, max_examples: int | None = DEFAULT_LOSS_EXAMPLES, seed: int = 0) -> dict | None:
        """Completion loss and perplexity on the loss split (validation), or None without a model or split."""
        if self.runner is None or not self.loss_examples:
            return None
        if self._loss is None:
            rows = select_examples(self.loss_examples, max_examples, seed)
            start = time.perf_counter()
            self._loss = self.runner.loss(rows)
            self.timings["loss_seconds"] = time.perf_counter() - start
        return self._loss


# --- evaluators -------------------------------------------------------------------


def evaluator_entries(recipe) -> list[tuple[str, object]]:
    """(name, validated options) of the evaluators a recipe selects, or the defaults."""
    if recipe is not None and recipe.eval:
        return [(entry.name, entry.options) for entry in recipe.eval]
    from odin_core.plugins import registry

    available = registry()["evaluator"]
    return [(name, None) for name in DEFAULT_EVALUATORS if name in available]


def create_evaluators(recipe) -> list[tuple[str, object]]:
    """Instantiated evaluators (name, object) for a recipe."""
    from odin_core.plugins import get_component

    path = getattr(recipe, "path", None)
    made = []
    for i, (name, options) in enumerate(evaluator_entries(recipe)):
        component = get_component("evaluator", name, file=path, key=f"eval.{i}.name")
        if options is None and component.options is not None:
            options = component.options()
        made.append((name, component.create(options)))
    return made


def check_evaluator_columns(recipe, columns=None) -> None:
    """A RecipeError when an evaluator needs a column the dataset will not have (``odin validate``).

    ``columns`` defaults to the data builder's columns (``odin_core.data.COLUMNS``).
    """
    if columns is None:
        from odin_core.data import COLUMNS as columns
    for i, (name, evaluator) in enumerate(create_evaluators(recipe)):
        missing = [c for c in getattr(evaluator, "requires_columns", ()) if c not in columns]
        if missing:
            raise RecipeError(f"evaluator {name!r} needs dataset column(s) {', '.join(missing)}, which the "
                              f"dataset does not have (it has {', '.join(columns)})",
                              file=getattr(recipe, "path", None), key=f"eval.{i}.name")


def run_evaluators(evaluators, context: EvalContext) -> dict:
    """Each evaluator's metrics, by name."""
    results = {}
    for name, evaluator in evaluators:
        check_columns(context.examples, getattr(evaluator, "requires_columns", ()), f"evaluator {name!r}")
        results[name] = evaluator.evaluate(context)
    return results


# --- predictions -------------------------------------------------------------------


def _jsonable(value):
    if value is FORMAT_ERROR:
        return None
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    return value


def prediction_records(context: EvalContext) -> list[dict]:
    """One record per example: what was asked, expected, generated, parsed, and whether it was right."""
    scores = context._scores or [None] * len(context.examples)
    predictions, correct = context.predictions, context.correct
    records = []
    for i, row in enumerate(context.examples):
        pred = predictions[i]
        records.append({
            "id": row.get("id"), "task": row["task"], "family": row.get("family"), "encoding": row.get("encoding"),
            "answer_kind": row["answer_kind"], "prompt": row["prompt"], "expected": row["completion"],
            "answer": context.gold[i], "generated": context.generations[i], "parsed": _jsonable(pred),
            "format_error": pred is FORMAT_ERROR, "correct": correct[i], "score": scores[i],
        })
    return records


def write_predictions(run_dir, stage: str, records: list[dict]) -> Path:
    """Write ``predictions-<stage>.jsonl`` into the run directory atomically."""
    from odin_core.rundir import atomic_write_text

    path = Path(getattr(run_dir, "path", run_dir)) / f"predictions-{stage}.jsonl"
    atomic_write_text(path, "".join(json.dumps(r, default=str) + "\n" for r in records))
    return path


def _log(run_dir, message: str) -> None:
    print(message, file=sys.stderr)
    if hasattr(run_dir, "log"):
        run_dir.log(message)


def parameter_count(model) -> int | None:
    """Parameters of ``model`` as trained numbers: a 4-bit (bitsandbytes) weight counts its unpacked shape."""
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


def evaluate_model(recipe, loaded, eval_split, run_dir, stage: str = "base", *, loss_split=None,
                   split_name: str | None = None, evaluators=None) -> dict:
    """Evaluate ``loaded`` on ``eval_split`` with the recipe's evaluators; returns the stage record.

    Writes ``predictions-<stage>.jsonl`` into ``run_dir`` (a ``RunDir`` or a path).
    ``loss_split`` (the validation split) feeds the loss/perplexity evaluator.
    """
    generation = recipe.generation
    examples = select_examples(eval_split, generation.max_examples, recipe.seed)
    if not examples:
        raise DataError(f"the {split_name or generation.split} split has no examples to evaluate")
    check_columns(examples, ("prompt", "completion", "task", "answer_kind", "answer"), "evaluation")
    runner = ModelRunner(loaded, generation.batch_size, generation.max_new_tokens)
    context = EvalContext(examples, runner=runner, loss_examples=rows_of(loss_split) if loss_split is not None else None,
                          stage=stage, split=split_name or generation.split)
    evaluators = evaluators if evaluators is not None else create_evaluators(recipe)
    _log(run_dir, f"evaluating {stage} model on {len(examples)} {context.split} examples ({loaded.engine} engine)")
    start = time.perf_counter()
    results = run_evaluators(evaluators, context)
    seconds = time.perf_counter() - start
    record = {
        "schema_version": SCHEMA_VERSION,
        "stage": stage,
        "split": context.split,
        "num_examples": len(examples),
        "model": {"loader": recipe.model.loader, "name": recipe.model.name, "engine": loaded.engine,
                  "parameters": parameter_count(loaded.model), "chat_template": uses_chat(loaded)},
        "generation": {"batch_size": generation.batch_size, "max_new_tokens": dict(runner.budgets),
                       "seconds": round(seconds, 3)},
        "metrics": results,
    }
    for key, value in context.timings.items():
        record["generation"][key] = round(value, 3)
    if runner.over_context:
        record["generation"]["prompts_over_context"] = runner.over_context
        _log(run_dir, f"warning: {runner.over_context} of {len(examples)} prompts plus their answer budget are longer "
                      f"than the model's context ({loaded.tokenizer.model_max_length} tokens)")
    if "generation_seconds" in context.timings and context.timings["generation_seconds"] > 0:
        record["generation"]["examples_per_second"] = round(len(examples) / context.timings["generation_seconds"], 2)
    if context.generated:
        path = write_predictions(run_dir, stage, prediction_records(context))
        record["predictions_file"] = path.name
    summary = results.get("task_accuracy", {}).get("overall", {})
    if summary:
        _log(run_dir, f"{stage}: accuracy {summary.get('micro', 0):.3f} (macro {summary.get('macro', 0):.3f}), "
                      f"{summary.get('format_errors', 0)} format errors, {seconds:.1f} s")
    return record


# --- baselines ----------------------------------------------------------------------


def _mean_jaccard(candidate: frozenset, golds: list[set]) -> float:
    total = 0.0
    for gold in golds:
        union = candidate | gold
        total += (len(candidate & gold) / len(union)) if union else 1.0
    return total / len(golds) if golds else 0.0


def best_constant_set(golds: list[set]) -> frozenset:
    """The vertex set that, answered to every question, has the highest mean Jaccard with the gold sets.

    Candidates: the empty set, every gold set seen, and each prefix of the vertices
    sorted by how often they appear (ties broken by name); the best wins, ties going
    to the smaller, then alphabetically first set.
    """
    frequency = Counter(v for gold in golds for v in gold)
    ranked = sorted(frequency, key=lambda v: (-frequency[v], v))
    candidates = {frozenset()} | {frozenset(g) for g in golds}
    candidates |= {frozenset(ranked[:k]) for k in range(1, len(ranked) + 1)}
    best, best_score = frozenset(), -1.0
    for candidate in sorted(candidates, key=lambda c: (len(c), sorted(c))):
        score = _mean_jaccard(candidate, golds)
        if score > best_score + 1e-12:
            best, best_score = candidate, score
    return best


def _majority(values: list):
    """The most common value (ties: first seen)."""
    counts = Counter(json.dumps(v, sort_keys=True) for v in values)
    best = max(counts.values())
    for v in values:
        if counts[json.dumps(v, sort_keys=True)] == best:
            return v
    return None


def baseline_answers(train_rows: list[dict]) -> dict[str, dict[str, tuple[str, object]]]:
    """Constant answers per baseline and task, from the training rows: {baseline: {task: (kind, value)}}.

    ``majority``: the most frequent training answer of each task (for vertex-set
    tasks, the most frequent set). ``constant_set``: for vertex-set tasks only, the
    best constant set (``best_constant_set``).
    """
    by_task: dict[str, list] = defaultdict(list)
    kinds: dict[str, str] = {}
    for row in train_rows:
        kind = row["answer_kind"]
        kinds[row["task"]] = kind
        value = _decode(row.get("answer"))
        by_task[row["task"]].append(sorted(value or ()) if kind == "vertex_set" else value)
    majority, constant_set = {}, {}
    for task, values in by_task.items():
        kind = kinds[task]
        majority[task] = (kind, _majority(values))
        if kind == "vertex_set":
            constant_set[task] = (kind, sorted(best_constant_set([set(v) for v in values])))
    return {"majority": majority, "constant_set": constant_set}


def _baseline_stage(name: str, answers: dict, examples: list[dict], evaluators, split: str) -> dict:
    covered = [row for row in examples if row["task"] in answers]
    generations, scores = [], []
    for row in covered:
        kind, value = answers[row["task"]]
        generations.append(answer_prefix(row["completion"]) + format_answer(kind, value))
        scores.append((1.0 if value else -1.0) if kind == "yes_no" else None)
    context = EvalContext(covered, generations=generations, choice_scores=scores, stage=f"baseline:{name}",
                          split=split)
    results = run_evaluators(evaluators, context) if covered else {}
    return {
        "schema_version": SCHEMA_VERSION,
        "stage": f"baseline:{name}",
        "split": split,
        "num_examples": len(covered),
        "answers": {task: _jsonable(value) for task, (_, value) in sorted(answers.items())},
        "metrics": results,
    }


def trivial_baselines(recipe, datasets, *, eval_split=None, split_name: str | None = None, evaluators=None) -> dict:
    """Baselines with no model, chosen on the training split and scored on the evaluation split.

    Returns {baseline name: stage record}: ``majority`` (every task) and
    ``constant_set`` (vertex-set tasks). The evaluation examples are the same
    ones ``evaluate_model`` uses for the same recipe.
    """
    split_name = split_name or recipe.generation.split
    if eval_split is None:
        eval_split = datasets[split_name]
    train = rows_of(datasets["train"]) if "train" in datasets else []
    if not train:
        raise DataError("trivial baselines need a training split with examples")
    examples = select_examples(eval_split, recipe.generation.max_examples, recipe.seed)
    evaluators = evaluators if evaluators is not None else create_evaluators(recipe)
    result = {}
    for name, answers in baseline_answers(train).items():
        if answers:
            result[name] = _baseline_stage(name, answers, examples, evaluators, split_name)
    return result


# --- evaluating a saved run (odin eval) -------------------------------------------------


def _dataset_label(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "._-" else "-" for ch in text).strip("-") or "data"


def resolve_eval_data(spec: str | None, recipe, split: str):
    """(datasets dict or None, evaluation split, label) for ``odin eval --data SPEC --split SPLIT``.

    ``spec``: None (the run's own dataset), a recipe TOML file (its dataset), a
    directory written by ``datasets.save_to_disk`` (a DatasetDict or a Dataset),
    or a frozen evaluation set: its name under ``data/`` or its folder
    (``odin_core.data.frozen_eval_set``).
    """
    from odin_core import data

    def pick(datasets, where):
        if split not in datasets:
            raise DataError(f"has no {split!r} split (it has: {', '.join(datasets)})", file=where)
        return datasets[split]

    if spec is None:
        datasets = data.load_or_build(recipe)
        return datasets, pick(datasets, "the run's dataset"), f"{recipe.name}-{split}"
    path = Path(spec)
    if path.suffix == ".toml":
        from odin_core.recipe import load_recipe

        if not path.is_file():
            raise DataError("does not exist; expected a recipe TOML file", file=path)
        other = load_recipe(path)
        datasets = data.load_or_build(other)
        return datasets, pick(datasets, path), f"{other.name}-{split}"
    if path.is_dir() and not (path / data.CHECKSUM_FILE).exists():  # a frozen set's folder has its checksums
        import datasets as hf_datasets

        try:
            loaded = hf_datasets.load_from_disk(str(path))
        except (FileNotFoundError, ValueError) as exc:
            raise DataError(f"is not a dataset saved with save_to_disk ({exc})", file=path) from None
        if isinstance(loaded, hf_datasets.DatasetDict):
            return dict(loaded), pick(loaded, path), f"{_dataset_label(path.name)}-{split}"
        return None, loaded, _dataset_label(path.name)
    frozen = data.frozen_eval_set(spec)
    if hasattr(frozen, "keys") and not hasattr(frozen, "column_names"):
        return dict(frozen), pick(frozen, f"frozen evaluation set {spec!r}"), f"{_dataset_label(spec)}-{split}"
    return None, frozen, _dataset_label(Path(spec).name or spec)


def evaluate_run(run_dir, data: str | None = None, split: str = "test", *, base: bool = False,
                 label: str | None = None, max_examples: int | None = None, batch_size: int | None = None,
                 baselines: bool = True) -> dict:
    """Evaluate a saved run's model (its adapter, or the base model with ``base``) on any dataset.

    The stage record (plus ``data``, ``base_model`` and ``baselines``) is stored in the
    run's ``metrics.json`` under ``evaluations[label]``, the predictions in
    ``predictions-eval-<label>.jsonl``, and the report is rebuilt.
    """
    from odin_core import engine, report
    from odin_core.recipe import load_recipe
    from odin_core.rundir import RunDir

    path = Path(run_dir)
    recipe_file = path / "recipe.toml"
    if not recipe_file.is_file():
        raise DataError("is not a run directory (no recipe.toml)", file=path)
    recipe = load_recipe(recipe_file)
    updates = {k: v for k, v in (("max_examples", max_examples), ("batch_size", batch_size)) if v is not None}
    if updates:
        recipe.generation = recipe.generation.model_copy(update=updates)
    datasets, eval_split, data_label = resolve_eval_data(data, recipe, split)
    label = _dataset_label(label or (("base-" if base else "") + data_label))
    run = RunDir(path, recipe)
    loaded = engine.load_run_model(path, adapter=not base)
    loss_split = (datasets or {}).get("validation")
    record = evaluate_model(recipe, loaded, eval_split, run, stage=f"eval-{label}", loss_split=loss_split,
                            split_name=split)
    record["data"] = data or f"{recipe.name} (the run's dataset)"
    record["base_model"] = base
    if baselines:
        train_source = datasets if datasets and "train" in datasets else None
        if train_source is None:
            from odin_core import data as data_module

            train_source = data_module.load_or_build(recipe)  # the run's own training split
        record["baselines"] = trivial_baselines(recipe, {"train": train_source["train"]}, eval_split=eval_split,
                                                split_name=split)
    metrics_path = path / "metrics.json"
    metrics = json.loads(metrics_path.read_text(encoding="utf-8")) if metrics_path.exists() else {
        "recipe": recipe.name, "run_dir": str(path)}
    metrics.setdefault("evaluations", {})[label] = record
    run.write_json("metrics.json", metrics)
    report.write_report(path)
    return record


@click.command("eval")
@click.argument("run_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--data", default=None, metavar="RECIPE_OR_DATASET",
              help="A recipe TOML, a dataset directory (save_to_disk), or a frozen evaluation set name "
                   "(default: the run's own dataset).")
@click.option("--split", default="test", show_default=True, help="Split to evaluate.")
@click.option("--base", is_flag=True, help="Evaluate the base model, without the run's trained adapter.")
@click.option("--label", default=None, help="Name of this evaluation in metrics.json (default: from the data and split).")
@click.option("--max-examples", type=int, default=None, help="Evaluate a seeded sample of at most this many examples.")
@click.option("--batch-size", type=int, default=None, help="Generation batch size (default: the recipe's).")
@click.option("--no-baselines", is_flag=True, help="Skip the trivial baselines.")
def eval_command(run_dir, data, split, base, label, max_examples, batch_size, no_baselines):
    """Evaluate RUN_DIR's saved model on a dataset; results go into its metrics.json and report.md."""
    record = evaluate_run(run_dir, data, split, base=base, label=label, max_examples=max_examples,
                          batch_size=batch_size, baselines=not no_baselines)
    overall = record["metrics"].get("task_accuracy", {}).get("overall", {})
    majority = (record.get("baselines", {}).get("majority", {}).get("metrics", {})
                .get("task_accuracy", {}).get("overall", {}).get("micro"))
    click.echo(f"{record['stage']}: {record['num_examples']} examples, accuracy {overall.get('micro', 0):.3f} "
               f"(macro {overall.get('macro', 0):.3f}), format errors {overall.get('format_errors', 0)}"
               + (f", majority baseline {majority:.3f}" if majority is not None else ""))
    per_task = record["metrics"].get("task_accuracy", {}).get("per_task", {})
    for task, values in per_task.items():
        click.echo(f"  {task:32s} {values['accuracy']:.3f}  (n={values['n']})")
    click.echo(f"report: {Path(run_dir) / 'report.md'}")
