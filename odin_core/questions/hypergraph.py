"""The lean hypergraph that sources produce and tasks and encoders consume.

``hypernetx.Hypergraph`` is the interchange and loading type; building one costs
about 20 ms, too slow per example. This immutable form is what the per-example
work uses: vertices are ``0..n-1`` (with display names), hyperedges are sorted
tuples of distinct vertex ids.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property


@dataclass(frozen=True)
class Hypergraph:
    """Vertices ``0..len(names)-1`` and hyperedges as sorted tuples of vertex ids.

    ``names[i]`` is how vertex ``i`` is written in prompts (``v0`` ... or the
    data's own names). ``graph_id`` identifies the source hypergraph, so that
    dataset splits never share one; ``params`` records how it was made.
    """

    names: tuple[str, ...]
    edges: tuple[tuple[int, ...], ...]
    graph_id: str = ""
    params: dict = field(default_factory=dict, compare=False, hash=False)
    #: how hyperedge ``i`` is written in prompts; empty: ``e0, e1, ...`` in order (see ``edge_names``)
    edge_labels: tuple[str, ...] = ()

    @classmethod
    def from_edges(cls, edges, num_vertices=None, names=None, graph_id="", params=None):
        """Build from an iterable of vertex-id iterables (duplicates inside an edge are dropped)."""
        norm = tuple(tuple(sorted(set(e))) for e in edges)
        if num_vertices is None:
            num_vertices = (max((max(e) for e in norm if e), default=-1) + 1) if names is None else len(names)
        if names is None:
            names = tuple(f"v{i}" for i in range(num_vertices))
        return cls(tuple(names), norm, graph_id, dict(params or {}))

    @property
    def num_vertices(self) -> int:
        return len(self.names)

    @property
    def num_edges(self) -> int:
        return len(self.edges)

    @property
    def edge_names(self) -> tuple[str, ...]:
        """How each hyperedge is written in prompts: ``edge_labels``, else ``e0, e1, ...`` by position."""
        if len(self.edge_labels) == len(self.edges):
            return self.edge_labels
        return tuple(f"e{i}" for i in range(len(self.edges)))

    def with_edges(self, edges, graph_id=None, edge_labels=None) -> "Hypergraph":
        """The same vertices (names, id, params) with other hyperedges; ``edge_labels`` default to this one's
        when the count is unchanged, else to ``e0, e1, ...``."""
        edges = tuple(edges)
        if edge_labels is None:
            edge_labels = self.edge_labels if len(edges) == len(self.edges) else ()
        return Hypergraph(self.names, edges, self.graph_id if graph_id is None else graph_id, self.params,
                          tuple(edge_labels))

    @cached_property
    def incidence(self) -> tuple[frozenset[int], ...]:
        """``incidence[v]``: the ids of the hyperedges that contain vertex ``v``."""
        memberships = [[] for _ in self.names]
        for edge_id, edge in enumerate(self.edges):
            for v in edge:
                memberships[v].append(edge_id)
        return tuple(frozenset(m) for m in memberships)

    @cached_property
    def neighbours(self) -> tuple[frozenset[int], ...]:
        """``neighbours[v]``: vertices sharing a hyperedge with ``v`` (``v`` excluded)."""
        result = [set() for _ in self.names]
        for edge in self.edges:
            for v in edge:
                result[v].update(edge)
        for v, s in enumerate(result):
            s.discard(v)
        return tuple(frozenset(s) for s in result)

    def relabel(self, permutation, graph_id=None) -> "Hypergraph":
        """Return a copy with vertex ``v`` renamed to ``permutation[v]`` (names keep their positions)."""
        edges = [tuple(permutation[v] for v in e) for e in self.edges]
        renamed = Hypergraph.from_edges(edges, names=self.names, graph_id=graph_id or self.graph_id, params=self.params)
        return renamed.with_edges(renamed.edges, edge_labels=self.edge_labels)
