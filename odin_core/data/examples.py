"""Steps 3 to 5 of a dataset build: questions, rendered prompts within the token budget, Arrow tables.

Example ``i`` of a split is generated from its own seed, so ``num_proc`` worker
processes produce exactly the bytes one process does.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections import Counter

from odin_core.data.tokens import prompt_counter
from odin_core.foundation import console
from odin_core.foundation.errors import DataError
from odin_core.foundation.layout import COLUMNS, SPLITS
from odin_core.foundation.seeds import derive_seed
from odin_core.questions.answers import format_answer
from odin_core.questions.shortcut_features import FEATURES_KEY, row_features, source_family
from odin_core.runtime.chat import messages_for

#: tries (each on a freshly drawn hypergraph) before an example counts as "no question"
MAX_TRIES = 40
#: a hypergraph whose every encoding's lower bound exceeds this many prompt budgets is not asked about at all
FAR_BEYOND = 2


class Plan:
    """What example ``i`` of a split is: which task, which encoding, which yes/no label."""

    def __init__(self, task_names, tasks, encoder_names, encoders, balance, seed: int = 0):
        self.seed = seed
        self.pairs = []  # per task: the encodings that determine its answer
        self.skipped = []
        for name in task_names:
            task = tasks[name]
            usable = []
            for enc_name in encoder_names:
                if getattr(task, "needs_high_order", False) and encoders[enc_name].order == "low":
                    self.skipped.append((name, enc_name))
                else:
                    usable.append(enc_name)
            self.pairs.append((name, usable))
        self.pairs = [(name, usable) for name, usable in self.pairs if usable]
        self.balance = balance
        self.tasks = tasks

    def __call__(self, i: int):
        task_name, usable = self.pairs[i % len(self.pairs)]
        k = i // len(self.pairs)  # this task's k-th example
        encoding = usable[(k // 2) % len(usable)]  # each encoding twice in a row: once per label
        want = None
        if self.balance and self.tasks[task_name].answer_kind == "yes_no":
            # one Yes and one No in every pair of a task's examples, in an order drawn per pair, so that no
            # label follows an example's index
            flip = random.Random(derive_seed(self.seed, "label", task_name, k // 2)).random() < 0.5
            want = (k % 2 == 0) != flip
        return task_name, encoding, want


class Generator:
    """Everything example generation needs; shared by worker processes through fork."""

    def __init__(self, recipe, split_graphs, keys, plan, tasks, encoders, families, chat):
        self.seed = recipe.seed
        self.split_graphs = split_graphs
        self.keys = keys
        self.plan = plan
        self.tasks = tasks
        self.encoders = encoders
        self.families = families
        self.budget = recipe.data.max_prompt_tokens
        self.count_tokens = prompt_counter(recipe)
        self.chat = chat
        self.rationale = recipe.data.rationale == "trace"
        self._cache: dict[tuple[int, str, str], str | None] = {}
        self._far_too_long: dict[int, bool] = {}

    def far_too_long(self, graph) -> bool:
        """Whether every encoding's cheap lower bound puts ``graph`` beyond ``FAR_BEYOND`` times the prompt budget:
        no question about it (the graph, or it less one hyperedge, or two copies) can fit, so no task spends time
        on it (some tasks' work grows faster than the hypergraph)."""
        key = id(graph)
        if key not in self._far_too_long:
            bounds = [getattr(encoder, "min_tokens", None) for encoder in self.encoders.values()]
            self._far_too_long[key] = all(bound is not None and bound(graph) > FAR_BEYOND * self.budget
                                          for bound in bounds)
        return self._far_too_long[key]

    def _encode(self, graph, encoding: str, name: str, reusable: bool) -> str | None:
        """The encoding text, or None when a cheap lower bound already exceeds the budget."""
        key = (id(graph), encoding, name)
        if reusable and key in self._cache:
            return self._cache[key]
        encoder = self.encoders[encoding]
        bound = getattr(encoder, "min_tokens", None)
        text = None if bound is not None and bound(graph) > self.budget else encoder.encode(graph, name)
        if reusable:
            self._cache[key] = text
        return text

    def example(self, split: str, i: int, base_seed: int):
        """(row, None) or (None, (reason, task, encoding))."""
        task_name, encoding, want = self.plan(i)
        graphs = self.split_graphs[split]
        task = self.tasks[task_name]
        rng = random.Random(base_seed + i)
        skipped = 0
        for _try in range(MAX_TRIES):
            graph = graphs[rng.randrange(len(graphs))]
            if self.far_too_long(graph):
                skipped += 1
                continue
            question = task.generate(graph, rng, want)
            if question is not None:
                break
        else:
            return None, ("too_long" if skipped == MAX_TRIES else "no_question", task_name, encoding)
        shown = question.graphs
        names = ["G"] if len(shown) == 1 else [f"G{j + 1}" for j in range(len(shown))]
        texts = []
        for g, name in zip(shown, names):
            text = self._encode(g, encoding, name, reusable=g is graph)
            if text is None:
                return None, ("too_long", task_name, encoding)
            texts.append(text)
        tail = f"Q: {question.question}\nA:"
        prompt = "\n\n".join(texts) + "\n\n" + tail
        tokens = self.count_tokens(prompt)
        if tokens > self.budget:
            return None, ("too_long", task_name, encoding)
        completion = " " + format_answer(question.answer_kind, question.answer)
        if self.rationale and question.rationale:
            completion = " " + checked_rationale(question.rationale, task_name) + completion
        meta = dict(question.meta)
        meta["graph_key"] = self.keys[id(graph)]
        meta["prompt_tokens"] = tokens
        meta[FEATURES_KEY] = row_features(shown, question.question, prompt, source_family(graph.params), encoding,
                                          tokens, leave_out=getattr(task, "answer_features", ()))
        row = {
            "id": f"{split}-{i:06d}",
            "prompt": prompt,
            "completion": completion,
            "task": task_name,
            "family": self.families[task_name],
            "encoding": encoding,
            "answer_kind": question.answer_kind,
            "answer": json.dumps(question.answer, ensure_ascii=False),
            "graph_id": graph.graph_id,
            "generator": json.dumps(graph.params, sort_keys=True, ensure_ascii=False, default=str),
            "meta": json.dumps(meta, sort_keys=True, ensure_ascii=False, default=str),
        }
        if self.chat:
            row["messages"] = messages_for(prompt, completion)
        return row, None

    def shard(self, job):
        """Examples ``start..stop-1`` of a split: (rows, drops, CPU seconds spent)."""
        split, start, stop = job
        cpu = time.process_time()
        base_seed = derive_seed(self.seed, "examples", split)
        rows, drops = [], []
        for i in range(start, stop):
            row, drop = self.example(split, i, base_seed)
            if row is None:
                drops.append(drop)
            else:
                rows.append(row)
        return rows, drops, time.process_time() - cpu


_ACTIVE: Generator | None = None  # the generator forked worker processes use


def _run_shard(job):
    return _ACTIVE.shard(job)


def generate(generator: Generator, counts: dict, num_proc: int):
    global _ACTIVE
    jobs = []
    for split in SPLITS:
        n = counts[split]
        if n == 0:
            continue
        size = max(64, math.ceil(n / (num_proc * 4)))
        jobs.extend((split, start, min(n, start + size)) for start in range(0, n, size))
    import multiprocessing

    results = []
    with console.progress(sum(end - start for _, start, end in jobs), "building data", unit="ex") as bar:
        if num_proc > 1 and "fork" in multiprocessing.get_all_start_methods() and len(jobs) > 1:
            _ACTIVE = generator
            try:
                with multiprocessing.get_context("fork").Pool(num_proc) as pool:
                    for job, result in zip(jobs, pool.imap(_run_shard, jobs, chunksize=1)):
                        results.append(result)
                        bar.update(job[2] - job[1])
            finally:
                _ACTIVE = None
        else:
            for job in jobs:
                results.append(generator.shard(job))
                bar.update(job[2] - job[1])
    rows: dict[str, list] = {split: [] for split in SPLITS}
    drops: list = []
    cpu = 0.0
    for (split, _, _), (shard_rows, shard_drops, shard_cpu) in zip(jobs, results):
        rows[split].extend(shard_rows)
        drops.extend((split, *d) for d in shard_drops)
        cpu += shard_cpu
    for split in SPLITS:
        rows[split] = drop_ambiguous(rows[split], split, drops)
    return rows, drops, cpu


def checked_rationale(text: str, task_name: str) -> str:
    """``text`` (a question's trace) on one line, or a DataError when it would break generation or parsing."""
    text = " ".join(text.split())
    bad = [mark for mark in ("[", "]", "Ans:") if mark in text]
    if bad:
        raise DataError(f"task {task_name!r} wrote a trace holding {' and '.join(map(repr, bad))}, which would end "
                        f"generation or be read as the answer: {text[:200]!r}")
    return text


def drop_ambiguous(rows: list[dict], split: str, drops: list) -> list[dict]:
    """``rows`` without those whose prompt also appears with another answer (no model could answer both).

    Answers are compared, not completions: two traces of one answer (two renamings
    that both prove an isomorphism) are not ambiguous.

    Two hypergraphs can show the same thing (a small hypergraph with a hyperedge
    removed, say) while the question's answers differ; each such row is recorded
    in ``drops`` as ``(split, "ambiguous", task, encoding)``.
    """
    answers: dict[str, set] = {}
    for row in rows:
        answers.setdefault(row["prompt"], set()).add(row["answer"])
    kept = []
    for row in rows:
        if len(answers[row["prompt"]]) > 1:
            drops.append((split, "ambiguous", row["task"], row["encoding"]))
        else:
            kept.append(row)
    return kept


# --- step 5: the DatasetDict ---------------------------------------------------


def features(chat: bool):
    """The ``datasets.Features`` of every split (strings, plus ``messages`` for chat models)."""
    from datasets import Features, List, Value

    spec = {name: Value("string") for name in COLUMNS}
    if chat:
        spec["messages"] = List({"role": Value("string"), "content": Value("string")})
    return Features(spec)


def to_dataset(rows: list, chat: bool):
    """Rows -> Dataset straight through Arrow (the values are plain strings: no per-row feature encoding)."""
    from datasets import Dataset, DatasetInfo
    from datasets.table import InMemoryTable

    spec = features(chat)
    table = InMemoryTable.from_pydict({c: [r[c] for r in rows] for c in spec}, schema=spec.arrow_schema)
    return Dataset(table, info=DatasetInfo(features=spec))


def drop_summary(drops, budget, token_count: str = "bound") -> dict:
    counted = "approximate tokens" if token_count == "estimate" else "tokens, counted as an upper bound"
    reasons = {
        "too_long": f"prompt over data.max_prompt_tokens = {budget} ({counted}); never truncated",
        "no_question": f"the task found no question in {MAX_TRIES} hypergraphs drawn from the split",
        "ambiguous": "the same prompt was generated with different answers (dropped on both sides)",
        "duplicate": "the same prompt twice in a split (the first kept)",
        "predictable": "a model over cheap features predicted it best among its task's pool (data.adversarial_pool)",
    }
    summary = {}
    for reason, text in reasons.items():
        hits = [d for d in drops if d[1] == reason]
        if hits:
            summary[reason] = {
                "why": text,
                "count": len(hits),
                "by_split": dict(Counter(d[0] for d in hits)),
                "by_task": dict(Counter(d[2] for d in hits)),
                "by_encoding": dict(Counter(d[3] for d in hits)),
            }
    return summary

