"""The seven hypergraph languages: hand-checked text on a small hypergraph, and decoded back on random ones."""

import random
import re

import pytest

from odin_core.components.plugins import registry
from odin_core.data import approx_tokens
from odin_core.questions.hypergraph import Hypergraph
from odin_hypernetx.encoders import ENCODERS, header, join_words

# e0 = {v0, v1, v2}, e1 = {v1, v3}, e2 = {v4} (size 1), v5 in no hyperedge
SMALL = Hypergraph.from_edges([(0, 1, 2), (3, 1), (4,)], num_vertices=6)
HEADER = "G describes a hypergraph among vertices v0, v1, v2, v3, v4, and v5 and hyperedges e0, e1, and e2."

EXPECTED = {
    "hypernetx.n_pair": "In G, these vertex pairs are connected: (v0, v1), (v0, v2), (v1, v2), (v1, v3).",
    "hypernetx.lo_inc": (
        "Vertex v0 is connected to vertices v1 and v2.\n"
        "Vertex v1 is connected to vertices v0, v2, and v3.\n"
        "Vertex v2 is connected to vertices v0 and v1.\n"
        "Vertex v3 is connected to vertex v1.\n"
        "Vertex v4 is connected to no vertex.\n"
        "Vertex v5 is connected to no vertex."),
    "hypernetx.adj_mat": (
        "The adjacency matrix of G (rows and columns follow the vertex order above; 1 means the two vertices "
        "share a hyperedge, and the diagonal is 1):\n"
        "1 1 1 0 0 0\n"
        "1 1 1 1 0 0\n"
        "1 1 1 0 0 0\n"
        "0 1 0 1 0 0\n"
        "0 0 0 0 1 0\n"
        "0 0 0 0 0 1"),
    "hypernetx.n_set": "In G, the hyperedges are: e0 = (v0, v1, v2), e1 = (v1, v3), e2 = (v4).",
    "hypernetx.ho_inc": (
        "Vertex v0 is connected to vertices v1 and v2 with hyperedge e0.\n"
        "Vertex v1 is connected to vertices v0 and v2 with hyperedge e0 and to vertex v3 with hyperedge e1.\n"
        "Vertex v2 is connected to vertices v0 and v1 with hyperedge e0.\n"
        "Vertex v3 is connected to vertex v1 with hyperedge e1.\n"
        "Vertex v4 is connected to no other vertex with hyperedge e2.\n"
        "Vertex v5 is in no hyperedge."),
    "hypernetx.inc_mat": (
        "The incidence matrix of G (rows are the vertices and columns the hyperedges, in the order above; "
        "1 means the vertex is in the hyperedge):\n"
        "1 0 0\n"
        "1 1 0\n"
        "1 0 0\n"
        "0 1 0\n"
        "0 0 1\n"
        "0 0 0"),
    "hypernetx.ho_neigh": (
        "Vertex v0 is connected to hyperedge e0.\n"
        "Vertex v1 is connected to hyperedges e0 and e1.\n"
        "Vertex v2 is connected to hyperedge e0.\n"
        "Vertex v3 is connected to hyperedge e1.\n"
        "Vertex v4 is connected to hyperedge e2.\n"
        "Vertex v5 is connected to no hyperedge.\n"
        "Hyperedge e0 is connected to vertices v0, v1, and v2.\n"
        "Hyperedge e1 is connected to vertices v1 and v3.\n"
        "Hyperedge e2 is connected to vertex v4."),
}
LOW = {"hypernetx.n_pair", "hypernetx.lo_inc", "hypernetx.adj_mat"}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_encoding_of_a_small_hypergraph(name):
    assert ENCODERS[name]().encode(SMALL) == HEADER + "\n" + EXPECTED[name]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_registered_with_its_order(name):
    component = registry()["encoder"][name]
    assert component.plugin == "hypernetx"
    assert component.create(None).order == ("low" if name in LOW else "high")


def test_header_wording_and_graph_names():
    one = Hypergraph.from_edges([(0, 1)], num_vertices=2)
    assert header(one, "G2") == "G2 describes a hypergraph among vertices v0 and v1 and hyperedge e0."
    empty = Hypergraph(("v0",), ())
    assert header(empty) == "G describes a hypergraph among vertex v0 and no hyperedges."
    assert ENCODERS["hypernetx.n_pair"]().encode(empty).endswith("In G, no two vertices are connected.")
    assert ENCODERS["hypernetx.n_set"]().encode(empty, "G1").endswith("G1 has no hyperedges.")
    assert join_words(["a"]) == "a" and join_words(["a", "b"]) == "a and b"
    assert join_words(["a", "b", "c"]) == "a, b, and c"


def test_data_names_are_written_as_given():
    graph = Hypergraph(("JV", "MY", "CO"), ((0, 1), (0, 1, 2)))
    text = ENCODERS["hypernetx.ho_inc"]().encode(graph)
    assert text.startswith("G describes a hypergraph among vertices JV, MY, and CO and hyperedges e0 and e1.")
    assert "Vertex CO is connected to vertices JV and MY with hyperedge e1." in text


def _random_graph(rng):
    n = rng.randint(1, 14)
    edges = [tuple(rng.sample(range(n), rng.randint(1, min(n, 5)))) for _ in range(rng.randint(0, 12))]
    return Hypergraph.from_edges(edges, num_vertices=n)


def _ids(text):
    return [int(x) for x in re.findall(r"v(\d+)", text)]


def _decode_edges(name, text, n):
    """The hyperedge list (as sorted tuples) read back from a high-order encoding."""
    lines = text.split("\n")[1:]
    if name == "hypernetx.n_set":
        return [tuple(sorted(_ids(body))) for body in re.findall(r"e\d+ = \(([^)]*)\)", text)]
    if name == "hypernetx.inc_mat":
        rows = [list(map(int, line.split())) for line in lines[1:]] if "no columns" not in text else []
        m = len(rows[0]) if rows else 0
        return [tuple(v for v in range(n) if rows[v][e]) for e in range(m)]
    if name == "hypernetx.ho_neigh":
        return [tuple(_ids(line.split(" is connected to ")[1])) for line in lines if line.startswith("Hyperedge")]
    if name == "hypernetx.ho_inc":
        members: dict[int, set] = {}
        for line in lines:
            (v,) = _ids(line.split(" is ")[0])
            for clause_ids, e in re.findall(r"to ((?:vertex|vertices|no other vertex)[^w]*)with hyperedge e(\d+)", line):
                members.setdefault(int(e), {v}).update(_ids(clause_ids) + [v])
        return [tuple(sorted(members[e])) for e in sorted(members)]
    raise AssertionError(name)


def _decode_pairs(name, text, n):
    """The clique-expansion pairs read back from a low-order encoding."""
    lines = text.split("\n")[1:]
    if name == "hypernetx.n_pair":
        return {tuple(sorted(_ids(p))) for p in re.findall(r"\((v\d+, v\d+)\)", text)}
    if name == "hypernetx.lo_inc":
        pairs = set()
        for line in lines:
            head, tail = line.split(" is connected to ")
            (v,) = _ids(head)
            pairs.update(tuple(sorted((v, u))) for u in _ids(tail))
        return pairs
    if name == "hypernetx.adj_mat":
        rows = [list(map(int, line.split())) for line in lines[1:]]
        assert all(rows[v][v] == 1 for v in range(n))
        assert all(rows[u][v] == rows[v][u] for u in range(n) for v in range(n))
        return {(u, v) for u in range(n) for v in range(u + 1, n) if rows[u][v]}
    raise AssertionError(name)


def test_encodings_decode_back_to_the_hypergraph():
    """High-order texts give back every hyperedge; low-order ones exactly networkx's clique expansion."""
    import networkx as nx

    rng = random.Random(5)
    for _ in range(150):
        graph = _random_graph(rng)
        clique = nx.Graph()
        clique.add_nodes_from(range(graph.num_vertices))
        for edge in graph.edges:
            clique.add_edges_from((u, v) for i, u in enumerate(edge) for v in edge[i + 1:])
        expected_pairs = {tuple(sorted(e)) for e in clique.edges()}
        for name, cls in ENCODERS.items():
            text = cls().encode(graph)
            if name in LOW:
                assert _decode_pairs(name, text, graph.num_vertices) == expected_pairs, name
            else:
                assert _decode_edges(name, text, graph.num_vertices) == list(graph.edges), name


def test_min_tokens_is_a_lower_bound():
    rng = random.Random(9)
    for _ in range(100):
        graph = _random_graph(rng)
        for cls in ENCODERS.values():
            encoder = cls()
            assert encoder.min_tokens(graph) <= approx_tokens(encoder.encode(graph)), cls.__name__
