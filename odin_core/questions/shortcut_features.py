"""Cheap features of a question: what a shallow model could read off a row without doing the task.

The learned shortcut baseline (``odin_core.questions.learned_baseline``) fits a classifier on
these features and scores it like a model; the builder's adversarial filter uses
the same features to drop the questions they give away. Every feature is computed
from the hypergraph(s) shown, the question's text and the prompt, in time linear in
their size: counts, sizes, degrees, connected components, the ids written in the
prompt, the source, what the question names (its vertices and hyperedges, whether
they make up a listed hyperedge), and for two-graph questions how their invariants
compare. None runs a task's algorithm on what the question asks, with one exception
per task that a task declares itself: a feature that *is* its answer (the degree of
the asked vertex for a degree question) is left out through the task's
``answer_features`` (see ``Task`` in ``odin_core.components.protocols``).
"""

from __future__ import annotations

import re
import zlib

from odin_core.questions.hypergraph import Hypergraph

#: the ``meta`` key holding a row's features ({name: number})
FEATURES_KEY = "shortcut_features"

GRAPH_FEATURES = (
    "vertices", "hyperedges", "hyperedges_per_vertex", "edge_size_mean", "edge_size_min", "edge_size_max",
    "edge_sizes_distinct", "edge_size_2_share", "degree_mean", "degree_max", "degree_min_active",
    "isolated_vertices", "components", "largest_component_share", "clique_density", "clique_degree_mean",
    "clique_degree_max", "max_vertex_id", "max_edge_id", "repeated_edges",
)
QUESTION_FEATURES = (
    "prompt_chars", "prompt_tokens", "question_chars", "source", "encoding",
    "asked_vertices", "asked_degree_min", "asked_degree_max", "asked_clique_degree_min", "asked_clique_degree_max",
    "asked_pair_coverage", "asked_set_is_hyperedge", "asked_hyperedges", "asked_edge_size_min", "asked_edge_size_max",
    "asked_edges_overlap",
)
PAIR_FEATURES = (
    "second_graph", "pair_vertices_diff", "pair_hyperedges_diff", "pair_same_edge_sizes", "pair_same_degrees",
    "pair_same_clique_degrees", "pair_clique_edges_diff", "pair_components_diff",
)
FEATURE_NAMES = GRAPH_FEATURES + QUESTION_FEATURES + PAIR_FEATURES
_TOKEN = re.compile(r"[^\s,;:{}()\[\]?]+")
_NUMBER = re.compile(r"(\d+)$")


def category_code(text: str) -> int:
    """A stable number for a category (a source or an encoding name), the same in every process."""
    return zlib.crc32(text.encode("utf-8")) % 100_003


def _components(graph: Hypergraph) -> list[int]:
    """Sizes of the connected components of the clique expansion (isolated vertices are components of 1)."""
    seen, sizes = set(), []
    for start in range(graph.num_vertices):
        if start in seen:
            continue
        seen.add(start)
        stack, size = [start], 0
        while stack:
            x = stack.pop()
            size += 1
            for y in graph.neighbours[x]:
                if y not in seen:
                    seen.add(y)
                    stack.append(y)
        sizes.append(size)
    return sizes


def _largest_id(names) -> int:
    """The largest number that ends a name (``v17`` -> 17), -1 when none does."""
    found = [int(m.group(1)) for m in map(_NUMBER.search, names) if m]
    return max(found, default=-1)


def graph_features(graph: Hypergraph) -> dict:
    n, m = graph.num_vertices, graph.num_edges
    sizes = [len(e) for e in graph.edges]
    degrees = [len(x) for x in graph.incidence]
    clique = [len(x) for x in graph.neighbours]
    components = _components(graph)
    pairs = sum(clique) / 2
    active = [d for d in degrees if d]
    return {
        "vertices": n, "hyperedges": m, "hyperedges_per_vertex": m / n if n else 0.0,
        "edge_size_mean": sum(sizes) / m if m else 0.0, "edge_size_min": min(sizes, default=0),
        "edge_size_max": max(sizes, default=0), "edge_sizes_distinct": len(set(sizes)),
        "edge_size_2_share": sizes.count(2) / m if m else 0.0,
        "degree_mean": sum(degrees) / n if n else 0.0, "degree_max": max(degrees, default=0),
        "degree_min_active": min(active, default=0), "isolated_vertices": degrees.count(0),
        "components": len(components), "largest_component_share": max(components, default=0) / n if n else 0.0,
        "clique_density": pairs / (n * (n - 1) / 2) if n > 1 else 0.0,
        "clique_degree_mean": sum(clique) / n if n else 0.0, "clique_degree_max": max(clique, default=0),
        "max_vertex_id": _largest_id(graph.names), "max_edge_id": _largest_id(graph.edge_names),
        "repeated_edges": m - len(set(graph.edges)),
    }


def asked_items(graph: Hypergraph, question: str) -> tuple[list[int], list[int]]:
    """(vertex ids, hyperedge ids) that ``question`` names, in order of appearance, each once."""
    vertex_of = {name: v for v, name in enumerate(graph.names)}
    edge_of = {name: e for e, name in enumerate(graph.edge_names)}
    vertices, edges = [], []
    for token in _TOKEN.findall(question):
        token = token.rstrip(".")
        if token in vertex_of and vertex_of[token] not in vertices:
            vertices.append(vertex_of[token])
        elif token in edge_of and edge_of[token] not in edges:
            edges.append(edge_of[token])
    return vertices, edges


def question_features(graph: Hypergraph, question: str, prompt: str, source: str, encoding: str,
                      prompt_tokens: int) -> dict:
    vertices, edges = asked_items(graph, question)
    degrees = [len(graph.incidence[v]) for v in vertices]
    clique = [len(graph.neighbours[v]) for v in vertices]
    pairs = [(u, v) for i, u in enumerate(vertices) for v in vertices[i + 1:]]
    covered = sum(1 for u, v in pairs if v in graph.neighbours[u])
    edge_sets = {frozenset(e) for e in graph.edges}
    sizes = [len(graph.edges[e]) for e in edges]
    overlap = len(set(graph.edges[edges[0]]).intersection(graph.edges[edges[1]])) if len(edges) >= 2 else -1
    return {
        "prompt_chars": len(prompt), "prompt_tokens": prompt_tokens, "question_chars": len(question),
        "source": category_code(source), "encoding": category_code(encoding),
        "asked_vertices": len(vertices), "asked_degree_min": min(degrees, default=-1),
        "asked_degree_max": max(degrees, default=-1), "asked_clique_degree_min": min(clique, default=-1),
        "asked_clique_degree_max": max(clique, default=-1),
        "asked_pair_coverage": covered / len(pairs) if pairs else -1.0,
        "asked_set_is_hyperedge": int(frozenset(vertices) in edge_sets) if vertices else -1,
        "asked_hyperedges": len(edges), "asked_edge_size_min": min(sizes, default=-1),
        "asked_edge_size_max": max(sizes, default=-1), "asked_edges_overlap": overlap,
    }


def pair_features(first: Hypergraph, second: Hypergraph | None) -> dict:
    """How two shown hypergraphs compare on cheap invariants (all -1 for a one-graph question)."""
    if second is None:
        return {name: -1 for name in PAIR_FEATURES} | {"second_graph": 0}

    def sizes(g):
        return sorted(len(e) for e in g.edges)

    def degrees(g):
        return sorted(len(x) for x in g.incidence)

    def clique(g):
        return sorted(len(x) for x in g.neighbours)

    return {
        "second_graph": 1, "pair_vertices_diff": second.num_vertices - first.num_vertices,
        "pair_hyperedges_diff": second.num_edges - first.num_edges,
        "pair_same_edge_sizes": int(sizes(first) == sizes(second)),
        "pair_same_degrees": int(degrees(first) == degrees(second)),
        "pair_same_clique_degrees": int(clique(first) == clique(second)),
        "pair_clique_edges_diff": (sum(clique(second)) - sum(clique(first))) // 2,
        "pair_components_diff": len(_components(second)) - len(_components(first)),
    }


def row_features(graphs, question: str, prompt: str, source: str, encoding: str, prompt_tokens: int,
                 leave_out=()) -> dict:
    """Every feature of ``FEATURE_NAMES`` but those in ``leave_out`` (the task's ``answer_features``), rounded
    so that rows rebuild byte for byte."""
    first = graphs[0]
    values = graph_features(first) | question_features(first, question, prompt, source, encoding, prompt_tokens)
    values |= pair_features(first, graphs[1] if len(graphs) > 1 else None)
    return {name: round(float(values[name]), 6) for name in FEATURE_NAMES if name not in set(leave_out)}


def source_family(generator: dict) -> str:
    """The name of the source a hypergraph came from, as its ``params`` record it ("" when they do not)."""
    value = generator.get("source")  # never "structure": that is structure classification's answer
    return value if isinstance(value, str) else ""


__all__ = ["FEATURES_KEY", "FEATURE_NAMES", "GRAPH_FEATURES", "QUESTION_FEATURES", "PAIR_FEATURES",
           "category_code", "graph_features", "asked_items", "question_features", "pair_features", "row_features",
           "source_family"]
