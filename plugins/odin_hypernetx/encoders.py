"""The seven LLM4Hypergraph "hypergraph languages": how a hypergraph is written in a prompt.

Every encoding opens with the same sentence::

    G describes a hypergraph among vertices v0, v1, v2, and v3 and hyperedges e0 and e1.

then describes the structure. Low-order encodings (N-Pair, LO-Inc, Adj-Mat) show
only the clique expansion, which vertex pairs share a hyperedge, so a question
naming a hyperedge cannot be answered under them. High-order encodings (N-Set,
HO-Inc, Inc-Mat, HO-Neigh) show every hyperedge. Hyperedges are always written
``e0, e1, ...`` in the hypergraph's order; vertices by their names (``v0`` or
the data's own). Everything here is plain string building on the lean
``Hypergraph``: no hypernetx.
"""

from __future__ import annotations

from odin_core import Hypergraph


def join_words(items: list[str]) -> str:
    """'a', 'a and b', 'a, b, and c' (the serial comma, as LLM4Hypergraph writes lists)."""
    if len(items) > 2:
        return ", ".join(items[:-1]) + ", and " + items[-1]
    return " and ".join(items)


def _counted(singular: str, plural: str, names: list[str]) -> str:
    if len(names) == 1:
        return f"{singular} {names[0]}"
    return f"{plural} {join_words(names)}"


def edge_names(graph: Hypergraph) -> list[str]:
    return list(graph.edge_names)


def header(graph: Hypergraph, name: str = "G") -> str:
    """The opening sentence shared by all encodings."""
    vertices = _counted("vertex", "vertices", list(graph.names)) if graph.names else "no vertices"
    edges = _counted("hyperedge", "hyperedges", edge_names(graph)) if graph.edges else "no hyperedges"
    return f"{name} describes a hypergraph among {vertices} and {edges}."


def clique_pairs(graph: Hypergraph) -> list[tuple[int, int]]:
    """Sorted vertex pairs that share at least one hyperedge."""
    pairs = set()
    for edge in graph.edges:
        for i, u in enumerate(edge):
            for v in edge[i + 1 :]:
                pairs.add((u, v))
    return sorted(pairs)


class _Encoder:
    order = "high"
    #: the LLM4Hypergraph name of this language
    language = ""

    def __init__(self, options=None):
        self.options = options

    def encode(self, graph: Hypergraph, name: str = "G") -> str:
        return header(graph, name) + "\n" + self.body(graph, name)

    def body(self, graph: Hypergraph, name: str) -> str:
        raise NotImplementedError

    def min_tokens(self, graph: Hypergraph) -> int:
        """A cheap lower bound on the encoded length in approximate tokens (lets the builder skip huge graphs)."""
        return graph.num_vertices + sum(len(e) for e in graph.edges)


class NPairEncoder(_Encoder):
    """N-Pair (low order): the vertex pairs that share a hyperedge, e.g. (v0, v1), (v1, v2)."""

    order = "low"
    language = "N-Pair"

    def body(self, graph, name):
        names = graph.names
        pairs = clique_pairs(graph)
        if not pairs:
            return f"In {name}, no two vertices are connected."
        return f"In {name}, these vertex pairs are connected: " + ", ".join(
            f"({names[u]}, {names[v]})" for u, v in pairs) + "."

    def min_tokens(self, graph):
        return graph.num_vertices + 5 * max((len(e) * (len(e) - 1) // 2 for e in graph.edges), default=0)


class LoIncEncoder(_Encoder):
    """LO-Inc (low-order incidence): each vertex and the vertices it shares a hyperedge with."""

    order = "low"
    language = "LO-Inc"

    def body(self, graph, name):
        names = graph.names
        lines = []
        for v, neighbours in enumerate(graph.neighbours):
            if neighbours:
                others = [names[u] for u in sorted(neighbours)]
                lines.append(f"Vertex {names[v]} is connected to {_counted('vertex', 'vertices', others)}.")
            else:
                lines.append(f"Vertex {names[v]} is connected to no vertex.")
        return "\n".join(lines)


class AdjMatEncoder(_Encoder):
    """Adj-Mat (low order): the 0/1 adjacency matrix of the clique expansion, 1 on the diagonal."""

    order = "low"
    language = "Adj-Mat"

    def body(self, graph, name):
        n = graph.num_vertices
        rows = [["0"] * n for _ in range(n)]
        for v in range(n):
            rows[v][v] = "1"
        for edge in graph.edges:
            for u in edge:
                row = rows[u]
                for v in edge:
                    row[v] = "1"
        return (f"The adjacency matrix of {name} (rows and columns follow the vertex order above; 1 means the two "
                f"vertices share a hyperedge, and the diagonal is 1):\n" + "\n".join(" ".join(r) for r in rows))

    def min_tokens(self, graph):
        return graph.num_vertices * graph.num_vertices


class NSetEncoder(_Encoder):
    """N-Set (high order): every hyperedge as its set of vertices, e.g. e0 = (v1, v2, v3)."""

    language = "N-Set"

    def body(self, graph, name):
        names = graph.names
        if not graph.edges:
            return f"{name} has no hyperedges."
        return f"In {name}, the hyperedges are: " + ", ".join(
            f"{label} = ({', '.join(names[v] for v in edge)})" for label, edge in zip(graph.edge_names, graph.edges)) + "."


class HoIncEncoder(_Encoder):
    """HO-Inc (high-order incidence): each vertex, the vertices it meets and through which hyperedge."""

    language = "HO-Inc"

    def body(self, graph, name):
        names = graph.names
        members = [[names[u] for u in edge] for edge in graph.edges]
        edges = graph.edges
        lines = []
        for v, memberships in enumerate(graph.incidence):
            if not memberships:
                lines.append(f"Vertex {names[v]} is in no hyperedge.")
                continue
            clauses = []
            for e in sorted(memberships):
                edge = edges[e]
                if len(edge) == 1:
                    clauses.append(f"to no other vertex with hyperedge {graph.edge_names[e]}")
                    continue
                at = edge.index(v)
                others = members[e][:at] + members[e][at + 1 :]
                clauses.append(f"to {_counted('vertex', 'vertices', others)} with hyperedge {graph.edge_names[e]}")
            lines.append(f"Vertex {names[v]} is connected {join_words(clauses)}.")
        return "\n".join(lines)

    def min_tokens(self, graph):
        return graph.num_vertices + sum(len(e) * len(e) for e in graph.edges)


class IncMatEncoder(_Encoder):
    """Inc-Mat (high order): the 0/1 vertex-by-hyperedge incidence matrix."""

    language = "Inc-Mat"

    def body(self, graph, name):
        m = graph.num_edges
        if not m:
            return f"{name} has no hyperedges, so its incidence matrix has no columns."
        lines = []
        for memberships in graph.incidence:
            row = ["0"] * m
            for e in memberships:
                row[e] = "1"
            lines.append(" ".join(row))
        return (f"The incidence matrix of {name} (rows are the vertices and columns the hyperedges, in the order "
                f"above; 1 means the vertex is in the hyperedge):\n" + "\n".join(lines))

    def min_tokens(self, graph):
        return graph.num_vertices * graph.num_edges


class HoNeighEncoder(_Encoder):
    """HO-Neigh (high-order neighbourhood): the hyperedges of each vertex, then the vertices of each hyperedge."""

    language = "HO-Neigh"

    def body(self, graph, name):
        names = graph.names
        lines = []
        for v, memberships in enumerate(graph.incidence):
            if memberships:
                lines.append(f"Vertex {names[v]} is connected to "
                             f"{_counted('hyperedge', 'hyperedges', [graph.edge_names[e] for e in sorted(memberships)])}.")
            else:
                lines.append(f"Vertex {names[v]} is connected to no hyperedge.")
        for e, edge in enumerate(graph.edges):
            lines.append(f"Hyperedge {graph.edge_names[e]} is connected to {_counted('vertex', 'vertices', [names[v] for v in edge])}.")
        return "\n".join(lines)


#: registered name -> encoder class
ENCODERS: dict[str, type[_Encoder]] = {
    "hypernetx.n_pair": NPairEncoder,
    "hypernetx.lo_inc": LoIncEncoder,
    "hypernetx.adj_mat": AdjMatEncoder,
    "hypernetx.n_set": NSetEncoder,
    "hypernetx.ho_inc": HoIncEncoder,
    "hypernetx.inc_mat": IncMatEncoder,
    "hypernetx.ho_neigh": HoNeighEncoder,
}
