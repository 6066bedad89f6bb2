"""Building Odin's lean hypergraphs from records or from hypernetx, under one input policy.

Input policy (all file and real-data sources):

- a vertex listed twice in one hyperedge is kept once (a hyperedge is a set);
  ``params["merged_duplicate_vertices"]`` counts them;
- a hyperedge with one vertex is kept unless ``min_edge_size`` is raised: it adds
  to the vertex's degree and to the hyperedge count but makes no vertex pair;
  ``params["dropped_small_edges"]`` counts what ``min_edge_size`` removed;
- the same vertex set listed as two hyperedges is kept once when
  ``dedupe_edges`` is true (the default), else both are kept (a multi-hypergraph);
- a hyperedge with no vertex is an error naming the file and line.

Vertices are numbered in order of first appearance; ``vertex_names = "ids"``
writes them ``v0, v1, ...`` in prompts, ``"data"`` uses the data's own names.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from odin_core import DataError, Hypergraph

VertexNames = Literal["ids", "data"]
_FORBIDDEN_IN_NAMES = (",", "[", "]", "\n", "\r")


class SourceOptions(BaseModel):
    """Base of the sources' options: unknown keys are an error."""

    model_config = ConfigDict(extra="forbid")


# --- building the lean hypergraph -----------------------------------------


#: characters a vertex id may have: an id is written into prompts, so a longer one is an error in the data
MAX_ID_LENGTH = 256


class EdgeCollector:
    """Turns (vertex labels, line) records into a Hypergraph, applying the input policy."""

    def __init__(self, file, min_edge_size: int = 1, dedupe_edges: bool = True):
        self.file = file
        self.min_edge_size = min_edge_size
        self.dedupe_edges = dedupe_edges
        self.ids: dict[Any, int] = {}
        self.labels: list[Any] = []
        self.edges: list[tuple[int, ...]] = []
        self.seen: set[tuple[int, ...]] = set()
        self.merged_vertices = 0
        self.dropped_small = 0
        self.merged_edges = 0

    def vertex(self, label, line=None) -> int:
        vid = self.ids.get(label)
        if vid is None:
            text = label if isinstance(label, str) else str(label)
            if len(text) > MAX_ID_LENGTH:
                raise DataError(f"vertex id {text[:24]}... has {len(text):,} characters; expected ids of at most "
                                f"{MAX_ID_LENGTH}", file=self.file, line=line)
            vid = self.ids[label] = len(self.labels)
            self.labels.append(label)
        return vid

    def add(self, labels, line=None) -> None:
        if not labels:
            raise DataError("hyperedge with no vertices; expected at least one vertex", file=self.file, line=line)
        members = {self.vertex(label, line) for label in labels}
        self.merged_vertices += len(labels) - len(members)
        if len(members) < self.min_edge_size:
            self.dropped_small += 1
            return
        edge = tuple(sorted(members))
        if self.dedupe_edges:
            if edge in self.seen:
                self.merged_edges += 1
                return
            self.seen.add(edge)
        self.edges.append(edge)

    def build(self, graph_id: str, params: dict, vertex_names: str, line_of=None) -> Hypergraph:
        if not self.edges:
            raise DataError("holds no hyperedge (after min_edge_size); expected at least one", file=self.file)
        names = tuple(f"v{i}" for i in range(len(self.labels)))
        if vertex_names == "data":
            names = tuple(str(label) for label in self.labels)
            check_vertex_names(names, self.file, line_of)
        params = dict(params)
        for key, value in (("merged_duplicate_vertices", self.merged_vertices),
                           ("dropped_small_edges", self.dropped_small),
                           ("merged_duplicate_edges", self.merged_edges)):
            if value:
                params[key] = value
        return Hypergraph(names, tuple(self.edges), graph_id, params)


def check_vertex_names(names, file=None, line_of=None) -> None:
    """Data names must be unique and parse back from answers: no commas, brackets or line breaks."""
    seen = set()
    for name in names:
        bad = next((c for c in _FORBIDDEN_IN_NAMES if c in name), None)
        if bad is not None or not name.strip():
            line = line_of(name) if line_of else None
            what = "is empty" if not name.strip() else f"contains {bad!r}"
            raise DataError(f"vertex name {name!r} {what}, which answers cannot hold; "
                            "use vertex_names = \"ids\"", file=file, line=line)
        if name in seen:
            raise DataError(f"two vertices are both named {name!r}; use vertex_names = \"ids\"", file=file)
        seen.add(name)


def hypergraph_from_hnx(hnx_graph, graph_id: str, params: dict, vertex_names: VertexNames = "ids",
                        min_edge_size: int = 1, dedupe_edges: bool = True, edge_order=None,
                        vertex_order=None) -> Hypergraph:
    """Convert a ``hypernetx.Hypergraph``: vertices in ``vertex_order`` (then hypernetx's order), hyperedges in
    ``edge_order`` or hypernetx's order.

    hypernetx orders nodes by how its input was built; an input made from Python sets of strings
    changes order with the hash seed, so pass an explicit order for reproducible ids.
    """
    collector = EdgeCollector(params.get("source", "hypernetx"), min_edge_size, dedupe_edges)
    for node in vertex_order or ():
        collector.vertex(node)
    for node in hnx_graph.nodes:
        collector.vertex(_plain(node))
    incidence = hnx_graph.incidence_dict
    for edge in (edge_order if edge_order is not None else incidence):
        collector.add([_plain(v) for v in incidence[edge]])
    return collector.build(graph_id, params, vertex_names)


def _plain(value):
    """numpy scalars -> Python scalars, so ids compare and print like the data."""
    return value.item() if hasattr(value, "item") else value
