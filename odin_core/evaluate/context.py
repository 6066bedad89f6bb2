"""The evaluation context: what evaluators read, each expensive output computed once, on first use."""

from __future__ import annotations

import time

from odin_core.evaluate.generation import ModelRunner
from odin_core.evaluate.rows import select_examples
from odin_core.foundation.records import decode
from odin_core.questions.answers import grade

#: validation examples the loss is computed on, at most
DEFAULT_LOSS_EXAMPLES = 500


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
        self.gold = [decode(row.get("answer")) for row in self.examples]
        self.meta = [decode(row.get("meta"), {}) or {} for row in self.examples]
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
    def scored(self) -> list | None:
        """The choice scores if they were computed (or given), without computing them."""
        return self._scores

    @property
    def generated(self) -> bool:
        """Whether generations exist already (without computing them)."""
        return self._generations is not None

    @property
    def predictions(self) -> list:
        """Parsed answers (``odin_core.questions.answers.parse_answer``): FORMAT_ERROR where unreadable."""
        self._grade()
        return self._predictions

    @property
    def correct(self) -> list[bool]:
        """Exact match of each prediction with the gold answer."""
        self._grade()
        return self._correct

    def _grade(self) -> None:
        """Parse and score the generations once (``odin_core.answers.grade``)."""
        if self._predictions is None:
            self._predictions, self._correct = grade([row["answer_kind"] for row in self.examples],
                                                     self.generations, self.gold)

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

