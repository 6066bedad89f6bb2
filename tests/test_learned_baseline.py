"""The learned shortcut baseline and what the builder does against it: cheap features computed right (checked
against networkx), a planted shortcut found and a random label not, the adversarial filter (balanced, lowers
predictability, deterministic), random ids that no longer give counts away, rows without duplicates or
positional patterns, and ``all`` meaning the built-in tasks only."""

from __future__ import annotations

import json
import random
from collections import Counter

import networkx as nx
import pytest

from odin_core.questions.hypergraph import Hypergraph
from odin_core.questions.learned_baseline import OTHER, answer_label, bound_for, cross_validated_truth, learned_baseline
from odin_core.questions.shortcut_features import FEATURE_NAMES, FEATURES_KEY, asked_items, row_features

pytestmark = pytest.mark.timeout(300)


def clique_graph(graph: Hypergraph) -> nx.Graph:
    g = nx.Graph()
    g.add_nodes_from(range(graph.num_vertices))
    g.add_edges_from((u, v) for e in graph.edges for i, u in enumerate(e) for v in e[i + 1:])
    return g


def test_features_agree_with_networkx():
    graph = Hypergraph.from_edges([(0, 1, 2), (2, 3), (4, 5), (5, 6, 7)], num_vertices=9,
                                  names=tuple(f"v{k}" for k in (3, 14, 15, 92, 65, 35, 89, 79, 32)))
    graph = graph.with_edges(graph.edges, edge_labels=("e7", "e40", "e2", "e13"))
    question = "Is vertex v15 connected to vertex v92, that is, do they share a hyperedge?"
    assert asked_items(graph, question) == ([2, 3], [])
    prompt = "some prompt text"
    features = row_features([graph], question, prompt, "hypernetx.synthetic", "hypernetx.n_set", 42)
    assert list(features) == list(FEATURE_NAMES)
    g = clique_graph(graph)
    assert features["vertices"] == 9 and features["hyperedges"] == 4
    assert features["components"] == nx.number_connected_components(g) == 3
    assert features["isolated_vertices"] == 1
    assert features["clique_density"] == pytest.approx(round(nx.density(g), 6))
    assert features["clique_degree_max"] == max(d for _, d in g.degree())
    assert features["max_vertex_id"] == 92 and features["max_edge_id"] == 40
    assert features["asked_vertices"] == 2 and features["asked_pair_coverage"] == 1.0
    assert features["asked_degree_min"] == 1 and features["asked_degree_max"] == 2
    assert features["asked_set_is_hyperedge"] == 1  # {v15, v92} is e40
    assert features["prompt_tokens"] == 42 and features["prompt_chars"] == len(prompt)
    assert features["second_graph"] == 0
    # a task's own answer is never a feature
    left = row_features([graph], question, prompt, "s", "e", 42, leave_out=("asked_pair_coverage",))
    assert "asked_pair_coverage" not in left


def _rows(n: int, label, seed: int = 0) -> list[dict]:
    """Yes/no rows with random features; ``label(features, rng)`` decides the answer."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        features = {name: rng.random() for name in FEATURE_NAMES}
        answer = label(features, rng)
        rows.append({"id": f"r{i}", "task": "t.yes_no", "answer_kind": "yes_no", "answer": json.dumps(answer),
                     "meta": json.dumps({FEATURES_KEY: features})})
    return rows


def test_a_planted_shortcut_is_found_and_chance_is_not_flagged():
    planted = lambda f, rng: f["vertices"] > 0.5  # noqa: E731
    table = learned_baseline(_rows(600, planted), _rows(200, planted, seed=1), "test")
    entry = table["tasks"]["t.yes_no"]
    assert entry["best"]["accuracy"] > 0.9 and entry["flagged"] and table["flagged"] == ["t.yes_no"]
    assert set(entry["models"]) == {"boosted_trees", "logistic"} and entry["bound"] == 0.60
    # every evaluated row has the best model's prediction
    assert len(table["predictions"]) == 200
    coin = lambda f, rng: rng.random() < 0.5  # noqa: E731
    table = learned_baseline(_rows(600, coin), _rows(300, coin, seed=1), "test")
    entry = table["tasks"]["t.yes_no"]
    assert entry["best"]["accuracy"] < 0.6 and not entry["flagged"]


def test_bounds():
    assert bound_for("yes_no", ["true", "false"] * 10) == 0.60
    assert bound_for("count", ["1"] * 6 + ["2"] * 4) == pytest.approx(0.70)
    assert bound_for("yes_no", ["true"] * 8 + ["false"] * 2) == pytest.approx(0.90)  # not balanced
    # a vertex set is one class, whatever the order
    assert answer_label({"answer_kind": "vertex_set", "answer": '["v2", "v10"]'}) == \
        answer_label({"answer_kind": "vertex_set", "answer": '["v10", "v2"]'})


def test_out_of_fold_predictability_is_high_for_a_planted_shortcut_and_deterministic():
    import numpy as np

    rows = _rows(300, lambda f, rng: f["components"] > 0.5 if rng.random() < 0.5 else rng.random() < 0.5)
    x = np.array([[json.loads(r["meta"])[FEATURES_KEY][n] for n in FEATURE_NAMES] for r in rows])
    y = [r["answer"] for r in rows]
    first, second = cross_validated_truth(x, y, seed=3), cross_validated_truth(x, y, seed=3)
    assert (first == second).all()
    planted = x[:, FEATURE_NAMES.index("components")] > 0.5
    agree = np.array([(a == "true") == p for a, p in zip(y, planted)])
    assert first[agree].mean() > first[~agree].mean() + 0.2
    # rare answers merge into one class that is never "predicted right"
    rare = cross_validated_truth(x[:20], [f"a{i}" for i in range(20)], seed=0)
    assert (rare == 0).all() and OTHER not in y


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    from odin_core import data
    from odin_core.recipe import load_recipe

    tmp = tmp_path_factory.mktemp("v3build")
    path = tmp / "recipe.toml"
    path.write_text(f"""
name = "learned-baseline-test"
seed = 11
[data]
tasks = ["hypernetx.vertex_count", "hypernetx.hyperedge_count", "hypernetx.reachability",
         "hypernetx.vertex_set_in_hyperedge", "hypernetx.shortest_path"]
encodings = ["hypernetx.n_set", "hypernetx.n_pair"]
cache_dir = "{tmp / 'cache'}"
[data.num_examples]
train = 500
validation = 0
test = 250
[data.split]
train = 0.7
validation = 0.0
test = 0.3
[[data.sources]]
name = "hypernetx.synthetic"
count = 300
""")
    recipe = load_recipe(path, require_model=False)
    dataset, report = data.build_dataset(recipe)
    return recipe, dataset, report


def test_counts_are_not_read_off_ids(built):
    _, dataset, report = built
    assert report["builder_version"] == "3"
    rows = [r for r in dataset["test"] if r["task"] in ("hypernetx.vertex_count", "hypernetx.hyperedge_count")]
    assert rows
    hits = 0
    for row in rows:
        features = json.loads(row["meta"])[FEATURES_KEY]
        largest = features["max_vertex_id"] if row["task"] == "hypernetx.vertex_count" else features["max_edge_id"]
        hits += largest + 1 == json.loads(row["answer"])
    assert hits / len(rows) < 0.1  # "largest id + 1" was right on every row of builder version 2


def test_rows_have_no_duplicates_and_no_positional_pattern(built):
    _, dataset, report = built
    for split in ("train", "test"):
        rows = list(dataset[split])
        prompts = [r["prompt"] for r in rows]
        assert len(prompts) == len(set(prompts))
        for task in ("hypernetx.reachability", "hypernetx.vertex_set_in_hyperedge"):
            labels = [r["answer"] for r in rows if r["task"] == task]
            counts = Counter(labels)
            assert abs(counts["true"] - counts["false"]) <= 1  # balanced after filtering
            # alternation: consecutive rows of a task change label about half the time, not always
            changes = sum(a != b for a, b in zip(labels, labels[1:])) / (len(labels) - 1)
            assert 0.25 < changes < 0.75, (task, split, changes)
            # nor does the label follow the row id's parity (the order examples were generated in)
            ids = [int(r["id"].rsplit("-", 1)[1]) % 2 for r in rows if r["task"] == task]
            same = sum((i == 0) == (lab == "true") for i, lab in zip(ids, labels)) / len(labels)
            assert 0.25 < same < 0.75, (task, split, same)
    assert not set(r["prompt"] for r in dataset["train"]) & set(r["prompt"] for r in dataset["test"])
    assert report["adversarial_filter"]["pool"] == 2.0 and "predictable" in report["dropped"]


def test_the_filter_lowers_what_features_predict(built):
    from odin_core import data

    recipe, dataset, _ = built
    unfiltered = recipe.model_copy(update={"data": recipe.data.model_copy(update={"adversarial_pool": 1.0})})
    plain, _ = data.build_dataset(unfiltered.located_at(recipe.path))
    filtered = learned_baseline(list(dataset["train"]), list(dataset["test"]))["tasks"]
    before = learned_baseline(list(plain["train"]), list(plain["test"]))["tasks"]
    gained = [before[t]["best"]["accuracy"] - filtered[t]["best"]["accuracy"] for t in filtered]
    assert sum(gained) / len(gained) > 0, (before, filtered)


def test_the_same_recipe_keeps_the_same_rows(built):
    from odin_core import data

    recipe, dataset, _ = built
    again, _ = data.build_dataset(recipe)
    for split in ("train", "test"):
        assert list(again[split]["id"]) == list(dataset[split]["id"])
        assert list(again[split]["prompt"]) == list(dataset[split]["prompt"])


def test_all_means_the_built_in_tasks(core_plugin):
    """A third party's task joins ``all+plugins`` or its own name, never ``all``."""
    from odin_core.recipe import expand_tasks

    registered = expand_tasks(["all+plugins"])
    builtin = expand_tasks(["all"])
    assert all(name.startswith("hypernetx.") for name in builtin) and len(builtin) == 17
    extra = [name for name in registered if name not in builtin]
    assert extra, registered
    assert expand_tasks([extra[0]]) == [extra[0]]


def test_a_run_scores_the_learned_and_shortcut_baselines(built):
    """``trivial_baselines``: ``learned`` answers each row from its features, ``shortcut`` takes per task the
    better of majority and learned on the evaluated rows (never below either)."""
    from odin_core.evaluate import trivial_baselines
    from odin_core.foundation.records import task_accuracy

    recipe, dataset, _ = built
    result = trivial_baselines(recipe, dataset)
    assert {"majority", "learned", "shortcut"} <= set(result)
    per = {name: task_accuracy(result[name]).get("per_task") or {} for name in ("majority", "learned", "shortcut")}
    assert set(per["shortcut"]) == set(per["majority"])
    for task, entry in per["shortcut"].items():
        others = [per[name][task]["accuracy"] for name in ("majority", "learned") if task in per[name]]
        assert entry["accuracy"] == pytest.approx(max(others))
        assert result["shortcut"]["answers"]["chosen"][task] in ("majority", "learned")
    # the stage's table is the learned baseline fitted on the training split
    assert set(result["learned"]["answers"]["tasks"]) == set(per["learned"])
