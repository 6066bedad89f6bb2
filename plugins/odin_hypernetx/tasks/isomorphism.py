"""Isomorphism tasks: are two hypergraphs the same up to renaming, and which structure family is a hypergraph."""

from __future__ import annotations

from odin_core import Hypergraph, Question

from ..structures import STRUCTURE_LABELS
from .common import Task, listing, pick_label, yes_no_question
from .matching import DEFAULT_BUDGET, isomorphic_labelled

LABEL_FORMAT = ('List the answer after "Ans:" in the format '
                + ", ".join(f"[{label}]" for label in STRUCTURE_LABELS[:-1]) + f" or [{STRUCTURE_LABELS[-1]}].")


def _profile(graph: Hypergraph) -> tuple:
    """An isomorphism invariant: each hyperedge's member degrees and each vertex's hyperedge sizes, as multisets."""
    degrees = [len(edges) for edges in graph.incidence]
    edge_profile = sorted(tuple(sorted(degrees[v] for v in edge)) for edge in graph.edges)
    vertex_profile = sorted(tuple(sorted(len(graph.edges[i]) for i in edges)) for edges in graph.incidence)
    return edge_profile, vertex_profile


def _quotient(graph: Hypergraph, nx):
    """The incidence graph with repeated hyperedges and twin vertices (same hyperedges) merged into labelled nodes.

    Two hypergraphs are isomorphic exactly when these labelled graphs are; merging
    removes the interchangeable nodes that make a backtracking search blow up.
    """
    multiplicity: dict[tuple[int, ...], int] = {}
    for edge in graph.edges:
        multiplicity[edge] = multiplicity.get(edge, 0) + 1
    unique = {edge: j for j, edge in enumerate(multiplicity)}
    memberships = [[] for _ in graph.names]
    for edge, j in unique.items():
        for v in edge:
            memberships[v].append(j)
    twins: dict[tuple[int, ...], int] = {}
    for member_of in memberships:
        key = tuple(member_of)
        twins[key] = twins.get(key, 0) + 1
    quotient = nx.Graph()
    quotient.add_nodes_from(((("e", j), {"label": ("e", multiplicity[edge])}) for edge, j in unique.items()))
    for k, (member_of, count) in enumerate(twins.items()):
        quotient.add_node(("v", k), label=("v", count))
        quotient.add_edges_from((("v", k), ("e", j)) for j in member_of)
    return quotient


def isomorphic(first: Hypergraph, second: Hypergraph, budget: int | None = None) -> bool | None:
    """Exact test: is there a vertex bijection mapping the hyperedge multiset of ``first`` onto ``second``'s?

    Cheap invariants (sizes, degree profiles) settle most negatives; the rest go to
    individualisation and refinement (``matching``) on the vertex-hyperedge
    incidence graphs, repeated hyperedges and twin vertices merged into labelled
    nodes. With ``budget``, a search that exceeds it answers None (not settled);
    without, it falls back to networkx's VF2 and always answers.
    """
    if first.num_vertices != second.num_vertices or first.num_edges != second.num_edges:
        return False
    if sorted(map(len, first.edges)) != sorted(map(len, second.edges)):
        return False
    if _profile(first) != _profile(second):
        return False
    import networkx as nx

    a, b = _quotient(first, nx), _quotient(second, nx)
    settled = isomorphic_labelled(a, b, budget or DEFAULT_BUDGET)
    if settled is not None or budget is not None:
        return settled
    return nx.is_isomorphic(a, b, node_match=lambda x, y: x["label"] == y["label"])


def _degrees(graph: Hypergraph) -> list[int]:
    return sorted(len(edges) for edges in graph.incidence)


def _clique_expansions_isomorphic(first: Hypergraph, second: Hypergraph) -> bool:
    """Whether the clique expansions are isomorphic, as far as a budgeted search settles it (unsettled: False)."""
    import networkx as nx

    def expansion(graph):
        g = nx.Graph()
        g.add_nodes_from(range(graph.num_vertices), label=0)
        g.add_edges_from((u, v) for u, near in enumerate(graph.neighbours) for v in near if u < v)
        return g

    return bool(isomorphic_labelled(expansion(first), expansion(second)))


def _shuffled(graph: Hypergraph, edges, rng, graph_id: str) -> Hypergraph:
    edges = list(edges)
    rng.shuffle(edges)
    return graph.with_edges(edges, graph_id=graph_id)


def _invariants(graph: Hypergraph) -> list[tuple[str, str]]:
    """The cheap invariants a trace compares, in order, as (name, value): counts, then sorted sizes and degrees."""
    return [("vertices", str(graph.num_vertices)), ("hyperedges", str(graph.num_edges)),
            ("hyperedge sizes", listing(sorted(map(len, graph.edges)))),
            ("vertex degrees", listing(_degrees(graph)))]


def _signatures(graph: Hypergraph) -> dict[tuple[int, ...], int]:
    """How many hyperedges have each multiset of member degrees (the first part of ``_profile``)."""
    degrees = [len(edges) for edges in graph.incidence]
    counts: dict[tuple[int, ...], int] = {}
    for edge in graph.edges:
        key = tuple(sorted(degrees[v] for v in edge))
        counts[key] = counts.get(key, 0) + 1
    return counts


def isomorphism_trace(first: Hypergraph, second: Hypergraph, permutation=None) -> str:
    """The invariants compared, then the renaming (``permutation``: vertex v of G1 is vertex permutation[v] of G2)
    or the first invariant that differs, or, when they all agree, that no renaming exists."""
    alike = []
    for (what, a), (_, b) in zip(_invariants(first), _invariants(second)):
        if a != b:
            head = f"Both have {'; '.join(alike)}; but " if alike else ""
            return f"{head}{what}: G1 {a}, G2 {b}; so no renaming exists."
        alike.append(f"{a} {what}" if what in ("vertices", "hyperedges") else f"{what} {a}")
    head = f"Both have {'; '.join(alike)}."
    if permutation is not None:
        mapping = ", ".join(f"{first.names[v]} to {second.names[permutation[v]]}" for v in range(first.num_vertices))
        return f"{head} Renaming {mapping} turns G1 into G2."
    a, b = _signatures(first), _signatures(second)
    differing = next((key for key in sorted(set(a) | set(b)) if a.get(key, 0) != b.get(key, 0)), None)
    if differing is not None:
        return (f"{head} Hyperedges whose vertices have degrees {listing(differing)}: G1 {a.get(differing, 0)}, "
                f"G2 {b.get(differing, 0)}; so no renaming exists.")
    return f"{head} These agree, but no renaming turns G1 into G2."


#: hyperedges up to which every swappable pair is listed (the draw that frozen sets were built with); above it a
#: pair is drawn by rejection, so a hypergraph of thousands of hyperedges costs no quadratic list
LISTED_PAIRS_UP_TO = 256
#: draws of a random pair, at most, before a large hypergraph counts as having no swappable pair
PAIR_DRAWS = 64


def _swappable(graph: Hypergraph, i: int, j: int) -> bool:
    return bool(set(graph.edges[i]) - set(graph.edges[j]) and set(graph.edges[j]) - set(graph.edges[i]))


def _swappable_pairs(graph: Hypergraph):
    """A function drawing ``(i, j)``, ``i < j``, uniformly among the pairs of hyperedges that each have a vertex
    the other lacks (or None when it finds none), or None when the hypergraph has no such pair."""
    m = graph.num_edges
    if m <= LISTED_PAIRS_UP_TO:
        pairs = [(i, j) for i in range(m) for j in range(i + 1, m) if _swappable(graph, i, j)]
        return (lambda rng: rng.choice(pairs)) if pairs else None
    if m < 2:
        return None

    def draw(rng):
        for _ in range(PAIR_DRAWS):
            i, j = sorted(rng.sample(range(m), 2))
            if _swappable(graph, i, j):
                return i, j
        return None

    return draw


class Isomorphism(Task):
    """Are two hypergraphs isomorphic? (yes/no; negatives share the vertex count and hyperedge sizes)

    Positive: a random relabelling. Negatives, all verified non-isomorphic exactly:
    "degree_preserving" (hard, share ``hard_negatives``): two hyperedges swap a
    vertex each, so every vertex keeps its degree and every hyperedge its size
    (one whose clique expansion is also isomorphic is preferred; ``meta["same_clique_expansion"]``
    is True only when a search settled it), and comparing degrees
    cannot tell; otherwise "rewired" (one vertex of one hyperedge moved) or
    "random" (every hyperedge redrawn with its size, as LLM4Hypergraph).
    ``meta["pair"]`` records which.
    """

    family = "isomorphism"
    answer_kind = "yes_no"
    needs_high_order = True

    def generate(self, graph, rng, want=None):
        if graph.num_edges == 0 or graph.num_vertices < 2:
            return None
        label = pick_label(want, rng)
        n = graph.num_vertices
        meta = {}
        if label:
            permutation = list(range(n))
            rng.shuffle(permutation)
            edges = [tuple(sorted(permutation[v] for v in edge)) for edge in graph.edges]
            pair = "relabelled"
        elif rng.random() < self.hard_negatives:
            found = self._degree_preserving(graph, rng)
            if found is None:
                return None
            edges, same_expansion = found
            pair = "degree_preserving"
            meta["same_clique_expansion"] = same_expansion
        else:
            kinds = ["rewired", "random"]
            rng.shuffle(kinds)
            for pair in kinds:
                edges = self._negative(graph, rng, pair)
                if edges is not None:
                    break
            else:
                return None
        first = _shuffled(graph, graph.edges, rng, graph.graph_id)
        second = _shuffled(graph, edges, rng, f"{graph.graph_id}/G2")
        trace = isomorphism_trace(first, second, permutation if label else None)
        heuristics = {"degree_multiset": _degrees(first) == _degrees(second),
                      "edge_size_multiset": sorted(map(len, first.edges)) == sorted(map(len, second.edges))}
        text = ("Are G1 and G2 isomorphic, that is, can the vertices of G1 be renamed so that its hyperedges "
                "become exactly the hyperedges of G2?")
        return yes_no_question([first, second], text, label, heuristics, trace=trace, pair=pair, **meta)

    @staticmethod
    def _degree_preserving(graph, rng, attempts: int = 24, keep: int = 6):
        """(hyperedges, same clique expansion?) after one vertex swap between two hyperedges, or None."""
        repeats_allowed = len(set(graph.edges)) < graph.num_edges
        pick_pair = _swappable_pairs(graph)
        if pick_pair is None:
            return None
        found = []
        for _ in range(attempts):
            found_pair = pick_pair(rng)
            if found_pair is None:
                break
            i, j = found_pair
            a = rng.choice(sorted(set(graph.edges[i]) - set(graph.edges[j])))
            b = rng.choice(sorted(set(graph.edges[j]) - set(graph.edges[i])))
            edges = list(graph.edges)
            edges[i] = tuple(sorted([v for v in graph.edges[i] if v != a] + [b]))
            edges[j] = tuple(sorted([v for v in graph.edges[j] if v != b] + [a]))
            if not repeats_allowed and len(set(edges)) < len(edges):
                continue
            candidate = graph.with_edges(edges, graph_id="")
            if isomorphic(graph, candidate, budget=DEFAULT_BUDGET) is not False:
                continue  # isomorphic after all, or not settled within the budget
            if _clique_expansions_isomorphic(graph, candidate):
                return edges, True
            found.append(edges)
            if len(found) >= keep:
                break
        return (rng.choice(found), False) if found else None

    @staticmethod
    def _negative(graph, rng, kind, attempts=6):
        n = graph.num_vertices
        repeats_allowed = len(set(graph.edges)) < graph.num_edges
        incidence = graph.incidence
        for _ in range(attempts):
            edges = list(graph.edges)
            if kind == "rewired":
                i = rng.randrange(len(edges))
                edge = edges[i]
                if len(edge) >= n:
                    continue
                out = rng.choice(edge)
                into = rng.randrange(n)
                if into in edge or (len(incidence[out]) == 1 and not incidence[into]):
                    continue  # moving a vertex's only membership to an isolated vertex is a mere renaming
                edges[i] = tuple(sorted([v for v in edge if v != out] + [into]))
            else:
                vertices = range(n)
                edges = [tuple(sorted(rng.sample(vertices, len(edge)))) for edge in edges]
            if not repeats_allowed and len(set(edges)) < len(edges):
                continue
            candidate = graph.with_edges(edges, graph_id="")
            if isomorphic(graph, candidate, budget=DEFAULT_BUDGET) is False:
                return edges
        return None


def _size_rule(graph: Hypergraph) -> str:
    """The shortcut for structure classification: the most common hyperedge size (3, 4, other) names the family."""
    sizes = [len(edge) for edge in graph.edges if len(edge) > 2]
    common = max(set(sizes), key=sizes.count) if sizes else 0
    return {3: STRUCTURE_LABELS[0], 4: STRUCTURE_LABELS[1]}.get(common, STRUCTURE_LABELS[2])


def structure_trace(graph: Hypergraph) -> str:
    """What tells the families apart: the hyperedges of more than 2 vertices, their size, the vertices in all of them.

    ``Hyperedges of more than 2 vertices: 6, of 3 vertices; in all of them: v4, leaving 2 in each.`` A wheel's hub
    is in all of its at least 3 such hyperedges, each of which holds 2 rim vertices besides; no vertex is in all
    of a pyramid's, and a table's shared corner (2 x 2 squares) or side (2 squares) leaves 3 vertices or has fewer
    than 3 hyperedges; then 3 vertices name a pyramid and 4 a table.
    """
    big = [set(edge) for edge in graph.edges if len(edge) > 2]
    if not big:
        return "No hyperedge has more than 2 vertices."
    common = set.intersection(*big)
    sizes = sorted({len(edge) for edge in big})
    shared = listing(graph.names[v] for v in sorted(common))
    if common and len(sizes) == 1:
        shared += f", leaving {sizes[0] - len(common)} in each"
    return (f"Hyperedges of more than 2 vertices: {len(big)}, of {' or '.join(map(str, sizes))} vertices; "
            f"in all of them: {shared}.")


class StructureClassification(Task):
    """Name the structure family of a hypergraph from the ``hypernetx.structures`` source.

    Only hypergraphs whose ``params["structure"]`` names their family are asked
    about (others give no question), so the row's graph id and key describe the
    hypergraph in the prompt and frozen-set exclusion applies to it.
    """

    family = "isomorphism"
    answer_kind = "label"
    needs_high_order = True

    def generate(self, graph, rng, want=None):
        label = graph.params.get("structure") if graph.params else None
        if label not in STRUCTURE_LABELS:
            return None
        text = ("Which structure does G have? A hyper pyramid stacks hyperedges of 3 vertices as triangles; "
                "a hyper checked table lays hyperedges of 4 vertices out as the squares of a grid; "
                "in a hyper wheel every hyperedge holds the same hub vertices plus two neighbouring vertices of a rim. "
                "Any hyperedge of 2 vertices is a decoration hanging off the structure. "
                f"{LABEL_FORMAT}")
        heuristics = {"first_option": STRUCTURE_LABELS[0], "hyperedge_size": _size_rule(graph)}
        return Question([graph], text, self.answer_kind, label, {"heuristics": heuristics},
                        rationale=structure_trace(graph))
