"""The loss of the model that knows only each task's answer distribution: the plateau a run that has learned
nothing beyond "what each task usually answers" sits on, drawn as a reference line on the loss plot."""

from __future__ import annotations

import math
from collections import Counter

#: label id of a token the loss does not count
IGNORED = -100


def answer_distribution_loss(train_split, train_set, *, completion_only: bool, traces: bool) -> float | None:
    """Loss per supervised token of a model that writes every supervised token right except the answer, which it
    draws from its task's answer distribution in ``train_split`` (``task`` and ``answer`` columns); the tokens are
    ``train_set``'s (tokenized, ``labels``). None where that model means nothing: the loss also covers the
    prompt (``completion_only`` false) or step-by-step traces, which such a model could not write right."""
    if not completion_only or traces or len(train_split) == 0 or len(train_set) == 0:
        return None
    tasks, answers = train_split["task"], train_split["answer"]
    pairs, per_task = Counter(zip(tasks, answers)), Counter(tasks)
    nats = sum(-math.log(pairs[(t, a)] / per_task[t]) for t, a in zip(tasks, answers)) / len(tasks)
    supervised = sum(sum(1 for label in labels if label != IGNORED) for labels in train_set["labels"])
    return round(nats / (supervised / len(train_set)), 6) if supervised else None
