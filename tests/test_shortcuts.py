"""Shortcut-free generation: hard negatives are negatives and defeat the rule they target, the recorded
heuristics are what the rules answer (computed here independently with networkx), and no shallow rule
answers a balanced task much better than chance."""

from __future__ import annotations

import json
import random
from collections import Counter

import networkx as nx
import pytest

from odin_core.questions.hypergraph import Hypergraph
from odin_hypernetx.tasks import TASKS, TaskOptions

from test_tasks import (
    clique_expansion,
    incidence_graph,
    mentioned_sets,
    mentioned_vertices,
    random_hypergraph,
    removed_hyperedge,
    vf2pp_isomorphic,
)

pytestmark = pytest.mark.timeout(120)

VERTEX_SET_TASKS = ("vertex_set_connection", "vertex_set_in_hyperedge")


@pytest.fixture(scope="module")
def graphs():
    rng = random.Random(4048)
    return [random_hypergraph(rng, i) for i in range(400)]


def in_one_hyperedge(graph: Hypergraph, vertices) -> bool:
    bipartite = incidence_graph(graph)
    return bool(set.intersection(*(set(bipartite[("v", v)]) for v in vertices)))


def pairwise(graph: Hypergraph, vertices) -> bool:
    expansion = clique_expansion(graph)
    vertices = sorted(vertices)
    return all(expansion.has_edge(u, v) for i, u in enumerate(vertices) for v in vertices[i + 1:])


def questions(name, graphs, options=None, seed=0):
    """(graph, want, question) for each graph and label, skipping graphs that give no question."""
    task = TASKS[name](options)
    rng = random.Random(seed)
    for graph in graphs:
        for want in (True, False):
            q = task.generate(graph, rng, want=want)
            if q is not None:
                yield graph, want, q


@pytest.mark.parametrize("name", VERTEX_SET_TASKS)
def test_vertex_set_hard_negatives_are_covered_pairwise_but_by_no_hyperedge(name, graphs):
    hard = ordinary = 0
    for graph, want, q in questions(name, graphs, TaskOptions(hard_negatives=1.0)):
        query = set().union(*mentioned_sets(q, graph))
        assert 3 <= len(query) <= 4
        assert in_one_hyperedge(graph, query) is want is q.answer
        assert q.meta["heuristics"] == {"first_option": True, "pairwise_cover": pairwise(graph, query)}
        if not want:
            assert q.meta["query"] == "pairwise_covered" and pairwise(graph, query)
            hard += 1
    for graph, want, q in questions(name, graphs, TaskOptions(hard_negatives=0.0), seed=1):
        if not want:
            query = set().union(*mentioned_sets(q, graph))
            assert q.meta["query"] == ("pairwise_covered" if pairwise(graph, query) else "ordinary")
            ordinary += q.meta["query"] == "ordinary"
    assert hard >= 100 and ordinary >= 100, (hard, ordinary)


def test_vertex_set_sizes_say_nothing_about_the_label(graphs):
    for name in VERTEX_SET_TASKS:
        sizes = Counter()
        for graph, want, q in questions(name, graphs, seed=2):
            sizes[want, len(set().union(*mentioned_sets(q, graph)))] += 1
        share = {want: sizes[want, 3] / (sizes[want, 3] + sizes[want, 4]) for want in (True, False)}
        assert abs(share[True] - share[False]) < 0.1, (name, sizes)


def degree_multiset(graph: Hypergraph) -> list[int]:
    bipartite = incidence_graph(graph)
    return sorted(d for (side, _), d in bipartite.degree() if side == "v")


def test_degree_preserving_isomorphism_negatives_are_not_isomorphic(graphs):
    task = TASKS["isomorphism"](TaskOptions(hard_negatives=1.0))
    rng = random.Random(3)
    made = same_expansion = 0
    distinct = [Hypergraph(g.names, tuple(dict.fromkeys(g.edges)), g.graph_id) for g in graphs[:200]]
    for graph in distinct:
        q = task.generate(graph, rng, want=False)
        if q is None:
            continue
        first, second = q.graphs
        assert q.meta["pair"] == "degree_preserving" and q.answer is False
        assert degree_multiset(first) == degree_multiset(second)
        assert sorted(map(len, first.edges)) == sorted(map(len, second.edges))
        assert not vf2pp_isomorphic(first, second)
        assert q.meta["heuristics"] == {"first_option": True, "degree_multiset": True, "edge_size_multiset": True}
        if q.meta["same_clique_expansion"]:  # claimed only when settled: check it independently
            assert nx.is_isomorphic(clique_expansion(first), clique_expansion(second))
            same_expansion += 1
        made += 1
    assert made >= 100 and same_expansion >= 10, (made, same_expansion)


def test_connection_and_reachability_never_ask_about_isolated_vertices(graphs):
    for name in ("vertex_connection", "reachability"):
        for graph, want, q in questions(name, graphs, seed=4):
            u, v = mentioned_vertices(q, graph)
            assert graph.incidence[u] and graph.incidence[v]
            assert q.meta["heuristics"] == {"first_option": True, "isolated_vertex": True}
            if name == "reachability" and not want:
                expansion = clique_expansion(graph)
                assert not nx.has_path(expansion, u, v)


def test_hyperedge_prediction_never_shows_an_empty_graph_nor_leaks_through_isolated_vertices(graphs):
    tiny = [Hypergraph.from_edges(edges, num_vertices=4) for edges in
            ([(0, 1, 2)], [(0, 1), (1, 2)], [(0, 1, 2), (0, 1, 2)], [(0, 1, 2), (2, 3)], [(0, 1, 2), (0, 1), (1, 2)])]
    for name in ("hyperedge_completion", "hyperedge_discrimination"):
        for graph, want, q in questions(name, tiny + graphs, seed=5):
            (shown,) = q.graphs
            assert shown.num_edges >= 1
            removed = removed_hyperedge(graph, shown)
            assert all(shown.incidence[v] for v in removed), "no vertex of the removed hyperedge becomes isolated"
            isolated = {v for v in range(shown.num_vertices) if not shown.incidence[v]}
            if name == "hyperedge_discrimination":
                (candidate,) = mentioned_sets(q, graph)
                assert not candidate & isolated, "negatives are drawn from vertices in some hyperedge, as positives"
                assert q.meta["heuristics"] == {"first_option": True, "holds_isolated": isolated <= candidate}
            else:
                assert q.meta["heuristics"]["isolated_vertices"] == [graph.names[v] for v in sorted(isolated)]
                assert set(q.answer) != {graph.names[v] for v in isolated}
    assert TASKS["hyperedge_completion"]().generate(tiny[0], random.Random(0)) is None


def rule_accuracy(name, graphs, seed=6) -> dict[str, float]:
    """Each rule's accuracy on balanced labels (as the builder makes them: as many Yes as No questions)."""
    by_label: dict[bool, list] = {True: [], False: []}
    for _graph, want, q in questions(name, graphs, seed=seed):
        by_label[want].append(q)
    k = min(len(by_label[True]), len(by_label[False]))
    assert k >= 40, (name, k)
    asked = by_label[True][:k] + by_label[False][:k]
    right = Counter(rule for q in asked for rule, answer in q.meta["heuristics"].items() if answer == q.answer)
    return {rule: right[rule] / len(asked) for rule in asked[0].meta["heuristics"]}


@pytest.mark.parametrize("name", [n for n, cls in TASKS.items() if cls.answer_kind == "yes_no"])
def test_no_shallow_rule_answers_a_balanced_yes_no_task(name, graphs):
    """With the default share of hard negatives, every recorded rule stays near chance (about 65% at most)."""
    accuracy = rule_accuracy(name, graphs)
    assert accuracy.get("first_option") == pytest.approx(0.5, abs=0.02), accuracy
    assert max(accuracy.values()) <= 0.67, (name, accuracy)


def test_ambiguous_prompts_are_dropped():
    from odin_core.data.examples import drop_ambiguous

    rows = [{"prompt": p, "completion": c, "answer": c.split()[-1], "task": "t", "encoding": "e"}
            for p, c in (("a", "Yes"), ("a", "No"), ("b", "Yes"), ("b", "Yes"), ("c", "No"), ("d", "one-trace Yes"),
                         ("d", "another-trace Yes"))]
    drops: list = []
    kept = drop_ambiguous(rows, "train", drops)
    # answers are compared, not completions: two traces of one answer are no ambiguity
    assert [(r["prompt"], r["completion"]) for r in kept] == [("b", "Yes"), ("b", "Yes"), ("c", "No"),
                                                             ("d", "one-trace Yes"), ("d", "another-trace Yes")]
    assert drops == [("train", "ambiguous", "t", "e")] * 2


@pytest.mark.timeout(300)
def test_a_build_carries_heuristics_and_structure_rows_describe_their_graph(tmp_path):
    from odin_core import data
    from odin_core.recipe import load_recipe

    path = tmp_path / "recipe.toml"
    path.write_text(f"""
name = "shortcut-test"
seed = 5
[data]
tasks = ["all"]
encodings = ["hypernetx.n_set"]
cache_dir = "{tmp_path / 'cache'}"
[data.num_examples]
train = 340
validation = 0
test = 170
[data.split]
train = 0.7
validation = 0.0
test = 0.3
[[data.sources]]
name = "hypernetx.synthetic"
count = 120
[[data.sources]]
name = "hypernetx.structures"
count = 60
""")
    recipe = load_recipe(path, require_model=False)
    dataset, report = data.build_dataset(recipe)
    structures = {}
    for split in ("train", "test"):
        prompts: dict[str, set] = {}
        for row in dataset[split]:
            meta = json.loads(row["meta"])
            prompts.setdefault(row["prompt"], set()).add(row["completion"])
            if TASKS[row["task"].split(".", 1)[1]].answer_kind == "yes_no":
                assert meta["heuristics"]["first_option"] is True
            if row["task"] == "hypernetx.structure_classification":
                generator = json.loads(row["generator"])
                assert generator["structure"] == json.loads(row["answer"])
                structures.setdefault(split, set()).add(meta["graph_key"])
        assert all(len(c) == 1 for c in prompts.values()), "one answer per prompt"
    assert structures["train"] and structures["test"] and not structures["train"] & structures["test"]
    assert report["builder_version"] == "3"


@pytest.mark.timeout(90)
def test_isomorphism_negatives_of_symmetric_structures_are_quick():
    """Wheels and grids made backtracking search run for minutes; the budgeted search keeps each question short."""
    import time

    from odin_hypernetx.structures import STRUCTURE_LABELS, random_structure

    rng = random.Random(8)
    task = TASKS["isomorphism"](TaskOptions(hard_negatives=1.0))
    slowest, told_apart = 0.0, 0
    for i in range(90):
        graph = random_structure(STRUCTURE_LABELS[i % 3], rng)
        started = time.perf_counter()
        q = task.generate(graph, rng, want=False)
        slowest = max(slowest, time.perf_counter() - started)
        if q is not None:  # networkx's Weisfeiler-Lehman hashes differ only for non-isomorphic graphs
            hashes = {nx.weisfeiler_lehman_graph_hash(incidence_graph(g), node_attr="bipartite") for g in q.graphs}
            told_apart += len(hashes) == 2
    assert slowest < 10, slowest
    assert told_apart >= 60, told_apart


def test_budgeted_isomorphism_search_agrees_with_networkx_and_says_when_unsettled():
    from odin_hypernetx.tasks.matching import isomorphic_labelled

    rng = random.Random(9)
    for _ in range(200):
        n = rng.randint(2, 9)
        a = nx.gnm_random_graph(n, rng.randint(0, n * (n - 1) // 2), seed=rng.randrange(10**6))
        if rng.random() < 0.5:
            b = nx.relabel_nodes(a, dict(zip(a, rng.sample(list(a), n))))
        else:
            b = nx.gnm_random_graph(n, a.number_of_edges(), seed=rng.randrange(10**6))
        for g in (a, b):
            nx.set_node_attributes(g, {v: v % 2 if rng.random() < 0.0 else 0 for v in g}, "label")
        assert isomorphic_labelled(a, b) == nx.is_isomorphic(a, b)
    # the 4x4 rook's graph and the Shrikhande graph: both strongly regular with the same parameters, so colour
    # refinement cannot tell them apart; not isomorphic
    rook = nx.cartesian_product(nx.complete_graph(4), nx.complete_graph(4))
    steps = ((1, 0), (3, 0), (0, 1), (0, 3), (1, 1), (3, 3))
    shrikhande = nx.Graph((u, ((u[0] + dx) % 4, (u[1] + dy) % 4)) for u in rook for dx, dy in steps)
    for g in (rook, shrikhande):
        nx.set_node_attributes(g, 0, "label")
    assert isomorphic_labelled(rook, shrikhande, budget=1) is None
    assert isomorphic_labelled(rook, shrikhande, budget=10_000) is False
