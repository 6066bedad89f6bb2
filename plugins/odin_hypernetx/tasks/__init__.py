"""The task suite: LLM4Hypergraph's 15 tasks plus hyperedge prediction, without their shortcuts.

Each class follows ``odin_core.components.protocols.Task``: ``generate(graph, rng, want)``
returns a ``Question`` whose ``answer`` is the structured value that
``odin_core.questions.answers.format_answer`` writes, or ``None`` when the graph offers
no such question (or none with the wanted yes/no label).

Semantics follow LLM4Hypergraph's code (see ``shared/ANCHORS.md``), with its
flaws fixed:

- a task whose answer depends on hyperedges rather than on the clique expansion
  sets ``needs_high_order`` (vertex degree counts hyperedges, so it does too),
  so it is never paired with a low-order encoding;
- yes/no tasks honour ``want`` so the builder can balance labels;
- no question can be answered by a shallow rule: queried vertices are never
  isolated (connection, reachability), vertex sets have 3 or 4 vertices and the
  hard negatives are covered pairwise by different hyperedges, isomorphism's
  hard negatives keep every vertex degree and hyperedge size, hyperedge
  prediction never leaves a vertex isolated; each question records what the
  shallow rules would answer (``meta["heuristics"]``) so reports show it;
- vertex degree and hyperedge degree draw their subject so that each degree the
  graph has is equally likely, so the most common answer is a weaker baseline;
- structure classification asks about hypergraphs of the ``hypernetx.structures``
  source, so a row's metadata describes the hypergraph in its prompt.

Policies: hyperedges are sets (duplicate vertices are dropped when a
``Hypergraph`` is built); size-1 hyperedges count for vertex degree, hyperedge
count and hyperedge degree but connect nothing; repeated hyperedges count as
separate hyperedges and are never a *proper* subset of each other.
"""

from __future__ import annotations

from .common import TaskOptions
from .high_order import (
    HyperedgeDegree,
    HyperedgeInHyperedge,
    SharedVertices,
    VertexSetConnection,
    VertexSetInHyperedge,
    has_nested_hyperedge,
    uncovered_cliques,
)
from .isomorphism import Isomorphism, StructureClassification, isomorphic
from .low_order import (
    ConnectedVertices,
    DisconnectedVertices,
    HyperedgeCount,
    Reachability,
    ShortestPath,
    VertexConnection,
    VertexCount,
    VertexDegree,
)
from .prediction import HyperedgeCompletion, HyperedgeDiscrimination, removable

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

#: the tasks whose "No" questions mix hard negatives in (option ``hard_negatives``)
WITH_HARD_NEGATIVES = ("vertex_set_connection", "vertex_set_in_hyperedge", "isomorphism")

__all__ = ["TASKS", "WITH_HARD_NEGATIVES", "TaskOptions", "has_nested_hyperedge", "isomorphic", "removable",
           "uncovered_cliques"]
