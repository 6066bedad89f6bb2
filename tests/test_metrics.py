"""Answer parsing and every metric, checked against values computed by hand (no model needed)."""

import json
import math
import pickle

import pytest

from odin_core.evaluate import EvalContext, baseline_answers, best_constant_set, run_evaluators
from odin_core.questions.answers import FORMAT_ERROR, format_answer, is_correct, parse_answer, vertex_ids_only
from odin_metrics.evaluators import (
    DiscriminationOptions,
    HyperedgeDiscrimination,
    HyperedgeSetMetrics,
    Perplexity,
    SetMetricsOptions,
    TaskAccuracy,
)
from odin_metrics.scores import ranking_scores, set_score, summarize_sets

# --- parsing -----------------------------------------------------------------------


@pytest.mark.parametrize("text, expected", [
    (" Ans: [3]", 3),
    ("Ans: [12] because there are twelve", 12),
    ("Ans: [v3 has degree 2]", 2),           # the 3 of v3 is a vertex name, not the answer
    ("I count 5. Ans: [4]", 4),              # read after Ans, not before
    ("Ans: [4] Q: and now? Ans: [7]", 4),    # the first answer counts
    ("Ans: 6", 6),                           # no brackets: the rest of the text
    ("Ans: [2, 3]", 2),                      # first integer
    ("the answer is [9]", 9),
    ("Ans: [many]", FORMAT_ERROR),
    ("[3]", FORMAT_ERROR),                   # no Ans
    ("", FORMAT_ERROR),
])
def test_count_parsing(text, expected):
    assert parse_answer("count", text) is expected or parse_answer("count", text) == expected


@pytest.mark.parametrize("text, expected", [
    (" Ans: [Yes]", True),
    ("Ans: [No]", False),
    ("Ans: [yes]", True),
    ("Ans: [NO.]", False),
    ("Ans: [Yes, No]", FORMAT_ERROR),        # both: wrong
    ("Ans: [No, wait, yes]", FORMAT_ERROR),
    ("Ans: [Not sure]", FORMAT_ERROR),       # "Not" is not "No"
    ("Ans: [Yesterday]", FORMAT_ERROR),
    ("Yes", FORMAT_ERROR),                   # no Ans
])
def test_yes_no_parsing(text, expected):
    assert parse_answer("yes_no", text) is expected


def test_both_yes_and_no_is_wrong_for_either_gold():
    parsed = parse_answer("yes_no", "Ans: [Yes] No")
    assert parsed is FORMAT_ERROR
    assert not is_correct("yes_no", parsed, True) and not is_correct("yes_no", parsed, False)


@pytest.mark.parametrize("text, expected", [
    (" Ans: [v1, v4]", {"v1", "v4"}),
    ("Ans: [v4, v1]", {"v1", "v4"}),          # order does not matter
    ("Ans: [v1, v1, v4, v4]", {"v1", "v4"}),  # duplicates collapse
    ("Ans: [v1 v2 and v10]", {"v1", "v2", "v10"}),
    ("Ans: []", set()),
    ("Ans: [No vertices]", set()),
    ("Ans: [none]", set()),
    ("Ans: [v2, v3", {"v2", "v3"}),           # cut short: the open bracket runs to the end
    ("Ans: [Valjean, Javert]", {"Valjean", "Javert"}),  # names that are not v<digits>
    ("v1, v2", FORMAT_ERROR),
])
def test_vertex_set_parsing(text, expected):
    assert parse_answer("vertex_set", text) == expected if expected is not FORMAT_ERROR \
        else parse_answer("vertex_set", text) is FORMAT_ERROR


def test_vertex_set_in_ids_mode_reads_only_vertex_ids():
    assert parse_answer("vertex_set", "Ans: [v3, banana]", "ids") == {"v3"}
    assert parse_answer("vertex_set", "Ans: [banana]", "ids") is FORMAT_ERROR
    assert parse_answer("vertex_set", "Ans: [banana]") == {"banana"}  # could be a vertex of named data
    assert parse_answer("vertex_set", "Ans: [No vertices]", "ids") == set()
    assert vertex_ids_only([["v0", "v12"], []]) and not vertex_ids_only([["v0", "Javert"]])


def test_context_parses_sets_in_ids_mode_when_every_gold_vertex_is_an_id():
    examples = [row("shared", "vertex_set", ["v1"], i=0), row("shared", "vertex_set", [], i=1)]
    context = EvalContext(examples, generations=[" Ans: [banana]", " Ans: [v1]"])
    assert context.predictions == [FORMAT_ERROR, {"v1"}]
    named = [row("shared", "vertex_set", ["Javert"], i=0)]
    assert EvalContext(named, generations=[" Ans: [Javert]"]).correct == [True]


def test_vertex_set_with_known_names_ignores_other_words():
    names = ["Valjean", "Javert", "Cosette"]
    assert parse_answer("vertex_set", "Ans: [Javert, Marius, Valjean]", names) == {"Javert", "Valjean"}
    assert parse_answer("vertex_set", "Ans: [Marius]", names) is FORMAT_ERROR
    assert parse_answer("vertex_set", "Ans: []", names) == set()


@pytest.mark.parametrize("text, expected", [
    ("Ans: [3]", 3),
    ("Ans: [no path]", None),
    ("Ans: [There is No  Path]", None),
    ("Ans: [no path from v1 to v3]", None),   # vertex names are not numbers
    ("Ans: [no path, 3]", FORMAT_ERROR),      # contradictory
    ("Ans: [far]", FORMAT_ERROR),
])
def test_path_length_parsing(text, expected):
    parsed = parse_answer("path_length", text)
    assert parsed is expected or parsed == expected


def test_label_parsing_and_matching():
    assert parse_answer("label", "Ans: [Hyper  Pyramid.]") == "hyper pyramid"
    assert is_correct("label", parse_answer("label", "Ans: [hyper wheel]"), "hyper wheel")
    assert not is_correct("label", parse_answer("label", "Ans: [hyper wheel]"), "hyper pyramid")
    assert parse_answer("label", "Ans: []") is FORMAT_ERROR


@pytest.mark.parametrize("kind, value", [
    ("count", 0), ("count", 17), ("yes_no", True), ("yes_no", False), ("vertex_set", ["v0", "v2", "v11"]),
    ("vertex_set", []), ("path_length", 4), ("path_length", None), ("label", "hyper checked table"),
])
def test_canonical_answers_round_trip(kind, value):
    text = " " + format_answer(kind, value)
    assert is_correct(kind, parse_answer(kind, text), value)


def test_format_answer_is_stable():
    assert format_answer("count", 3) == "Ans: [3]"
    assert format_answer("yes_no", False) == "Ans: [No]"
    assert format_answer("vertex_set", ["v1", "v4"]) == "Ans: [v1, v4]"
    assert format_answer("vertex_set", []) == "Ans: []"
    assert format_answer("path_length", None) == "Ans: [no path]"


def test_exact_match_types_and_format_errors():
    assert not is_correct("count", True, 1)          # a Yes is not the number 1
    assert not is_correct("count", FORMAT_ERROR, 0)
    assert is_correct("path_length", None, None) and not is_correct("path_length", 0, None)
    assert not is_correct("vertex_set", FORMAT_ERROR, [])  # unreadable is never a correct empty answer
    assert FORMAT_ERROR is pickle.loads(pickle.dumps(FORMAT_ERROR))


# --- set scores ---------------------------------------------------------------------------


def test_set_score_by_hand():
    s = set_score({"v1", "v2", "v3"}, {"v2", "v3", "v4", "v5"})
    assert (s.tp, s.fp, s.fn) == (2, 1, 2)
    assert s.precision == pytest.approx(2 / 3) and s.recall == pytest.approx(1 / 2)
    assert s.f1 == pytest.approx(2 * 2 / (3 + 4)) and s.jaccard == pytest.approx(2 / 5)
    assert not s.exact


def test_set_score_empty_sets():
    both_empty = set_score(set(), set())
    assert both_empty.exact and both_empty.f1 == both_empty.jaccard == both_empty.precision == 1.0
    missed = set_score(set(), {"v1"})
    assert (missed.precision, missed.recall, missed.f1, missed.jaccard) == (0.0, 0.0, 0.0, 0.0)
    invented = set_score({"v1"}, set())
    assert (invented.precision, invented.recall, invented.f1, invented.jaccard) == (0.0, 0.0, 0.0, 0.0)
    unreadable = set_score(FORMAT_ERROR, set())
    assert unreadable.format_error and not unreadable.exact and unreadable.f1 == 0.0
    unreadable_gold = set_score(FORMAT_ERROR, {"v1", "v2"})
    assert (unreadable_gold.fn, unreadable_gold.recall) == (2, 0.0)


def test_micro_and_macro_by_hand():
    scores = [set_score({"v1", "v2"}, {"v1", "v2"}),        # tp 2
              set_score({"v1"}, {"v1", "v2", "v3", "v4"}),  # tp 1, fn 3
              set_score(FORMAT_ERROR, {"v5"})]              # fn 1
    summary = summarize_sets(scores)
    assert summary["n"] == 3 and summary["format_errors"] == 1
    assert summary["exact_match"] == pytest.approx(1 / 3)
    # micro: tp 3, fp 0, fn 4
    assert summary["micro"]["precision"] == pytest.approx(1.0)
    assert summary["micro"]["recall"] == pytest.approx(3 / 7)
    assert summary["micro"]["f1"] == pytest.approx(6 / 10)
    assert summary["micro"]["jaccard"] == pytest.approx(3 / 7)
    # macro: per-example precision 1, 1, 0; recall 1, 1/4, 0; F1 1, 2/5, 0; Jaccard 1, 1/4, 0
    assert summary["macro"]["precision"] == pytest.approx(2 / 3)
    assert summary["macro"]["recall"] == pytest.approx((1 + 0.25) / 3)
    assert summary["macro"]["f1"] == pytest.approx((1 + 0.4) / 3)
    assert summary["macro"]["jaccard"] == pytest.approx((1 + 0.25) / 3)


def test_micro_of_only_empty_answers():
    assert summarize_sets([set_score(set(), set())] * 2)["micro"]["f1"] == 1.0
    assert summarize_sets([set_score(set(), set()), set_score(FORMAT_ERROR, set())])["micro"]["f1"] == 0.0


# --- ranking -------------------------------------------------------------------------------


def test_auroc_and_average_precision_by_hand():
    labels = [True, True, False, False, True, False]
    scores = [0.9, 0.4, 0.35, 0.8, 0.7, 0.1]
    result = ranking_scores(labels, scores)
    # positive-negative pairs ranked right: 0.9 beats 3, 0.4 beats 2, 0.7 beats 2 -> 7 of 9
    assert result["auroc"] == pytest.approx(7 / 9)
    # ranked: P N P P N N -> precision at each positive 1, 2/3, 3/4
    assert result["average_precision"] == pytest.approx((1 + 2 / 3 + 3 / 4) / 3)
    assert (result["positives"], result["negatives"]) == (3, 3)


def test_auroc_ties_and_missing_class():
    constant = ranking_scores([True, False, True, False], [1.0, 1.0, 1.0, 1.0])
    assert constant["auroc"] == pytest.approx(0.5) and constant["average_precision"] == pytest.approx(0.5)
    assert ranking_scores([True, True], [0.2, 0.3])["auroc"] is None


# --- evaluators on hand-made contexts ------------------------------------------------------------


def row(task, kind, answer, encoding="enc_a", family="low_order", meta=None, i=0):
    return {"id": f"{task}-{i}", "prompt": f"G ... question {i}?", "completion": " " + format_answer(kind, answer),
            "task": task, "family": family, "encoding": encoding, "answer_kind": kind, "answer": json.dumps(answer),
            "graph_id": f"g{i}", "generator": "{}", "meta": json.dumps(meta or {})}


def accuracy_context():
    examples = [
        row("edge_count", "count", 3, "enc_a", i=0),
        row("edge_count", "count", 4, "enc_b", i=1),
        row("edge_count", "count", 5, "enc_a", i=2),
        row("connection", "yes_no", True, "enc_a", i=3),
        row("connection", "yes_no", False, "enc_b", i=4),
        row("shared", "vertex_set", ["v1", "v2"], "enc_b", family="high_order", i=5),
    ]
    generations = [" Ans: [3]", " Ans: [7]", " I think so", " Ans: [Yes]", " Ans: [Yes, No]", " Ans: [v2, v1, v1]"]
    return EvalContext(examples, generations=generations)


def test_task_accuracy_by_hand():
    result = TaskAccuracy().evaluate(accuracy_context())
    # correct: 1 of 3 counts, 1 of 2 yes/no, 1 of 1 sets -> 3 of 6
    assert result["overall"]["micro"] == pytest.approx(3 / 6)
    assert result["overall"]["macro"] == pytest.approx((1 / 3 + 1 / 2 + 1) / 3)
    assert result["overall"]["format_errors"] == 2  # "I think so" and "Yes, No"
    # Wilson 95% for 1/3: (p + z²/2n ± z·sqrt(p(1-p)/n + z²/4n²)) / (1 + z²/n) with z = 1.96 -> 0.0615, 0.7923
    assert result["per_task"]["edge_count"] == {"n": 3, "correct": 1, "accuracy": pytest.approx(1 / 3),
                                                "ci95": [pytest.approx(0.0615, abs=1e-4), pytest.approx(0.7923, abs=1e-4)],
                                                "format_errors": 1, "family": "low_order", "answer_kind": "count"}
    low, high = result["overall"]["macro_ci95"]
    assert low <= result["overall"]["macro"] <= high and 0 <= low < high <= 1
    assert result["per_encoding"]["enc_a"]["accuracy"] == pytest.approx(2 / 3)  # 3 right, 5 unreadable, Yes right
    assert result["per_encoding"]["enc_b"]["accuracy"] == pytest.approx(1 / 3)
    assert result["per_family"]["low_order"]["accuracy"] == pytest.approx(2 / 5)
    assert result["per_family"]["low_order"]["macro"] == pytest.approx((1 / 3 + 1 / 2) / 2)
    assert result["per_family"]["high_order"]["accuracy"] == 1.0
    assert result["per_task_encoding"]["edge_count"]["enc_b"]["accuracy"] == 0.0


def test_set_metrics_evaluator_by_hand():
    examples = [row("connected", "vertex_set", ["v1", "v2", "v3"], i=0),
                row("connected", "vertex_set", [], i=1),
                row("shared", "vertex_set", ["v4"], i=2),
                row("shared", "vertex_set", [], i=3),
                row("edge_count", "count", 2, i=4)]
    generations = [" Ans: [v1, v2, v9]", " Ans: []", " Ans: [v4, v4]", " garbage", " Ans: [2]"]
    result = HyperedgeSetMetrics().evaluate(EvalContext(examples, generations=generations))
    assert result["n"] == 4
    overall = result["overall"]
    assert overall["exact_match"] == pytest.approx(2 / 4) and overall["format_errors"] == 1
    # micro: tp 2+0+1+0 = 3, fp 1, fn 1
    assert overall["micro"]["precision"] == pytest.approx(3 / 4)
    assert overall["micro"]["recall"] == pytest.approx(3 / 4)
    assert overall["micro"]["jaccard"] == pytest.approx(3 / 5)
    # macro F1: 2*2/(3+3)=2/3, 1 (both empty), 1, 0 (format error on an empty gold)
    assert overall["macro"]["f1"] == pytest.approx((2 / 3 + 1 + 1 + 0) / 4)
    assert result["per_task"]["shared"]["exact_match"] == pytest.approx(1 / 2)
    only = HyperedgeSetMetrics(SetMetricsOptions(tasks=["shared"])).evaluate(EvalContext(examples, generations=generations))
    assert only["n"] == 2 and set(only["per_task"]) == {"shared"}


def test_discrimination_per_scheme_by_hand():
    schemes = ["positive", "positive", "SNS", "SNS", "MNS", "CNS"]
    answers = [True, True, False, False, False, False]
    examples = [row("hyperedge_discrimination", "yes_no", a, family="hyperedge_prediction",
                    meta={"negative_scheme": s}, i=i) for i, (s, a) in enumerate(zip(schemes, answers))]
    examples.append(row("connection", "yes_no", True, i=9))  # not a discrimination row: ignored
    generations = [" Ans: [Yes]", " Ans: [No]", " Ans: [No]", " Ans: [No]", " Ans: [Yes]", " Ans: [Yes]", " Ans: [Yes]"]
    scores = [2.0, -0.5, -3.0, 0.5, 1.0, 3.0, 9.9]
    result = HyperedgeDiscrimination().evaluate(EvalContext(examples, generations=generations, choice_scores=scores))
    assert result["n"] == 6
    sns = result["per_scheme"]["SNS"]
    # positives 2.0, -0.5 vs SNS negatives -3.0, 0.5: pairs won 2.0>-3, 2.0>0.5, -0.5>-3 -> 3 of 4
    assert sns["auroc"] == pytest.approx(3 / 4)
    # ranked 2.0 P, 0.5 N, -0.5 P, -3 N -> AP (1 + 2/3)/2
    assert sns["average_precision"] == pytest.approx((1 + 2 / 3) / 2)
    assert sns["accuracy"] == pytest.approx(3 / 4) and sns["negative_accuracy"] == 1.0
    cns = result["per_scheme"]["CNS"]
    assert cns["auroc"] == pytest.approx(0.0) and cns["negative_accuracy"] == 0.0
    assert result["per_scheme"]["MNS"]["auroc"] == pytest.approx(1 / 2)
    # all negatives: 2.0 beats -3, 0.5, 1.0 (3); -0.5 beats -3 (1) -> 4 of 8
    assert result["all"]["auroc"] == pytest.approx(4 / 8)
    narrowed = HyperedgeDiscrimination(DiscriminationOptions(schemes=["CNS"])).evaluate(
        EvalContext(examples, generations=generations, choice_scores=scores))
    assert list(narrowed["per_scheme"]) == ["CNS"]


def test_perplexity_without_a_model_is_skipped():
    assert Perplexity().evaluate(accuracy_context()) == {"skipped": "no model"}


# --- baselines --------------------------------------------------------------------------------


def test_best_constant_set_by_hand():
    golds = [{"v0", "v1"}, {"v0"}, {"v0", "v2"}, set()]
    # {v0}: Jaccard 1/2, 1, 1/2, 0 -> 0.5; {v0, v1}: 1, 1/2, 1/3, 0 -> 0.458; empty: 0, 0, 0, 1 -> 0.25
    assert best_constant_set(golds) == frozenset({"v0"})
    assert best_constant_set([set(), set(), {"v3"}]) == frozenset()


def test_majority_baseline_answers_and_metrics():
    train = [row("edge_count", "count", 3, i=0), row("edge_count", "count", 3, i=1), row("edge_count", "count", 5, i=2),
             row("path", "path_length", None, i=3), row("path", "path_length", None, i=4), row("path", "path_length", 2, i=5),
             row("shared", "vertex_set", ["v1"], i=6), row("shared", "vertex_set", ["v1", "v2"], i=7),
             row("shared", "vertex_set", ["v2", "v1"], i=8)]
    answers = baseline_answers(train)
    assert answers["majority"]["edge_count"] == ("count", 3)
    assert answers["majority"]["path"] == ("path_length", None)
    assert answers["majority"]["shared"] == ("vertex_set", ["v1", "v2"])
    assert answers["constant_set"] == {"shared": ("vertex_set", ["v1", "v2"])}
    test = [row("edge_count", "count", 3, i=10), row("edge_count", "count", 4, i=11), row("path", "path_length", 1, i=12)]
    generations = [" " + format_answer(*answers["majority"][r["task"]]) for r in test]
    result = run_evaluators([("task_accuracy", TaskAccuracy())], EvalContext(test, generations=generations))
    assert result["task_accuracy"]["overall"]["micro"] == pytest.approx(1 / 3)
    assert math.isclose(result["task_accuracy"]["per_task"]["path"]["accuracy"], 0.0)


def test_auroc_bootstrap_statistic_matches_scikit_learn_and_brackets_the_estimate():
    import random

    from sklearn.metrics import roc_auc_score

    from odin_metrics.scores import _auroc, ranking_scores

    rng = random.Random(4)
    labels = [rng.random() < 0.5 for _ in range(60)]
    scores = [rng.gauss(1.0 if y else 0.0, 1.0) for y in labels]
    scores[:6] = [0.5] * 6  # ties count half, as scikit-learn counts them
    pos = [s for s, y in zip(scores, labels) if y]
    neg = [s for s, y in zip(scores, labels) if not y]
    assert _auroc({"pos": pos, "neg": neg}) == pytest.approx(roc_auc_score(labels, scores))
    result = ranking_scores(labels, scores)
    low, high = result["auroc_ci95"]
    assert low < result["auroc"] < high and 0 <= low and high <= 1
