"""The task suite: every answer checked against an independent computation.

Random hypergraphs are checked with networkx on the vertex-hyperedge incidence
graph or the clique expansion; Les Misérables (chapters as hyperedges, from the
copy bundled with hypernetx) with hypernetx's own algorithms.
"""

from __future__ import annotations

import json
import random
import re
import warnings
from collections import Counter
from itertools import combinations, permutations

import networkx as nx
import pytest

from odin_core.components.protocols import TASK_FAMILIES, Question, Task
from odin_core.questions.answers import ANSWER_KINDS, format_answer, parse_answer
from odin_core.questions.hypergraph import Hypergraph
from odin_hypernetx.structures import (
    STRUCTURE_LABELS,
    hyper_checked_table,
    hyper_pyramid,
    hyper_wheel,
    random_structure,
)
from odin_hypernetx.tasks import TASKS, isomorphic

YES_NO = [name for name, cls in TASKS.items() if cls.answer_kind == "yes_no"]


def random_hypergraph(rng: random.Random, index: int = 0) -> Hypergraph:
    """A small random hypergraph with isolated vertices, size-1 hyperedges and the odd repeated hyperedge."""
    n = rng.randint(2, 16)
    edges = []
    for _ in range(rng.randint(1, 20)):
        size = min(n, rng.choices((1, 2, 3, 4, 5), (1, 8, 5, 2, 1))[0])
        edges.append(rng.sample(range(n), size))
    if rng.random() < 0.1:
        edges.append(edges[0])
    return Hypergraph.from_edges(edges, num_vertices=n, graph_id=f"random-{index}")


@pytest.fixture(scope="module")
def graphs():
    rng = random.Random(2024)
    return [random_hypergraph(rng, i) for i in range(300)]


@pytest.fixture(scope="module")
def structures():
    """Members of the three structure families, as the ``hypernetx.structures`` source makes them."""
    rng = random.Random(2025)
    return [random_structure(STRUCTURE_LABELS[i % 3], rng, graph_id=f"structure-{i}") for i in range(90)]


def inputs(name: str, graphs, structures):
    """The hypergraphs a task is asked about: structure classification only asks about structures."""
    return structures if name == "structure_classification" else graphs


def incidence_graph(graph: Hypergraph) -> nx.Graph:
    bipartite = nx.Graph()
    bipartite.add_nodes_from((("v", v) for v in range(graph.num_vertices)), bipartite=0)
    bipartite.add_nodes_from((("e", i) for i in range(graph.num_edges)), bipartite=1)
    bipartite.add_edges_from((("v", v), ("e", i)) for i, edge in enumerate(graph.edges) for v in edge)
    return bipartite


def clique_expansion(graph: Hypergraph) -> nx.Graph:
    expansion = nx.Graph()
    expansion.add_nodes_from(range(graph.num_vertices))
    for edge in graph.edges:
        expansion.add_edges_from(combinations(edge, 2))
    return expansion


def mentioned_vertices(question: Question, graph: Hypergraph) -> list[int]:
    """Vertex ids named after the word "vertex", in order of appearance."""
    ids = {name: v for v, name in enumerate(graph.names)}
    return [ids[name] for name in re.findall(r"vertex (?!set )(\S+?)(?=[,? ])", question.question)]


def mentioned_sets(question: Question, graph: Hypergraph) -> list[set[int]]:
    ids = {name: v for v, name in enumerate(graph.names)}
    return [{ids[name] for name in body.split(", ")} for body in re.findall(r"\{([^}]*)\}", question.question)]


def mentioned_hyperedges(question: Question) -> list[int]:
    return [int(i) for i in re.findall(r"\be(\d+)\b", question.question)]


def names(graph, vertices):
    return [graph.names[v] for v in sorted(vertices)]


def expected_answer(name: str, q: Question, graph: Hypergraph):
    """The answer to ``q`` about ``graph``, computed with networkx, independently of the task code."""
    bipartite = incidence_graph(graph)
    expansion = clique_expansion(graph)
    vertex_nodes = [node for node, side in bipartite.nodes(data="bipartite") if side == 0]
    edge_nodes = [node for node, side in bipartite.nodes(data="bipartite") if side == 1]
    if name == "vertex_count":
        return len(vertex_nodes)
    if name == "hyperedge_count":
        return len(edge_nodes)
    if name == "vertex_degree":
        (v,) = mentioned_vertices(q, graph)
        return bipartite.degree(("v", v))
    if name == "vertex_connection":
        u, v = mentioned_vertices(q, graph)
        return expansion.has_edge(u, v)
    if name == "connected_vertices":
        (v,) = mentioned_vertices(q, graph)
        return names(graph, expansion.neighbors(v))
    if name == "disconnected_vertices":
        (v,) = mentioned_vertices(q, graph)
        return names(graph, set(expansion) - set(expansion.neighbors(v)) - {v})
    if name == "shortest_path":
        u, v = mentioned_vertices(q, graph)
        try:  # two incidence-graph steps (vertex -> hyperedge -> vertex) make one hop
            return nx.shortest_path_length(bipartite, ("v", u), ("v", v)) // 2
        except nx.NetworkXNoPath:
            return None
    if name == "reachability":
        u, v = mentioned_vertices(q, graph)
        return nx.has_path(bipartite, ("v", u), ("v", v))
    if name == "hyperedge_degree":
        (i,) = mentioned_hyperedges(q)
        return bipartite.degree(("e", i))
    if name in ("vertex_set_connection", "vertex_set_in_hyperedge"):
        query = set().union(*mentioned_sets(q, graph))
        holders = set.intersection(*(set(bipartite[("v", v)]) for v in query))
        return bool(holders)
    if name == "hyperedge_in_hyperedge":
        members = [frozenset(bipartite[node]) for node in edge_nodes]
        return any(a < b for a in members for b in members)
    if name == "shared_vertices":
        i, j = mentioned_hyperedges(q)
        return names(graph, {v for _, v in set(bipartite[("e", i)]) & set(bipartite[("e", j)])})
    raise AssertionError(f"no independent check for {name}")


SINGLE_GRAPH_TASKS = [name for name, cls in TASKS.items() if cls.family in ("low_order", "high_order")]


# --- the registry and the protocol ---------------------------------------


def test_task_names_and_protocol():
    assert list(TASKS) == [
        "vertex_count", "hyperedge_count", "vertex_degree", "vertex_connection", "connected_vertices",
        "disconnected_vertices", "shortest_path", "reachability", "hyperedge_degree", "vertex_set_connection",
        "vertex_set_in_hyperedge", "hyperedge_in_hyperedge", "shared_vertices", "isomorphism",
        "structure_classification", "hyperedge_completion", "hyperedge_discrimination",
    ]
    families = Counter(cls.family for cls in TASKS.values())
    assert families == {"low_order": 8, "high_order": 5, "isomorphism": 2, "hyperedge_prediction": 2}
    for name, cls in TASKS.items():
        task = cls(None)
        assert isinstance(task, Task), name
        assert cls.family in TASK_FAMILIES and cls.answer_kind in ANSWER_KINDS
        assert cls.__doc__ and cls.__doc__.strip().splitlines()[0], name


def test_answers_are_canonical_and_round_trip(graphs, structures):
    for name, cls in TASKS.items():
        task = cls()
        rng = random.Random(1)
        made = 0
        for graph in inputs(name, graphs, structures)[:60]:
            q = task.generate(graph, rng)
            if q is None:
                continue
            made += 1
            assert q.answer_kind == cls.answer_kind
            assert 'after "Ans:"' in q.question
            json.dumps(q.answer)
            json.dumps(q.meta)
            text = format_answer(q.answer_kind, q.answer)
            shown_names = [n for g in q.graphs for n in g.names]
            parsed = parse_answer(q.answer_kind, text, shown_names)
            assert parsed == (set(q.answer) if q.answer_kind == "vertex_set" else q.answer), (name, text)
            if q.answer_kind == "vertex_set":
                ids = {n: v for v, n in enumerate(q.graphs[0].names)}
                assert q.answer == sorted(q.answer, key=ids.__getitem__), "vertex sets are listed by vertex id"
        # vertex-set questions need a hypergraph with a hyperedge of 3+ vertices and a hard negative
        assert made >= (20 if name.startswith("vertex_set") else 30), (name, made)


def test_generation_is_deterministic(graphs, structures):
    for name, cls in TASKS.items():
        asked = inputs(name, graphs, structures)[:40]
        first = [cls().generate(g, random.Random(i), want=i % 2 == 0) for i, g in enumerate(asked)]
        second = [cls().generate(g, random.Random(i), want=i % 2 == 0) for i, g in enumerate(asked)]
        assert first == second, name


# --- answers against networkx on random hypergraphs -----------------------


@pytest.mark.parametrize("name", SINGLE_GRAPH_TASKS)
def test_answers_match_networkx_on_random_hypergraphs(name, graphs):
    task = TASKS[name]()
    rng = random.Random(7)
    checked = 0
    for graph in graphs:
        for want in (True, False, None) if name in YES_NO else (None,):
            q = task.generate(graph, rng, want=want)
            if q is None:
                continue
            assert q.graphs == [graph]
            assert q.answer == expected_answer(name, q, graph), (name, graph.edges, q.question)
            if want is not None:
                assert q.answer is want
            checked += 1
    assert checked >= 200, name


def test_questions_naming_hyperedges_need_high_order(graphs):
    """A low-order encoding shows only the clique expansion: hyperedge names (e3) mean nothing there."""
    for name, cls in TASKS.items():
        rng = random.Random(3)
        for graph in graphs[:50]:
            q = cls().generate(graph, rng)
            if q is not None and mentioned_hyperedges(q):
                assert cls.needs_high_order, name


def clique_twin(graph: Hypergraph) -> Hypergraph | None:
    """Same vertices, hyperedge count and clique expansion, different hyperedges (or None if this graph has no twin).

    Each pair hyperedge covered by a larger hyperedge is replaced by a copy of the larger one.
    """
    edges = list(graph.edges)
    changed = False
    for i, edge in enumerate(graph.edges):
        if len(edge) == 2:
            cover = next((other for other in graph.edges if len(other) > 2 and set(edge) <= set(other)), None)
            if cover is not None:
                edges[i] = cover
                changed = True
    return Hypergraph(graph.names, tuple(edges), graph.graph_id) if changed else None


def test_low_order_questions_depend_only_on_the_clique_expansion(graphs):
    """A low-order prompt shows the vertices, the hyperedge count and the clique expansion: that fixes the answer."""
    twins = [(g, t) for g in graphs if (t := clique_twin(g)) is not None]
    assert len(twins) >= 30
    assert nx.utils.graphs_equal(clique_expansion(twins[0][0]), clique_expansion(twins[0][1]))
    for name, cls in TASKS.items():
        if cls.needs_high_order:
            continue
        for seed, (graph, twin) in enumerate(twins):
            for want in (True, False) if name in YES_NO else (None,):
                q = cls().generate(graph, random.Random(seed), want=want)
                q_twin = cls().generate(twin, random.Random(seed), want=want)
                assert (q and (q.question, q.answer)) == (q_twin and (q_twin.question, q_twin.answer)), name
    # vertex degree is not determined by the clique expansion, so it must be marked high-order
    assert any(g.incidence != t.incidence for g, t in twins) and TASKS["vertex_degree"].needs_high_order


def label_possible(name: str, graph: Hypergraph, want: bool) -> bool | None:
    """Whether some question of task ``name`` about ``graph`` not naming an isolated vertex has answer ``want``.

    None: not checked here."""
    expansion = clique_expansion(graph)
    active = [v for v in expansion if expansion.degree(v)]
    if name == "vertex_connection":
        if len(active) < 2:
            return False
        return True if want else any(not expansion.has_edge(u, v) for u in active for v in active if u != v)
    if name == "reachability":
        if len(active) < 2:
            return False
        # both answers are asked only about hypergraphs of several components (a connected one says Yes already)
        return nx.number_connected_components(expansion.subgraph(active)) > 1
    if name == "hyperedge_in_hyperedge":
        return graph.num_edges >= 2 and expected_answer(name, None, graph) == want
    return None


def test_yes_no_tasks_balance_through_want(graphs):
    for name in YES_NO:
        task = TASKS[name]()
        rng = random.Random(11)
        labels = Counter()
        for graph in graphs:
            for want in (True, False):
                q = task.generate(graph, rng, want=want)
                if q is not None:
                    assert q.answer is want, name
                    labels[want] += 1
                possible = label_possible(name, graph, want)
                if possible:
                    assert q is not None, (name, want, graph.edges)
                elif possible is False:  # no fallback to an isolated vertex: another hypergraph is asked instead
                    assert q is None, (name, want, graph.edges)
        if label_possible(name, graphs[0], True) is not None:  # None exactly when impossible (checked above)
            assert labels[True] >= 30 and labels[False] >= 30, labels
        else:
            # vertex sets of 3 or 4 need a hyperedge that large, hard negatives a clique no hyperedge holds
            assert labels[True] >= 0.4 * len(graphs) and labels[False] >= 0.4 * len(graphs), (name, labels)


def test_query_vertices_avoid_isolated_vertices(graphs):
    """About a fifth of LLM4Hypergraph's query vertices were isolated; here none is (the vertex-degree and
    list questions may fall back to one only in a hypergraph with no hyperedge of two vertices)."""
    for name in ("vertex_degree", "vertex_connection", "connected_vertices", "disconnected_vertices",
                 "shortest_path", "reachability"):
        task = TASKS[name]()
        rng = random.Random(5)
        asked = isolated = 0
        for graph in graphs:
            for want in (True, False) if name in YES_NO else (None,):
                q = task.generate(graph, rng, want=want)
                if q is None:
                    continue
                for v in mentioned_vertices(q, graph):
                    asked += 1
                    isolated += not graph.neighbours[v] and not graph.incidence[v]
        if name in ("vertex_connection", "reachability", "shortest_path"):
            assert asked and isolated == 0, (name, isolated, asked)
        else:
            assert asked and isolated / asked < 0.03, (name, isolated, asked)


def uniform_answer_shares(name: str, graphs) -> Counter:
    """Degree shares if the vertex or hyperedge were drawn uniformly (LLM4Hypergraph's way), from networkx."""
    shares = Counter()
    for graph in graphs:
        bipartite = incidence_graph(graph)
        side = "v" if name == "vertex_degree" else "e"
        answers = [d for (kind, _), d in bipartite.degree() if kind == side and d]
        for answer in answers:
            shares[answer] += 1 / len(answers) / len(graphs)
    return shares


def test_count_answers_are_spread_out(graphs):
    """Each degree a graph has is equally likely, so the majority answer is a weaker baseline than uniform draws give."""
    for name, margin in (("vertex_degree", 0.03), ("hyperedge_degree", 0.1)):
        task = TASKS[name]()
        rng = random.Random(43)
        answers = Counter(q.answer for g in graphs for _ in range(3) if (q := task.generate(g, rng)) is not None)
        majority = max(answers.values()) / sum(answers.values())
        assert majority < max(uniform_answer_shares(name, graphs).values()) - margin, (name, answers)


def test_shared_vertices_mostly_asks_about_overlapping_hyperedges(graphs):
    task = TASKS["shared_vertices"]()
    rng = random.Random(9)
    answers = [q.answer for g in graphs if (q := task.generate(g, rng)) is not None]
    assert sum(1 for a in answers if a) > 0.6 * len(answers)


# --- Les Misérables through hypernetx ------------------------------------


@pytest.fixture(scope="module")
def lesmis():
    """Les Misérables with chapters as hyperedges: (hypernetx Hypergraph, our Hypergraph, edge names in order)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from hypernetx.utils.toys.lesmis import LesMis, lesmis_hypergraph_from_df

        scenes = LesMis().df_scenes
        hnx_graph = lesmis_hypergraph_from_df(scenes, by="Chapter")
    vertex_names = sorted(hnx_graph.nodes)
    ids = {name: v for v, name in enumerate(vertex_names)}
    incidence = hnx_graph.incidence_dict
    edge_names = sorted(incidence)
    ours = Hypergraph.from_edges([[ids[n] for n in incidence[e]] for e in edge_names], names=vertex_names,
                                 graph_id="lesmis-chapters")
    return hnx_graph, ours, edge_names


def test_answers_match_hypernetx_on_les_miserables(lesmis):
    hnx_graph, graph, edge_names = lesmis
    incidence = hnx_graph.incidence_dict
    components = [set(c) for c in hnx_graph.s_connected_components(s=1, edges=False)]

    def same_component(a, b):
        return a == b or any(a in c and b in c for c in components)

    for name in SINGLE_GRAPH_TASKS:
        task = TASKS[name]()
        rng = random.Random(13)
        for k in range(12):
            want = (k % 2 == 0) if name in YES_NO else None
            q = task.generate(graph, rng, want=want)
            if q is None:
                assert name in ("hyperedge_in_hyperedge", "reachability"), name
                continue
            vs = [graph.names[v] for v in mentioned_vertices(q, graph)]
            es = [edge_names[i] for i in mentioned_hyperedges(q)]
            if name == "vertex_count":
                expected = hnx_graph.order()
            elif name == "hyperedge_count":
                expected = len(hnx_graph.edges)
            elif name == "vertex_degree":
                expected = hnx_graph.degree(vs[0])
            elif name == "vertex_connection":
                expected = vs[1] in hnx_graph.neighbors(vs[0])
            elif name == "connected_vertices":
                expected = sorted(hnx_graph.neighbors(vs[0]))
            elif name == "disconnected_vertices":
                expected = sorted(set(hnx_graph.nodes) - set(hnx_graph.neighbors(vs[0])) - {vs[0]})
            elif name == "shortest_path":
                expected = hnx_graph.distance(vs[0], vs[1]) if same_component(vs[0], vs[1]) else None
            elif name == "reachability":
                expected = same_component(vs[0], vs[1])
            elif name == "hyperedge_degree":
                expected = hnx_graph.size(es[0])
            elif name in ("vertex_set_connection", "vertex_set_in_hyperedge"):
                query = {graph.names[v] for s in mentioned_sets(q, graph) for v in s}
                expected = any(query <= set(members) for members in incidence.values())
            elif name == "hyperedge_in_hyperedge":
                members = [set(m) for m in incidence.values()]
                expected = any(a < b for a in members for b in members)
            elif name == "shared_vertices":
                expected = sorted(set(incidence[es[0]]) & set(incidence[es[1]]))
            assert q.answer == expected, (name, q.question)
    for name in ("isomorphism", "hyperedge_completion", "hyperedge_discrimination"):
        assert TASKS[name]().generate(graph, random.Random(0)) is not None, name


# --- isomorphism ----------------------------------------------------------


def vf2pp_isomorphic(first: Hypergraph, second: Hypergraph) -> bool:
    """networkx VF2++ on the incidence graphs, vertices and hyperedges kept apart by their side label."""
    return nx.vf2pp_is_isomorphic(incidence_graph(first), incidence_graph(second), node_label="bipartite")


def same_up_to_renaming(first: Hypergraph, second: Hypergraph) -> bool:
    """Brute force over all vertex permutations (tiny hypergraphs only)."""
    target = sorted(second.edges)
    return first.num_vertices == second.num_vertices and any(
        sorted(tuple(sorted(p[v] for v in edge)) for edge in first.edges) == target
        for p in permutations(range(first.num_vertices)))


def tiny_hypergraph(rng: random.Random) -> Hypergraph:
    """At most 6 vertices: repeated hyperedges, twin and isolated vertices are common."""
    n = rng.randint(2, 6)
    edges = [rng.sample(range(n), rng.randint(1, min(n, 3))) for _ in range(rng.randint(1, 8))]
    return Hypergraph.from_edges(edges, num_vertices=n)


def check_pair(q: Question, graph: Hypergraph, want: bool, same) -> None:
    first, second = q.graphs
    assert q.answer is want
    assert same(first, second) is want, (graph.edges, second.edges)
    assert Counter(first.edges) == Counter(graph.edges), "G1 is the source graph, hyperedges reordered"
    assert first.names == second.names == graph.names
    assert sorted(map(len, first.edges)) == sorted(map(len, second.edges))
    assert "G1" in q.question and "G2" in q.question


def test_isomorphism_pairs_are_labelled_exactly(graphs):
    task = TASKS["isomorphism"]()
    rng = random.Random(17)
    pairs = Counter()
    # VF2++ on the plain incidence graph is slow on repeated hyperedges: those are checked by brute force below
    distinct = [Hypergraph(g.names, tuple(dict.fromkeys(g.edges)), g.graph_id) for g in graphs[:150]]
    for graph in distinct:
        for want in (True, False):
            q = task.generate(graph, rng, want=want)
            if q is None:
                assert want is False
                continue
            check_pair(q, graph, want, vf2pp_isomorphic)
            pairs[q.meta["pair"]] += 1
    assert pairs["relabelled"] == 150 and pairs["degree_preserving"] >= 60, pairs
    assert pairs["rewired"] >= 5 and pairs["random"] >= 5, pairs
    for _ in range(150):
        graph = tiny_hypergraph(rng)
        for want in (True, False):
            q = task.generate(graph, rng, want=want)
            if q is not None:
                check_pair(q, graph, want, same_up_to_renaming)


def test_isomorphism_pairs_shuffle_hyperedge_order(graphs):
    """Neither side keeps the source order, so hyperedge order does not give the label away."""
    task = TASKS["isomorphism"]()
    rng = random.Random(19)
    kept = Counter()
    big = [g for g in graphs if g.num_edges >= 6]
    for graph in big:
        for want in (True, False):
            q = task.generate(graph, rng, want=want)
            if q is not None:
                kept["first", want] += q.graphs[0].edges == graph.edges
                kept["second", want] += [len(e) for e in q.graphs[1].edges] == [len(e) for e in graph.edges]
    assert all(count < 0.2 * len(big) for count in kept.values()), kept


def test_exact_isomorphism_test():
    rng = random.Random(23)
    for _ in range(300):  # repeated hyperedges, twins and isolated vertices: against brute force
        first = tiny_hypergraph(rng)
        edges = [list(e) for e in first.edges]
        if rng.random() < 0.5:  # a relabelled copy ...
            permutation = list(range(first.num_vertices))
            rng.shuffle(permutation)
            second = first.relabel(permutation)
        else:  # ... or a near copy with one vertex moved
            edges[rng.randrange(len(edges))][0] = rng.randrange(first.num_vertices)
            second = Hypergraph.from_edges(edges, num_vertices=first.num_vertices)
        assert isomorphic(first, second) == same_up_to_renaming(first, second), (first.edges, second.edges)
    # equal sizes and degree sequences, still different: two disjoint triangles vs a 6-cycle of pairs
    two_triangles = Hypergraph.from_edges([(0, 1), (1, 2), (0, 2), (3, 4), (4, 5), (3, 5)])
    hexagon = Hypergraph.from_edges([(0, 1), (1, 2), (2, 3), (3, 4), (4, 5), (0, 5)])
    assert not isomorphic(two_triangles, hexagon) and not vf2pp_isomorphic(two_triangles, hexagon)
    assert isomorphic(hexagon, hexagon.relabel([3, 1, 4, 0, 5, 2]))


# --- structure classification ---------------------------------------------


def pairwise_overlaps(edges):
    return Counter(len(set(a) & set(b)) for a, b in combinations(edges, 2))


def test_structure_builders_have_their_defining_properties():
    for rows in (3, 4, 5):
        n, edges = hyper_pyramid(rows)
        assert n == rows * (rows + 1) // 2 and len(edges) == rows * (rows - 1) // 2
        assert all(len(e) == 3 for e in edges)
        assert set(pairwise_overlaps(edges)) <= {0, 1}, "two triangles share at most one vertex"
        assert nx.is_connected(clique_expansion(Hypergraph.from_edges(edges, num_vertices=n)))
        degrees = Counter(len(m) for m in Hypergraph.from_edges(edges, num_vertices=n).incidence)
        assert degrees == Counter({1: 3, 2: 3 * (rows - 2), 3: n - 3 - 3 * (rows - 2)}), "corners, sides, inside"
    for rows, cols in ((1, 3), (2, 2), (3, 4)):
        n, edges = hyper_checked_table(rows, cols)
        assert n == (rows + 1) * (cols + 1) and len(edges) == rows * cols
        assert all(len(e) == 4 for e in edges)
        overlaps = pairwise_overlaps(edges)
        assert set(overlaps) <= {0, 1, 2}
        assert overlaps[2] == rows * (cols - 1) + cols * (rows - 1), "side-by-side squares share two vertices"
        assert overlaps[1] == 2 * (rows - 1) * (cols - 1), "diagonal squares share one corner"
    for spokes, hub in ((3, 1), (7, 1), (12, 2)):
        n, edges = hyper_wheel(spokes, hub)
        assert n == spokes + hub and len(edges) == spokes
        assert len(set.intersection(*map(set, edges))) == hub, "all hyperedges share the hub"
        for i in range(spokes):
            assert len(set(edges[i]) & set(edges[(i + 1) % spokes])) == hub + 1, "rim neighbours share one more"
    with pytest.raises(ValueError):
        hyper_wheel(2)


def undecorated(graph: Hypergraph) -> Hypergraph:
    """A structure without its decorations (hyperedges of two vertices) and their hanging vertices."""
    kept = [e for e in graph.edges if len(e) > 2]
    used = sorted({v for e in kept for v in e})
    ids = {v: i for i, v in enumerate(used)}
    return Hypergraph.from_edges([[ids[v] for v in e] for e in kept], num_vertices=len(used))


def test_structure_classification_questions(graphs, structures):
    task = TASKS["structure_classification"]()
    rng = random.Random(29)
    assert all(task.generate(g, rng) is None for g in graphs), "only structures are asked about"
    labels = Counter()
    for graph in structures:
        q = task.generate(graph, rng)
        (shown,) = q.graphs
        assert shown is graph and q.answer == graph.params["structure"]
        labels[q.answer] += 1
        assert q.answer in STRUCTURE_LABELS and all(label in q.question for label in STRUCTURE_LABELS)
        core = undecorated(graph)
        params = graph.params
        if q.answer == "hyper pyramid":
            expected = hyper_pyramid(params["rows"])
        elif q.answer == "hyper checked table":
            expected = hyper_checked_table(params["rows"], params["cols"])
        else:
            expected = hyper_wheel(params["spokes"], params["hub"])
        assert vf2pp_isomorphic(core, Hypergraph.from_edges(expected[1], num_vertices=expected[0])), params
        assert graph.num_edges - core.num_edges == params["pendants"] <= 3
        assert q.meta["heuristics"]["first_option"] == STRUCTURE_LABELS[0]
    assert all(labels[label] == 30 for label in STRUCTURE_LABELS), labels


def test_structure_families_have_hundreds_of_isomorphism_classes():
    """Sizes and decorations: a model cannot memorise the family of each hypergraph it was trained on."""
    from odin_core.data.splits import graph_key

    rng = random.Random(30)
    keys = {graph_key(random_structure(STRUCTURE_LABELS[i % 3], rng)) for i in range(1500)}
    assert len(keys) >= 400, len(keys)
    # the key is an isomorphism invariant: relabelled copies share it
    graph = random_structure("hyper wheel", rng)
    assert graph_key(graph) == graph_key(graph.relabel(list(reversed(range(graph.num_vertices)))))


def test_random_structure_is_a_relabelled_builder_output():
    rng = random.Random(31)
    graph = random_structure("hyper wheel", rng, graph_id="g", pendants=0)
    n, edges = hyper_wheel(graph.num_edges, graph.num_vertices - graph.num_edges)
    assert vf2pp_isomorphic(graph, Hypergraph.from_edges(edges, num_vertices=n))
    decorated = random_structure("hyper pyramid", rng, pendants=2)
    assert sorted(map(len, decorated.edges))[:2] == [2, 2] and decorated.params["pendants"] == 2
    with pytest.raises(ValueError):
        random_structure("hyper cube", rng)


# --- hyperedge prediction --------------------------------------------------


def removed_hyperedge(full: Hypergraph, shown: Hypergraph) -> tuple[int, ...]:
    (removed,) = list((Counter(full.edges) - Counter(shown.edges)).elements())
    assert shown.names == full.names and shown.num_edges == full.num_edges - 1
    return removed


def test_hyperedge_completion(graphs):
    task = TASKS["hyperedge_completion"]()
    rng = random.Random(37)
    made = 0
    for graph in graphs:
        q = task.generate(graph, rng)
        degrees = [len(m) for m in graph.incidence]
        if q is None:
            assert not any(len(e) >= 3 and all(degrees[v] >= 2 for v in e) and graph.edges.count(e) == 1
                           for e in graph.edges)
            continue
        made += 1
        removed = removed_hyperedge(graph, q.graphs[0])
        shown = {graph.names[v] for v in mentioned_given(q, graph)}
        missing = set(q.answer)
        assert missing and shown and not (missing & shown)
        assert missing | shown == {graph.names[v] for v in removed}
        assert f"had {len(removed)} vertices" in q.question
        assert all(degrees[v] >= 2 for v in removed), "removing it leaves no vertex isolated"
        isolated = {graph.names[v] for v in range(graph.num_vertices) if not q.graphs[0].incidence[v]}
        assert isolated == {graph.names[v] for v in range(graph.num_vertices) if not degrees[v]}
        assert q.meta == {"hyperedge_size": len(removed), "shown": len(shown),
                          "heuristics": {"isolated_vertices": names(graph, [graph.names.index(n) for n in isolated])}}
        assert set(q.meta["heuristics"]["isolated_vertices"]) != missing
    assert made >= 60


def mentioned_given(q: Question, graph: Hypergraph) -> set[int]:
    ids = {name: v for v, name in enumerate(graph.names)}
    given = re.search(r"among them (.*?)\. Which", q.question).group(1)
    return {ids[name] for name in re.split(r", | and ", given)}


def test_hyperedge_discrimination(graphs):
    task = TASKS["hyperedge_discrimination"]()
    rng = random.Random(41)
    schemes = Counter()
    for graph in graphs:
        real = set(graph.edges)
        for want in (True, False):
            q = task.generate(graph, rng, want=want)
            if q is None:
                continue
            (shown,) = q.graphs
            removed = removed_hyperedge(graph, shown)
            (candidate,) = mentioned_sets(q, graph)
            scheme = q.meta["negative_scheme"]
            schemes[scheme] += 1
            assert q.answer is want and len(candidate) == len(removed) >= 2
            if want:
                assert scheme == "positive" and candidate == set(removed)
                continue
            assert tuple(sorted(candidate)) not in real, "a negative is never a real hyperedge"
            expansion = clique_expansion(shown)
            if scheme == "MNS":
                assert nx.is_connected(expansion.subgraph(candidate))
            elif scheme == "CNS":
                (swapped_in,) = candidate - set(removed)
                assert len(candidate & set(removed)) == len(removed) - 1
                assert all(expansion.has_edge(swapped_in, v) for v in candidate - {swapped_in})
            else:
                assert scheme == "SNS"
    assert schemes["positive"] >= 200 and all(schemes[s] >= 40 for s in ("SNS", "MNS", "CNS")), schemes
