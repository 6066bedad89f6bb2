"""Rewards for reinforcement learning (``[[rl.rewards]]``), read exactly as evaluation reads answers
(``odin_core.grade``): a completion the evaluators count correct earns the full reward."""

from pydantic import BaseModel, ConfigDict, Field

import odin_core

from .scores import set_score


class CorrectOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    partial_credit: bool = Field(True, description="a vertex-set answer earns the F1 of its set against the gold "
                                 "set (1 when exact); false: 1 only when exact")


def _graded(rows, completions):
    kinds = [row["answer_kind"] for row in rows]
    golds = [row["answer"] for row in rows]
    parsed, correct = odin_core.grade(kinds, completions, golds)
    return kinds, golds, parsed, correct


class Correct:
    """1 for a correct answer, 0 otherwise; vertex sets earn partial credit (F1) unless ``partial_credit`` is
    off."""

    def __init__(self, options=None):
        self.options = options or CorrectOptions()

    def score(self, rows, completions):
        kinds, golds, parsed, correct = _graded(rows, completions)
        scores = []
        for kind, gold, pred, right in zip(kinds, golds, parsed, correct):
            if kind == "vertex_set" and self.options.partial_credit:
                scores.append(set_score(pred, odin_core.gold_value(kind, gold)).f1)
            else:
                scores.append(1.0 if right else 0.0)
        return scores


class AnswerFormat:
    """1 when the completion holds an answer the evaluators can read (``Ans: [...]`` of the right kind), else 0."""

    def __init__(self, options=None):
        pass

    def score(self, rows, completions):
        _, _, parsed, _ = _graded(rows, completions)
        return [0.0 if pred is odin_core.FORMAT_ERROR else 1.0 for pred in parsed]
