"""High-order tasks: questions only the hyperedges answer (sizes, containment, shared vertices)."""

from __future__ import annotations

from odin_core import Question

from .common import (
    COUNT_FORMAT,
    SET_FORMAT,
    Task,
    containment_trace,
    edge_name,
    in_one_hyperedge,
    listing,
    names,
    pairwise_covered,
    pick_label,
    set_text,
    stratified,
    tally,
    yes_no_question,
)

#: sizes of the vertex sets asked about: at least 3, since for two vertices "in one hyperedge" and
#: "every pair shares a hyperedge" are the same question and the clique expansion would answer it
MIN_QUERY_SET = 3
MAX_QUERY_SET = 4
#: cliques of the clique expansion listed before one is drawn (bounds the work on large hypergraphs)
CLIQUE_LIMIT = 512


class HyperedgeDegree(Task):
    """Count the vertices of a hyperedge (its size)."""

    family = "high_order"
    answer_kind = "count"
    needs_high_order = True
    answer_features = ("asked_edge_size_min", "asked_edge_size_max")

    def generate(self, graph, rng, want=None):
        if graph.num_edges == 0:
            return None
        i = stratified(rng, range(graph.num_edges), lambda j: len(graph.edges[j]))
        text = f"What is the degree of hyperedge {edge_name(graph, i)}, that is, how many vertices does it contain? {COUNT_FORMAT}"
        trace = f"{edge_name(graph, i)} holds {tally(graph.names[v] for v in graph.edges[i])}."
        return Question([graph], text, self.answer_kind, len(graph.edges[i]), rationale=trace)


def uncovered_cliques(graph, size: int, rng, limit: int = CLIQUE_LIMIT) -> list[tuple[int, ...]]:
    """Vertex sets of ``size`` whose every pair shares a hyperedge but which no single hyperedge contains.

    These are the negatives a pairwise rule gets wrong. Search starts from the
    vertices in random order, so the ``limit`` cut does not favour low ids.
    """
    neighbours = graph.neighbours
    found: list[tuple[int, ...]] = []

    def extend(clique: list[int], candidates: set[int]) -> bool:
        if len(clique) == size:
            if not in_one_hyperedge(graph, clique):
                found.append(tuple(sorted(clique)))
            return len(found) >= limit
        for w in sorted(candidates):
            if extend(clique + [w], {x for x in candidates & neighbours[w] if x > w}):
                return True
        return False

    order = list(range(graph.num_vertices))
    rng.shuffle(order)
    for v in order:
        if extend([v], {x for x in neighbours[v] if x > v}):
            break
    return found


def _ordinary_negative(graph, rng, size: int, attempts: int = 12) -> list[int] | None:
    """A near miss: part of a real hyperedge plus vertices near it, held by no single hyperedge."""
    big = [e for e in graph.edges if len(e) >= 2]
    neighbours = graph.neighbours
    for attempt in range(attempts):
        edge = rng.choice(big)
        chosen = rng.sample(edge, min(len(edge), size - 1))
        while len(chosen) < size:
            if attempt < attempts // 2:  # within two hops of the rest
                step = rng.choice(sorted(neighbours[rng.choice(chosen)]))
                far = sorted(neighbours[step])
                candidate = rng.choice(far) if far and rng.random() < 0.5 else step
            else:
                candidate = rng.randrange(graph.num_vertices)
            if candidate in chosen:
                break
            chosen.append(candidate)
        if len(chosen) == size and not in_one_hyperedge(graph, chosen):
            return chosen
    return None


def vertex_set(graph, rng, contained: bool, hard_share: float) -> tuple[list[int], str] | None:
    """(vertex set, kind) for the vertex-set tasks, or None when ``graph`` has none of the wanted kind.

    The size (3 or 4) is drawn before the label, so it says nothing about the
    answer. kind: "positive", "pairwise_covered" (a hard negative: every pair
    shares a hyperedge, no hyperedge holds them all) or "ordinary". Every kind is
    asked only of hypergraphs that offer both a hyperedge of that size and a hard
    negative: the builder's retries then cannot shift the share of hard negatives,
    and what the hypergraph looks like says nothing about the label.
    """
    size = rng.randint(MIN_QUERY_SET, MAX_QUERY_SET)
    holders = [e for e in graph.edges if len(e) >= size]
    if not holders:
        return None
    cliques = uncovered_cliques(graph, size, rng)
    if not cliques:
        return None
    if contained:
        return rng.sample(rng.choice(holders), size), "positive"
    if rng.random() < hard_share:
        chosen = list(rng.choice(cliques))
        rng.shuffle(chosen)
        return chosen, "pairwise_covered"
    chosen = _ordinary_negative(graph, rng, size)
    if chosen is None:
        return None
    return chosen, "pairwise_covered" if pairwise_covered(graph, chosen) else "ordinary"


class _VertexSetTask(Task):
    """Shared by the two vertex-set tasks: draw a set (``vertex_set``), then ask about it as ``ask`` words it."""

    family = "high_order"
    answer_kind = "yes_no"
    needs_high_order = True

    def generate(self, graph, rng, want=None):
        label = pick_label(want, rng)
        drawn = vertex_set(graph, rng, contained=label, hard_share=self.hard_negatives)
        if drawn is None:
            return None
        chosen, kind = drawn
        text, order = self.ask(graph, rng, chosen)
        return yes_no_question([graph], text, label, {"pairwise_cover": pairwise_covered(graph, chosen)},
                               trace=containment_trace(graph, order), query=kind)

    def ask(self, graph, rng, chosen) -> tuple[str, list[int]]:
        """(question text, the vertices in the order the question lists them)."""
        raise NotImplementedError


class VertexSetConnection(_VertexSetTask):
    """Are two disjoint vertex sets connected, i.e. does one hyperedge contain both? (yes/no)

    Hard negatives (option ``hard_negatives``): every pair of the vertices shares
    a hyperedge, but no single one holds them all.
    """

    def ask(self, graph, rng, chosen):
        rng.shuffle(chosen)
        cut = rng.randint(1, len(chosen) - 1)
        first, second = set_text(graph, chosen[:cut]), set_text(graph, chosen[cut:])
        text = (f"Is the vertex set {first} connected to the vertex set {second}, that is, does a single hyperedge "
                f"contain all of these vertices?")
        return text, sorted(chosen[:cut]) + sorted(chosen[cut:])


class VertexSetInHyperedge(_VertexSetTask):
    """Is a vertex set contained in a single hyperedge? (yes/no; hard negatives as in ``VertexSetConnection``)"""

    def ask(self, graph, rng, chosen):
        return f"Is the vertex set {set_text(graph, chosen)} contained in a single hyperedge?", sorted(chosen)


def larger_holders(graph, i: int):
    """The hyperedges that hold hyperedge ``i`` and have more vertices: those in the incidence of all its
    vertices (every hyperedge, for an empty one), so a large hypergraph is not compared pair by pair."""
    edge = graph.edges[i]
    if edge:
        common = graph.incidence[edge[0]]
        for v in edge[1:]:
            common = common & graph.incidence[v]
    else:
        common = range(graph.num_edges)
    return (j for j in common if len(graph.edges[j]) > len(edge))


def has_nested_hyperedge(graph) -> bool:
    """Whether some hyperedge is a proper subset of another (repeated hyperedges do not count)."""
    return any(next(larger_holders(graph, i), None) is not None for i in range(graph.num_edges))


def nesting_trace(graph) -> str:
    """Each hyperedge in turn with a larger hyperedge holding it, up to the first that has one.

    ``e0 in none, e1 in none, e2 in e5.`` or ``e0 in none, e1 in none; none lies in a larger one.``
    """
    parts = []
    for i in range(graph.num_edges):
        holder = min(larger_holders(graph, i), default=None)
        if holder is not None:
            parts.append(f"{edge_name(graph, i)} in {edge_name(graph, holder)}")
            return ", ".join(parts) + "."
        parts.append(f"{edge_name(graph, i)} in none")
    return ", ".join(parts) + "; none lies in a larger one."


class HyperedgeInHyperedge(Task):
    """Is some hyperedge contained in another, larger one? (yes/no, one question per hypergraph)"""

    family = "high_order"
    answer_kind = "yes_no"
    needs_high_order = True

    def generate(self, graph, rng, want=None):
        if graph.num_edges < 2:
            return None
        answer = has_nested_hyperedge(graph)
        if want is not None and answer != want:
            return None
        return yes_no_question([graph], "Is any hyperedge of G contained in another hyperedge that has more vertices?",
                               answer, trace=nesting_trace(graph))


class SharedVertices(Task):
    """List the vertices two hyperedges share."""

    family = "high_order"
    answer_kind = "vertex_set"
    needs_high_order = True
    answer_features = ("asked_edges_overlap",)

    def generate(self, graph, rng, want=None):
        m = graph.num_edges
        if m < 2:
            return None
        # Random pairs are mostly disjoint; three times in four ask about a pair that overlaps.
        hubs = [v for v, edges in enumerate(graph.incidence) if len(edges) >= 2]
        if hubs and rng.random() < 0.75:
            i, j = rng.sample(sorted(graph.incidence[rng.choice(hubs)]), 2)
        else:
            i, j = rng.sample(range(m), 2)
        shared = set(graph.edges[i]).intersection(graph.edges[j])
        text = f"Which vertices do hyperedges {edge_name(graph, i)} and {edge_name(graph, j)} share? {SET_FORMAT}"
        trace = "; ".join(f"{edge_name(graph, k)} holds {listing(names(graph, graph.edges[k]))}" for k in (i, j)) + "."
        return Question([graph], text, self.answer_kind, names(graph, shared), rationale=trace)
