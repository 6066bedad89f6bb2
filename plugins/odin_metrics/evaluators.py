"""The built-in evaluators. Each reads an ``odin_core.evaluate.EvalContext`` and returns JSON-ready metrics."""

from __future__ import annotations

from collections import defaultdict

from pydantic import BaseModel, ConfigDict, Field

import odin_core
from odin_core import FORMAT_ERROR, NEGATIVE_SCHEMES, bootstrap_interval, gold_value
from odin_core.foundation.markdown import interval, num, pct, table

from .scores import BOOTSTRAP_RESAMPLES, ranking_scores, set_score, summarize_sets, tally


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _mean(values):
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None


def _task_names(names):
    """The task names an evaluator's ``tasks`` option selects, earlier (bare) names made current."""
    if names is None:
        return None
    current = set()
    for name in names:
        try:
            current.add(odin_core.get_component("task", name).name)
        except odin_core.OdinError:  # a task of a plugin not installed here: compare as written
            current.add(name)
    return current


def _macro_accuracy(groups) -> float:
    return sum(sum(v) / len(v) for v in groups.values()) / len(groups)


class TaskAccuracy:
    """Exact-match accuracy per task, encoding, family and overall (micro over examples, macro over tasks)."""

    requires_columns = ("task", "family", "encoding", "answer_kind", "answer", "prompt", "completion")

    def __init__(self, options=None):
        self.options = options

    def evaluate(self, context) -> dict:
        correct = context.correct
        errors = [p is FORMAT_ERROR for p in context.predictions]
        groups = {"task": defaultdict(list), "encoding": defaultdict(list), "family": defaultdict(list)}
        pairs = defaultdict(list)
        for i, row in enumerate(context.examples):
            for key, by in groups.items():
                by[row.get(key) or "unknown"].append(i)
            pairs[(row["task"], row.get("encoding") or "unknown")].append(i)

        def counts(indices):
            return tally([correct[i] for i in indices], [errors[i] for i in indices])

        per_task = {}
        for task, indices in sorted(groups["task"].items()):
            first = context.examples[indices[0]]
            per_task[task] = counts(indices) | {"family": first.get("family"), "answer_kind": first["answer_kind"]}
        per_family = {}
        for family, indices in sorted(groups["family"].items()):
            tasks = {context.examples[i]["task"] for i in indices}
            per_family[family] = counts(indices) | {"macro": _mean(per_task[t]["accuracy"] for t in sorted(tasks)),
                                                    "tasks": len(tasks)}
        per_task_encoding = defaultdict(dict)
        for (task, encoding), indices in sorted(pairs.items()):
            per_task_encoding[task][encoding] = counts(indices)
        overall = counts(range(len(correct)))
        by_task = {task: [correct[i] for i in indices] for task, indices in groups["task"].items()}
        macro_ci = (list(bootstrap_interval(by_task, _macro_accuracy, n_resamples=BOOTSTRAP_RESAMPLES))
                    if by_task else None)
        overall = {"n": overall["n"], "correct": overall["correct"], "micro": overall["accuracy"],
                   "ci95": overall["ci95"], "macro": _mean(t["accuracy"] for t in per_task.values()),
                   "macro_ci95": macro_ci, "format_errors": overall["format_errors"],
                   "format_error_rate": overall["format_errors"] / overall["n"] if overall["n"] else None}
        return {"overall": overall, "per_task": per_task,
                "per_encoding": {k: counts(v) for k, v in sorted(groups["encoding"].items())},
                "per_family": per_family, "per_task_encoding": dict(per_task_encoding)}


class SetMetricsOptions(_Options):
    tasks: list[str] | None = Field(None, description="only these vertex-set tasks (default: every vertex-set task)")


class HyperedgeSetMetrics:
    """Exact match, precision, recall, F1 and Jaccard of vertex-set answers, micro and macro, per task and overall."""

    requires_columns = ("task", "answer_kind", "answer")

    def __init__(self, options=None):
        self.options = options or SetMetricsOptions()

    def evaluate(self, context) -> dict:
        wanted = _task_names(self.options.tasks)
        indices = [i for i, row in enumerate(context.examples) if row["answer_kind"] == "vertex_set"
                   and (wanted is None or row["task"] in wanted)]
        if not indices:
            return {"n": 0}
        predictions = context.predictions
        scores = {i: set_score(predictions[i], gold_value("vertex_set", context.gold[i])) for i in indices}
        by_task = defaultdict(list)
        for i in indices:
            by_task[context.examples[i]["task"]].append(scores[i])
        return {"n": len(indices), "overall": summarize_sets(list(scores.values())),
                "per_task": {task: summarize_sets(s) for task, s in sorted(by_task.items())}}

    def report_section(self, stages: dict[str, dict]) -> str | None:
        """Per task and stage: exact match, micro and macro precision/recall/F1/Jaccard, with intervals."""
        rows = []
        tasks = sorted({t for m in stages.values() for t in (m.get("per_task") or {})})
        for task in tasks:
            for label, metrics in stages.items():
                m = (metrics.get("per_task") or {}).get(task)
                if not m or not m.get("n"):
                    continue
                rows.append([task, label, num(m["n"]), pct(m["exact_match"]), interval(m.get("exact_match_ci95")),
                             pct(m["micro"]["precision"]), pct(m["micro"]["recall"]), pct(m["micro"]["f1"]),
                             pct(m["macro"]["f1"]), interval(m["macro"].get("f1_ci95")), pct(m["micro"]["jaccard"]),
                             pct(m["macro"]["jaccard"]), num(m["format_errors"])])
        if not rows:
            return None
        header = ["task", "answers of", "n", "exact %", "exact 95% CI", "precision % (micro)", "recall % (micro)",
                  "F1 % (micro)", "F1 % (macro)", "F1 macro 95% CI", "Jaccard % (micro)", "Jaccard % (macro)",
                  "format errors"]
        return "\n".join(["## Vertex-set answers", "",
                          "Unparseable answers count as the empty set. Micro pools vertices over examples; macro "
                          "averages examples (interval: bootstrap over examples).", "", table(header, rows)])


class DiscriminationOptions(_Options):
    tasks: list[str] | None = Field(None, description="rows of these tasks (default: every row whose meta has negative_scheme)")
    schemes: list[str] = Field(list(NEGATIVE_SCHEMES), description="negative schemes reported separately")


class HyperedgeDiscrimination:
    """Hyperedge discrimination: accuracy, and AUROC / average precision of the Yes-vs-No score, per negative scheme.

    Each scheme's negatives are ranked against all positives, so the schemes
    (SNS easy, MNS harder, CNS hardest) can be compared on one scale.
    """

    requires_columns = ("task", "answer_kind", "answer", "meta")

    def __init__(self, options=None):
        self.options = options or DiscriminationOptions()

    def _rows(self, context) -> list[int]:
        wanted = _task_names(self.options.tasks)
        chosen = []
        for i, row in enumerate(context.examples):
            if row["answer_kind"] != "yes_no":
                continue
            if wanted is not None:
                if row["task"] in wanted:
                    chosen.append(i)
            elif "negative_scheme" in context.meta[i]:
                chosen.append(i)
        return chosen

    def evaluate(self, context) -> dict:
        indices = self._rows(context)
        if not indices:
            return {"n": 0}
        correct = context.correct
        errors = [p is FORMAT_ERROR for p in context.predictions]
        scores = context.choice_scores()
        labels = {i: bool(context.gold[i]) for i in indices}
        positives = [i for i in indices if labels[i]]

        def summary(members):
            base = tally([correct[i] for i in members], [errors[i] for i in members])
            ranking = ranking_scores([labels[i] for i in members], [scores[i] for i in members])
            return base | ranking

        def with_negatives(negatives):
            entry = summary(positives + negatives)
            entry["negative_accuracy"] = sum(correct[i] for i in negatives) / len(negatives) if negatives else None
            return entry

        result = {"n": len(indices), "all": with_negatives([i for i in indices if not labels[i]]), "per_scheme": {}}
        for scheme in self.options.schemes:
            negatives = [i for i in indices if not labels[i] and context.meta[i].get("negative_scheme") == scheme]
            result["per_scheme"][scheme] = with_negatives(negatives) if negatives else {"negatives": 0}
        return result

    def report_section(self, stages: dict[str, dict]) -> str | None:
        """Per negative scheme and stage: accuracy, negatives rejected, AUROC (with interval) and AP."""
        rows = []
        for label, m in stages.items():
            if not m or not m.get("n"):
                continue
            for scheme, entry in [("all", m.get("all", {}))] + list((m.get("per_scheme") or {}).items()):
                if not entry.get("negatives"):
                    continue
                rows.append([scheme, label, num(entry.get("positives")), num(entry.get("negatives")),
                             pct(entry.get("accuracy")), interval(entry.get("ci95")), pct(entry.get("negative_accuracy")),
                             num(entry.get("auroc")), _auroc_interval(entry.get("auroc_ci95")),
                             num(entry.get("average_precision"))])
        if not rows:
            return None
        header = ["scheme", "stage", "positives", "negatives", "accuracy %", "accuracy 95% CI", "negatives rejected %",
                  "AUROC", "AUROC 95% CI", "AP"]
        return "\n".join(["## Hyperedge discrimination", "",
                          "AUROC and AP rank log P(Yes) − log P(No); each scheme's negatives are ranked against all "
                          "positives (SNS easy, MNS harder, CNS hardest). A constant baseline has AUROC 0.5.", "",
                          table(header, rows)])


def _auroc_interval(ci) -> str:
    return "–" if not ci or ci[0] is None else f"[{ci[0]:.3f}, {ci[1]:.3f}]"


class PerplexityOptions(_Options):
    max_examples: int | None = Field(500, gt=0, description="validation examples scored, at most (a seeded sample)")


class Perplexity:
    """Mean completion loss per token on the validation split, and its perplexity."""

    requires_columns = ("prompt", "completion")

    def __init__(self, options=None):
        self.options = options or PerplexityOptions()

    def evaluate(self, context) -> dict:
        if not context.has_model:
            return {"skipped": "no model"}
        loss = context.loss(self.options.max_examples)
        if loss is None:
            return {"skipped": "no validation split"}
        return loss | {"split": "validation"}

    def report_section(self, stages: dict[str, dict]) -> str | None:
        """Validation loss and perplexity per stage (the summary table shows the perplexity too)."""
        rows = [[label, num(m.get("loss")), num(m.get("perplexity"), 2), num(m.get("tokens")), num(m.get("examples"))]
                for label, m in stages.items() if isinstance(m, dict) and "loss" in m]
        if not rows:
            return None
        return "\n".join(["## Validation loss", "", "Mean completion loss per token, as training computes it.", "",
                          table(["stage", "loss", "perplexity", "tokens", "examples"], rows)])
