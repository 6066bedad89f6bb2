"""Low-order tasks: counts, vertex connections, paths and reachability (the clique expansion decides most)."""

from __future__ import annotations

from odin_core import Question

from .common import (
    COUNT_FORMAT,
    PATH_FORMAT,
    SET_FORMAT,
    Task,
    active_vertices,
    bfs_trace,
    edge_name,
    hops,
    listing,
    names,
    stratified,
    tally,
    yes_no_question,
)


def _isolated_rule(graph, u: int, v: int) -> bool:
    """The shortcut for connection questions: "No" exactly when a queried vertex is in no hyperedge."""
    return bool(graph.incidence[u]) and bool(graph.incidence[v])


def partition_trace(graph, v: int) -> str:
    """Every other vertex sorted by whether it shares a hyperedge with ``v``: ``v3 pairs with v0, v5; unpaired: v1.``"""
    near = graph.neighbours[v]
    others = [w for w in range(graph.num_vertices) if w != v]
    paired = listing(graph.names[w] for w in others if w in near)
    unpaired = listing(graph.names[w] for w in others if w not in near)
    return f"{graph.names[v]} pairs with {paired}; unpaired: {unpaired}."


class VertexCount(Task):
    """Count the vertices of the hypergraph, isolated ones included."""

    family = "low_order"
    answer_kind = "count"
    needs_high_order = False
    # the count itself and every ratio that gives it back with another feature (m / (m/n), sum of sizes / mean)
    answer_features = ("vertices", "hyperedges_per_vertex", "degree_mean", "largest_component_share", "clique_density",
                       "clique_degree_mean")

    def generate(self, graph, rng, want=None):
        if graph.num_vertices == 0:
            return None
        trace = f"Vertices: {tally(graph.names)}."
        return Question([graph], f"How many vertices does G have? {COUNT_FORMAT}", self.answer_kind, graph.num_vertices,
                        rationale=trace)


class HyperedgeCount(Task):
    """Count the hyperedges of the hypergraph (the prompt's opening line names them)."""

    family = "low_order"
    answer_kind = "count"
    needs_high_order = False
    answer_features = ("hyperedges", "hyperedges_per_vertex", "edge_size_mean", "edge_size_2_share", "degree_mean",
                       "repeated_edges")

    def generate(self, graph, rng, want=None):
        if graph.num_edges == 0:
            return None
        trace = f"Hyperedges: {tally(graph.edge_names)}."
        return Question([graph], f"How many hyperedges does G have? {COUNT_FORMAT}", self.answer_kind, graph.num_edges,
                        rationale=trace)


class VertexDegree(Task):
    """Count the hyperedges that contain a vertex (its degree; not its number of neighbours)."""

    family = "low_order"
    answer_kind = "count"
    needs_high_order = True  # the clique expansion does not show how many hyperedges hold a vertex
    answer_features = ("asked_degree_min", "asked_degree_max")

    def generate(self, graph, rng, want=None):
        members = [v for v, edges in enumerate(graph.incidence) if edges]
        if not members:
            return None
        v = stratified(rng, members, lambda w: len(graph.incidence[w]))
        text = f"What is the degree of vertex {graph.names[v]}, that is, how many hyperedges contain it? {COUNT_FORMAT}"
        trace = f"Hyperedges with {graph.names[v]}: {tally(edge_name(graph, i) for i in sorted(graph.incidence[v]))}."
        return Question([graph], text, self.answer_kind, len(graph.incidence[v]), rationale=trace)


class VertexConnection(Task):
    """Do two vertices share a hyperedge? (yes/no; both vertices are always in some hyperedge)"""

    family = "low_order"
    answer_kind = "yes_no"
    needs_high_order = False
    answer_features = ("asked_pair_coverage",)

    def generate(self, graph, rng, want=None):
        active = active_vertices(graph)
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
            if pair is None:  # the active vertices form one clique: ask another hypergraph
                return None
            u, v = pair
        if rng.random() < 0.5:
            u, v = v, u
        text = f"Is vertex {graph.names[u]} connected to vertex {graph.names[v]}, that is, do they share a hyperedge?"
        near = neighbours[u]
        verdict = "among them" if v in near else "not among them"
        trace = (f"{graph.names[u]} shares a hyperedge with {listing(graph.names[w] for w in sorted(near))}; "
                 f"{graph.names[v]} is {verdict}.")
        return yes_no_question([graph], text, v in near, {"isolated_vertex": _isolated_rule(graph, u, v)}, trace=trace)

    @staticmethod
    def _unconnected_pair(graph, active, rng):
        neighbours = graph.neighbours
        order = active[:]
        rng.shuffle(order)
        for u in order:  # the first vertex tried almost always has a non-neighbour
            if len(neighbours[u]) < len(active) - 1:
                return u, rng.choice([w for w in active if w != u and w not in neighbours[u]])
        return None


class ConnectedVertices(Task):
    """List the vertices that share a hyperedge with a vertex."""

    family = "low_order"
    answer_kind = "vertex_set"
    needs_high_order = False

    def generate(self, graph, rng, want=None):
        if graph.num_vertices == 0:
            return None
        active = active_vertices(graph)
        v = rng.choice(active) if active else rng.randrange(graph.num_vertices)
        text = f"Which vertices share a hyperedge with vertex {graph.names[v]}? {SET_FORMAT}"
        return Question([graph], text, self.answer_kind, names(graph, graph.neighbours[v]),
                        rationale=partition_trace(graph, v))


class DisconnectedVertices(Task):
    """List the vertices that share no hyperedge with a vertex (the vertex itself excluded)."""

    family = "low_order"
    answer_kind = "vertex_set"
    needs_high_order = False

    def generate(self, graph, rng, want=None):
        if graph.num_vertices == 0:
            return None
        active = active_vertices(graph)
        v = rng.choice(active) if active else rng.randrange(graph.num_vertices)
        near = graph.neighbours[v]
        answer = [graph.names[w] for w in range(graph.num_vertices) if w != v and w not in near]
        name = graph.names[v]
        text = f"Which vertices share no hyperedge with vertex {name} ({name} itself excluded)? {SET_FORMAT}"
        return Question([graph], text, self.answer_kind, answer, rationale=partition_trace(graph, v))


class ShortestPath(Task):
    """Length of the shortest path between two vertices, one hop per shared hyperedge ("no path" if none)."""

    family = "low_order"
    answer_kind = "path_length"
    needs_high_order = False

    def generate(self, graph, rng, want=None):
        active = active_vertices(graph)
        if len(active) < 2:
            return None
        u = rng.choice(active)
        reached = hops(graph, u)
        # the target's distance drawn first, each length (and "no path") equally likely: "1 if the two share a
        # hyperedge, else 2" no longer answers most questions
        v = stratified(rng, [w for w in active if w != u], lambda w: reached.get(w, -1))
        text = (f"What is the length of the shortest path from vertex {graph.names[u]} to vertex {graph.names[v]}, "
                f"where each step moves between two vertices that share a hyperedge? {PATH_FORMAT}")
        return Question([graph], text, self.answer_kind, reached.get(v), rationale=bfs_trace(graph, u, v))


class Reachability(Task):
    """Can one vertex be reached from another through shared hyperedges? (yes/no)

    Both vertices are always in some hyperedge: a "No" pairs vertices of two
    different components, never an isolated vertex (which a model would spot
    without following any path). With a wanted label, "Yes" and "No" are both asked
    about hypergraphs of several components, and most "Yes" pairs share no hyperedge.
    """

    family = "low_order"
    answer_kind = "yes_no"
    needs_high_order = False

    def generate(self, graph, rng, want=None):
        active = active_vertices(graph)
        if len(active) < 2:
            return None
        if want is None:
            u, v = rng.sample(active, 2)
            answer = v in hops(graph, u)
        else:
            u = rng.choice(active)
            component = hops(graph, u)
            if len(component) == len(active):  # one component: the answer would be Yes whatever is asked
                return None
            if want:
                # "Yes" and "No" both come from hypergraphs of several components; most "Yes" pairs share no
                # hyperedge (a share of hard_negatives, as far as the component allows)
                far = [w for w, d in component.items() if d >= 2]
                v = rng.choice(far if far and rng.random() < self.hard_negatives else
                               [w for w in component if w != u])
            else:
                outside = [w for w in active if w not in component]
                if not outside:  # one component holds every active vertex: ask another hypergraph
                    return None
                v = rng.choice(outside)
            answer = want
        text = (f"Can vertex {graph.names[v]} be reached from vertex {graph.names[u]} by moving between vertices "
                f"that share a hyperedge?")
        return yes_no_question([graph], text, answer, {"isolated_vertex": _isolated_rule(graph, u, v)},
                               trace=bfs_trace(graph, u, v))
