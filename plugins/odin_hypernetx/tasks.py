"""The task suite: LLM4Hypergraph's 15 tasks plus hyperedge prediction.

Each class follows ``odin_core.protocols.Task``: ``generate(graph, rng, want)``
returns a ``Question`` whose ``answer`` is the structured value that
``odin_core.answers.format_answer`` writes, or ``None`` when the graph offers
no such question (or none with the wanted yes/no label).

Semantics follow LLM4Hypergraph's code (see ``shared/ANCHORS.md``), with its
flaws fixed:

- a task whose answer depends on hyperedges rather than on the clique expansion
  sets ``needs_high_order`` (vertex degree counts hyperedges, so it does too),
  so it is never paired with a low-order encoding;
- yes/no tasks honour ``want`` so the builder can balance labels;
- query vertices are drawn from vertices that share a hyperedge with some other
  vertex; an isolated vertex only appears where no other choice gives the label;
- vertex degree and hyperedge degree draw their subject so that each degree the
  graph has is equally likely, so the most common answer is a weaker baseline;
- isomorphism negatives are verified with an exact test and both graphs of a
  pair have their hyperedge order shuffled.

Policies: hyperedges are sets (duplicate vertices are dropped when a
``Hypergraph`` is built); size-1 hyperedges count for vertex degree, hyperedge
count and hyperedge degree but connect nothing; repeated hyperedges count as
separate hyperedges and are never a *proper* subset of each other.
"""

from __future__ import annotations

from odin_core import NEGATIVE_SCHEMES, Hypergraph, Question

from .structures import STRUCTURE_LABELS, random_structure

COUNT_FORMAT = 'List the answer after "Ans:" in the format [number].'
YES_NO_FORMAT = 'List the answer after "Ans:" in the format [Yes] or [No].'
SET_FORMAT = ('List the answer after "Ans:" as a comma-separated list of vertices in order inside brackets, '
              "or [] if there are none.")
PATH_FORMAT = 'List the answer after "Ans:" in the format [number], or [no path] if there is none.'
LABEL_FORMAT = ('List the answer after "Ans:" in the format '
                + ", ".join(f"[{label}]" for label in STRUCTURE_LABELS[:-1]) + f" or [{STRUCTURE_LABELS[-1]}].")

#: largest vertex set asked about in the vertex-set tasks
MAX_QUERY_SET = 4
#: when only an isolated vertex can give a "No", decline this share of the time (the builder takes another
#: hypergraph), so that "No" questions are not dominated by isolated vertices
ISOLATED_FALLBACK_SKIP = 0.5


# --- helpers -------------------------------------------------------------


def _set_text(graph: Hypergraph, vertices) -> str:
    return "{" + ", ".join(graph.names[v] for v in sorted(vertices)) + "}"


def _names(graph: Hypergraph, vertices) -> list[str]:
    """Vertex names sorted by vertex id: the structured form of a vertex_set answer."""
    return [graph.names[v] for v in sorted(vertices)]


def _active_vertices(graph: Hypergraph) -> list[int]:
    """Vertices that share a hyperedge with at least one other vertex."""
    return [v for v, near in enumerate(graph.neighbours) if near]


def _label(want, rng) -> bool:
    return want if want is not None else rng.random() < 0.5


def _hops(graph: Hypergraph, source: int) -> dict[int, int]:
    """Breadth-first search in the clique expansion: hops from ``source`` to every vertex it reaches."""
    neighbours = graph.neighbours
    hops = {source: 0}
    frontier = [source]
    depth = 0
    while frontier:
        depth += 1
        following = []
        for x in frontier:
            for y in neighbours[x]:
                if y not in hops:
                    hops[y] = depth
                    following.append(y)
        frontier = following
    return hops


def _stratified(rng, items: list, key):
    """One of ``items``, each value of ``key`` equally likely: answers spread out, the majority baseline drops."""
    groups: dict = {}
    for item in items:
        groups.setdefault(key(item), []).append(item)
    return rng.choice(rng.choice(list(groups.values())))


def _in_one_hyperedge(graph: Hypergraph, vertices) -> bool:
    """Whether a single hyperedge contains all of ``vertices`` (non-empty)."""
    incidence = graph.incidence
    it = iter(vertices)
    common = incidence[next(it)]
    for v in it:
        common = common & incidence[v]
        if not common:
            return False
    return bool(common)


def _vertex_set(graph: Hypergraph, rng, contained: bool, attempts: int = 12) -> list[int] | None:
    """A vertex set of 2..MAX_QUERY_SET vertices that one hyperedge contains (or, if not ``contained``, none does).

    Both kinds start from a subset of a real hyperedge; a negative then swaps one
    vertex, first for a vertex near the rest (hard), later for any vertex.
    """
    big = [e for e in graph.edges if len(e) >= 2]
    if not big:
        return None
    if contained:
        edge = rng.choice(big)
        return rng.sample(edge, rng.randint(2, min(len(edge), MAX_QUERY_SET)))
    neighbours = graph.neighbours
    n = graph.num_vertices
    for attempt in range(attempts):
        edge = rng.choice(big)
        chosen = rng.sample(edge, rng.randint(2, min(len(edge), MAX_QUERY_SET)))
        out = rng.randrange(len(chosen))
        rest = chosen[:out] + chosen[out + 1 :]
        if attempt < attempts // 2:  # within two hops of the rest: a near miss
            near = sorted(neighbours[rng.choice(rest)])
            step = rng.choice(near)
            far = sorted(neighbours[step])
            candidate = rng.choice(far) if far and rng.random() < 0.5 else step
        else:
            candidate = rng.randrange(n)
        if candidate in chosen:
            continue
        query = rest + [candidate]
        if not _in_one_hyperedge(graph, query):
            return query
    return None


def _without_edge(graph: Hypergraph, index: int) -> Hypergraph:
    """``graph`` with hyperedge ``index`` removed (all vertices kept)."""
    return Hypergraph(graph.names, graph.edges[:index] + graph.edges[index + 1 :], graph.graph_id, graph.params)


class _Task:
    """Base of the tasks below: they take no options (``options`` is kept for the component factory call)."""

    def __init__(self, options=None):
        self.options = options


# --- low-order tasks -----------------------------------------------------


class VertexCount(_Task):
    """Count the vertices of the hypergraph, isolated ones included."""

    family = "low_order"
    answer_kind = "count"
    needs_high_order = False

    def generate(self, graph, rng, want=None):
        if graph.num_vertices == 0:
            return None
        return Question([graph], f"How many vertices does G have? {COUNT_FORMAT}", self.answer_kind, graph.num_vertices)


class HyperedgeCount(_Task):
    """Count the hyperedges of the hypergraph (the prompt's opening line names them)."""

    family = "low_order"
    answer_kind = "count"
    needs_high_order = False

    def generate(self, graph, rng, want=None):
        if graph.num_edges == 0:
            return None
        return Question([graph], f"How many hyperedges does G have? {COUNT_FORMAT}", self.answer_kind, graph.num_edges)


class VertexDegree(_Task):
    """Count the hyperedges that contain a vertex (its degree; not its number of neighbours)."""

    family = "low_order"
    answer_kind = "count"
    needs_high_order = True  # the clique expansion does not show how many hyperedges hold a vertex

    def generate(self, graph, rng, want=None):
        members = [v for v, edges in enumerate(graph.incidence) if edges]
        if not members:
            return None
        v = _stratified(rng, members, lambda w: len(graph.incidence[w]))
        text = f"What is the degree of vertex {graph.names[v]}, that is, how many hyperedges contain it? {COUNT_FORMAT}"
        return Question([graph], text, self.answer_kind, len(graph.incidence[v]))


class VertexConnection(_Task):
    """Do two vertices share a hyperedge? (yes/no)"""

    family = "low_order"
    answer_kind = "yes_no"
    needs_high_order = False

    def generate(self, graph, rng, want=None):
        active = _active_vertices(graph)
        if len(active) < 2:
            return None
        neighbours = graph.neighbours
        if want is None:
            u, v = rng.sample(active, 2)
        elif want:
            u = rng.choice(active)
            v = rng.choice(sorted(neighbours[u]))
        else:
            pair = self._unconnected_pair(graph, active, rng)
            if pair is None:
                return None
            u, v = pair
        if rng.random() < 0.5:
            u, v = v, u
        text = (f"Is vertex {graph.names[u]} connected to vertex {graph.names[v]}, that is, do they share a hyperedge? "
                f"{YES_NO_FORMAT}")
        return Question([graph], text, self.answer_kind, v in neighbours[u])

    @staticmethod
    def _unconnected_pair(graph, active, rng):
        neighbours = graph.neighbours
        order = active[:]
        rng.shuffle(order)
        for u in order:  # the first vertex tried almost always has a non-neighbour
            if len(neighbours[u]) < len(active) - 1:
                return u, rng.choice([w for w in active if w != u and w not in neighbours[u]])
        # the active vertices form one clique: only isolated vertices are unconnected
        if rng.random() < ISOLATED_FALLBACK_SKIP:
            return None
        u = rng.choice(active)
        isolated = [w for w, near in enumerate(neighbours) if not near]
        return (u, rng.choice(isolated)) if isolated else None


class ConnectedVertices(_Task):
    """List the vertices that share a hyperedge with a vertex."""

    family = "low_order"
    answer_kind = "vertex_set"
    needs_high_order = False

    def generate(self, graph, rng, want=None):
        if graph.num_vertices == 0:
            return None
        active = _active_vertices(graph)
        v = rng.choice(active) if active else rng.randrange(graph.num_vertices)
        text = f"Which vertices share a hyperedge with vertex {graph.names[v]}? {SET_FORMAT}"
        return Question([graph], text, self.answer_kind, _names(graph, graph.neighbours[v]))


class DisconnectedVertices(_Task):
    """List the vertices that share no hyperedge with a vertex (the vertex itself excluded)."""

    family = "low_order"
    answer_kind = "vertex_set"
    needs_high_order = False

    def generate(self, graph, rng, want=None):
        if graph.num_vertices == 0:
            return None
        active = _active_vertices(graph)
        v = rng.choice(active) if active else rng.randrange(graph.num_vertices)
        near = graph.neighbours[v]
        answer = [graph.names[w] for w in range(graph.num_vertices) if w != v and w not in near]
        name = graph.names[v]
        text = f"Which vertices share no hyperedge with vertex {name} ({name} itself excluded)? {SET_FORMAT}"
        return Question([graph], text, self.answer_kind, answer)


class ShortestPath(_Task):
    """Length of the shortest path between two vertices, one hop per shared hyperedge ("no path" if none)."""

    family = "low_order"
    answer_kind = "path_length"
    needs_high_order = False

    def generate(self, graph, rng, want=None):
        active = _active_vertices(graph)
        if len(active) < 2:
            return None
        u, v = rng.sample(active, 2)
        hops = _hops(graph, u)
        text = (f"What is the length of the shortest path from vertex {graph.names[u]} to vertex {graph.names[v]}, "
                f"where each step moves between two vertices that share a hyperedge? {PATH_FORMAT}")
        return Question([graph], text, self.answer_kind, hops.get(v))


class Reachability(_Task):
    """Can one vertex be reached from another through shared hyperedges? (yes/no)"""

    family = "low_order"
    answer_kind = "yes_no"
    needs_high_order = False

    def generate(self, graph, rng, want=None):
        active = _active_vertices(graph)
        if len(active) < 2:
            return None
        if want is None:
            u, v = rng.sample(active, 2)
            answer = v in _hops(graph, u)
        else:
            u = rng.choice(active)
            component = _hops(graph, u)
            if want:
                v = rng.choice([w for w in component if w != u])
            else:
                outside = [w for w in active if w not in component]
                if not outside:  # one component holds every active vertex: only isolated ones are unreachable
                    if rng.random() < ISOLATED_FALLBACK_SKIP:
                        return None
                    outside = [w for w in range(graph.num_vertices) if w not in component]
                if not outside:
                    return None
                v = rng.choice(outside)
            answer = want
        text = (f"Can vertex {graph.names[v]} be reached from vertex {graph.names[u]} by moving between vertices "
                f"that share a hyperedge? {YES_NO_FORMAT}")
        return Question([graph], text, self.answer_kind, answer)


# --- high-order tasks ----------------------------------------------------


class HyperedgeDegree(_Task):
    """Count the vertices of a hyperedge (its size)."""

    family = "high_order"
    answer_kind = "count"
    needs_high_order = True

    def generate(self, graph, rng, want=None):
        if graph.num_edges == 0:
            return None
        i = _stratified(rng, range(graph.num_edges), lambda j: len(graph.edges[j]))
        text = f"What is the degree of hyperedge e{i}, that is, how many vertices does it contain? {COUNT_FORMAT}"
        return Question([graph], text, self.answer_kind, len(graph.edges[i]))


class VertexSetConnection(_Task):
    """Are two disjoint vertex sets connected, i.e. does one hyperedge contain both? (yes/no)"""

    family = "high_order"
    answer_kind = "yes_no"
    needs_high_order = True

    def generate(self, graph, rng, want=None):
        label = _label(want, rng)
        chosen = _vertex_set(graph, rng, contained=label)
        if chosen is None:
            return None
        rng.shuffle(chosen)
        cut = rng.randint(1, len(chosen) - 1)
        first, second = _set_text(graph, chosen[:cut]), _set_text(graph, chosen[cut:])
        text = (f"Is the vertex set {first} connected to the vertex set {second}, that is, does a single hyperedge "
                f"contain all of these vertices? {YES_NO_FORMAT}")
        return Question([graph], text, self.answer_kind, label)


class VertexSetInHyperedge(_Task):
    """Is a vertex set contained in a single hyperedge? (yes/no)"""

    family = "high_order"
    answer_kind = "yes_no"
    needs_high_order = True

    def generate(self, graph, rng, want=None):
        label = _label(want, rng)
        chosen = _vertex_set(graph, rng, contained=label)
        if chosen is None:
            return None
        text = f"Is the vertex set {_set_text(graph, chosen)} contained in a single hyperedge? {YES_NO_FORMAT}"
        return Question([graph], text, self.answer_kind, label)


def has_nested_hyperedge(graph: Hypergraph) -> bool:
    """Whether some hyperedge is a proper subset of another (repeated hyperedges do not count)."""
    incidence = graph.incidence
    for edge in graph.edges:
        if not edge:
            if any(graph.edges):
                return True
            continue
        common = incidence[edge[0]]
        for v in edge[1:]:
            common = common & incidence[v]
        size = len(edge)
        if any(len(graph.edges[j]) > size for j in common):
            return True
    return False


class HyperedgeInHyperedge(_Task):
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
        text = f"Is any hyperedge of G contained in another hyperedge that has more vertices? {YES_NO_FORMAT}"
        return Question([graph], text, self.answer_kind, answer)


class SharedVertices(_Task):
    """List the vertices two hyperedges share."""

    family = "high_order"
    answer_kind = "vertex_set"
    needs_high_order = True

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
        text = f"Which vertices do hyperedges e{i} and e{j} share? {SET_FORMAT}"
        return Question([graph], text, self.answer_kind, _names(graph, shared))


# --- isomorphism ---------------------------------------------------------


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


def isomorphic(first: Hypergraph, second: Hypergraph) -> bool:
    """Exact test: is there a vertex bijection mapping the hyperedge multiset of ``first`` onto ``second``'s?

    Cheap invariants (sizes, degree profiles) settle most negatives; the rest go to
    networkx (VF2++) on the vertex-hyperedge incidence graphs, the two sides kept
    apart by node labels.
    """
    if first.num_vertices != second.num_vertices or first.num_edges != second.num_edges:
        return False
    if sorted(map(len, first.edges)) != sorted(map(len, second.edges)):
        return False
    if _profile(first) != _profile(second):
        return False
    import networkx as nx

    return nx.vf2pp_is_isomorphic(_quotient(first, nx), _quotient(second, nx), node_label="label")


def _shuffled(graph: Hypergraph, edges, rng, graph_id: str) -> Hypergraph:
    edges = list(edges)
    rng.shuffle(edges)
    return Hypergraph(graph.names, tuple(edges), graph_id, graph.params)


class Isomorphism(_Task):
    """Are two hypergraphs isomorphic? (yes/no; negatives share the vertex count and hyperedge sizes)

    Positive: a random relabelling. Negative: either one vertex of one hyperedge
    swapped ("rewired", hard) or every hyperedge redrawn at random with its size
    kept ("random", as LLM4Hypergraph); both verified non-isomorphic exactly.
    ``meta["pair"]`` records which.
    """

    family = "isomorphism"
    answer_kind = "yes_no"
    needs_high_order = True

    def generate(self, graph, rng, want=None):
        if graph.num_edges == 0 or graph.num_vertices < 2:
            return None
        label = _label(want, rng)
        n = graph.num_vertices
        if label:
            permutation = list(range(n))
            rng.shuffle(permutation)
            edges = [tuple(sorted(permutation[v] for v in edge)) for edge in graph.edges]
            pair = "relabelled"
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
        text = (f"Are G1 and G2 isomorphic, that is, can the vertices of G1 be renamed so that its hyperedges "
                f"become exactly the hyperedges of G2? {YES_NO_FORMAT}")
        return Question([first, second], text, self.answer_kind, label, {"pair": pair})

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
            candidate = Hypergraph(graph.names, tuple(edges))
            if not isomorphic(graph, candidate):
                return edges
        return None


class StructureClassification(_Task):
    """Name the structure family of a generated hypergraph: hyper pyramid, hyper checked table or hyper wheel."""

    family = "isomorphism"
    answer_kind = "label"
    needs_high_order = True

    def generate(self, graph, rng, want=None):
        label = rng.choice(STRUCTURE_LABELS)
        structure = random_structure(label, rng, graph_id=f"{graph.graph_id}/structure")
        text = ("Which structure does G have? A hyper pyramid stacks hyperedges of 3 vertices as triangles; "
                "a hyper checked table lays hyperedges of 4 vertices out as the squares of a grid; "
                "in a hyper wheel every hyperedge holds the same hub vertices plus two neighbouring vertices of a rim. "
                f"{LABEL_FORMAT}")
        return Question([structure], text, self.answer_kind, label)


# --- hyperedge prediction ------------------------------------------------


class HyperedgeCompletion(_Task):
    """Name the missing vertices of a removed hyperedge, given its size and some of its vertices."""

    family = "hyperedge_prediction"
    answer_kind = "vertex_set"
    needs_high_order = True

    def generate(self, graph, rng, want=None):
        candidates = [i for i, edge in enumerate(graph.edges) if len(edge) >= 3]
        if not candidates:
            return None
        i = rng.choice(candidates)
        edge = graph.edges[i]
        shown = rng.sample(edge, rng.randint(2, len(edge) - 1))
        missing = set(edge).difference(shown)
        shown_names = [graph.names[v] for v in sorted(shown)]
        shown_text = ", ".join(shown_names[:-1]) + " and " + shown_names[-1]
        text = (f"One hyperedge was removed from G. It had {len(edge)} vertices, among them {shown_text}. "
                f"Which are its other vertices? {SET_FORMAT}")
        return Question([_without_edge(graph, i)], text, self.answer_kind, _names(graph, missing),
                        {"hyperedge_size": len(edge), "shown": len(shown)})




class HyperedgeDiscrimination(_Task):
    """Is a vertex set the hyperedge removed from the hypergraph? (yes/no; negatives by SNS, MNS or CNS)

    Every question removes one real hyperedge (size >= 2, not repeated) from the
    shown graph. The candidate is that hyperedge, or a negative of the same size:
    SNS random vertices; MNS a connected set grown in the shown graph's clique
    expansion; CNS the removed hyperedge with one vertex swapped for a vertex
    adjacent to all the others (Patil et al. 2020). Negatives are never real
    hyperedges. ``meta["negative_scheme"]`` is the scheme, or "positive".
    """

    family = "hyperedge_prediction"
    answer_kind = "yes_no"
    needs_high_order = True

    def generate(self, graph, rng, want=None):
        counts: dict[tuple[int, ...], int] = {}
        for edge in graph.edges:
            counts[edge] = counts.get(edge, 0) + 1
        candidates = [i for i, edge in enumerate(graph.edges) if len(edge) >= 2 and counts[edge] == 1]
        if not candidates:
            return None
        i = rng.choice(candidates)
        removed = graph.edges[i]
        shown = _without_edge(graph, i)
        label = _label(want, rng)
        if label:
            candidate, scheme = removed, "positive"
        else:
            schemes = list(NEGATIVE_SCHEMES)
            rng.shuffle(schemes)
            for scheme in schemes:
                candidate = getattr(self, f"_{scheme.lower()}")(shown, removed, rng)
                if candidate is not None and candidate not in counts:
                    break
            else:
                return None
        text = (f"One hyperedge was removed from G. Is the vertex set {_set_text(graph, candidate)} that hyperedge? "
                f"{YES_NO_FORMAT}")
        return Question([shown], text, self.answer_kind, label, {"negative_scheme": scheme})

    @staticmethod
    def _sns(shown, removed, rng):
        return tuple(sorted(rng.sample(range(shown.num_vertices), len(removed))))

    @staticmethod
    def _mns(shown, removed, rng):
        active = _active_vertices(shown)
        if not active:
            return None
        neighbours = shown.neighbours
        chosen = {rng.choice(active)}
        frontier = set(neighbours[next(iter(chosen))])
        while len(chosen) < len(removed):
            frontier -= chosen
            if not frontier:
                return None
            v = rng.choice(sorted(frontier))
            chosen.add(v)
            frontier |= neighbours[v]
        return tuple(sorted(chosen))

    @staticmethod
    def _cns(shown, removed, rng):
        neighbours = shown.neighbours
        order = list(removed)
        rng.shuffle(order)
        for out in order:
            rest = [v for v in removed if v != out]
            common = set(neighbours[rest[0]])
            for v in rest[1:]:
                common &= neighbours[v]
            common.difference_update(removed)
            if common:
                return tuple(sorted(rest + [rng.choice(sorted(common))]))
        return None


TASKS: dict[str, type] = {
    "vertex_count": VertexCount,
    "hyperedge_count": HyperedgeCount,
    "vertex_degree": VertexDegree,
    "vertex_connection": VertexConnection,
    "connected_vertices": ConnectedVertices,
    "disconnected_vertices": DisconnectedVertices,
    "shortest_path": ShortestPath,
    "reachability": Reachability,
    "hyperedge_degree": HyperedgeDegree,
    "vertex_set_connection": VertexSetConnection,
    "vertex_set_in_hyperedge": VertexSetInHyperedge,
    "hyperedge_in_hyperedge": HyperedgeInHyperedge,
    "shared_vertices": SharedVertices,
    "isomorphism": Isomorphism,
    "structure_classification": StructureClassification,
    "hyperedge_completion": HyperedgeCompletion,
    "hyperedge_discrimination": HyperedgeDiscrimination,
}
