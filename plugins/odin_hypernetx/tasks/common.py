"""What every task module shares: answer formats, vertex helpers, options, traces, and the heuristics contract.

Traces (``Question.rationale``): a short, exact account of how the answer follows
from the prompt, computed from the hypergraph without the task's ``rng`` (a
question is the same with or without it). A task that low-order encodings can
express mentions only vertices and which of them share a hyperedge, never
hyperedge names; no trace holds "[", "]" or "Ans".

Heuristics: each question records, in ``meta["heuristics"]``, what shallow rules
a model could learn instead of the task would answer (``{rule: answer}``, answers
in the same structured form as the question's own). Odin reports how often each
rule is right next to the model, so a task that a rule can answer shows it.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from odin_core import Hypergraph, Question

COUNT_FORMAT = 'List the answer after "Ans:" in the format [number].'
YES_NO_FORMAT = 'List the answer after "Ans:" in the format [Yes] or [No].'
SET_FORMAT = ('List the answer after "Ans:" as a comma-separated list of vertices in order inside brackets, '
              "or [] if there are none.")
PATH_FORMAT = 'List the answer after "Ans:" in the format [number], or [no path] if there is none.'

#: the default share of "No" questions whose negative defeats the task's shallow rule (see each task)
DEFAULT_HARD_NEGATIVES = 0.75


class TaskOptions(BaseModel):
    """Options of the tasks that make negatives (``data.tasks = [{ name = ..., hard_negatives = 1.0 }]``)."""

    model_config = ConfigDict(extra="forbid")

    hard_negatives: float = Field(
        DEFAULT_HARD_NEGATIVES, ge=0.0, le=1.0,
        description="share of 'No' questions built to defeat the task's shallow rule (the rest are ordinary)")


class Task:
    """Base of the built-in tasks: keeps the validated options (``TaskOptions`` defaults when none)."""

    #: shortcut features (``odin_core.questions.shortcut_features``) that are this task's answer itself (a degree
    #: question's asked degree): the learned shortcut baseline never sees them
    answer_features: tuple[str, ...] = ()

    def __init__(self, options=None):
        self.options = options if options is not None else TaskOptions()

    @property
    def hard_negatives(self) -> float:
        return getattr(self.options, "hard_negatives", DEFAULT_HARD_NEGATIVES)


def set_text(graph: Hypergraph, vertices) -> str:
    return "{" + ", ".join(graph.names[v] for v in sorted(vertices)) + "}"


def names(graph: Hypergraph, vertices) -> list[str]:
    """Vertex names sorted by vertex id: the structured form of a vertex_set answer."""
    return [graph.names[v] for v in sorted(vertices)]


def active_vertices(graph: Hypergraph) -> list[int]:
    """Vertices that share a hyperedge with at least one other vertex."""
    return [v for v, near in enumerate(graph.neighbours) if near]


def isolated_vertices(graph: Hypergraph) -> list[int]:
    """Vertices in no hyperedge."""
    return [v for v, edges in enumerate(graph.incidence) if not edges]


def pick_label(want, rng) -> bool:
    return want if want is not None else rng.random() < 0.5


def hops(graph: Hypergraph, source: int) -> dict[int, int]:
    """Breadth-first search in the clique expansion: hops from ``source`` to every vertex it reaches."""
    neighbours = graph.neighbours
    reached = {source: 0}
    frontier = [source]
    depth = 0
    while frontier:
        depth += 1
        following = []
        for x in frontier:
            for y in neighbours[x]:
                if y not in reached:
                    reached[y] = depth
                    following.append(y)
        frontier = following
    return reached


def stratified(rng, items, key):
    """One of ``items``, each value of ``key`` equally likely: answers spread out, the majority baseline drops."""
    groups: dict = {}
    for item in items:
        groups.setdefault(key(item), []).append(item)
    return rng.choice(rng.choice(list(groups.values())))


def in_one_hyperedge(graph: Hypergraph, vertices) -> bool:
    """Whether a single hyperedge contains all of ``vertices`` (non-empty)."""
    incidence = graph.incidence
    it = iter(vertices)
    common = incidence[next(it)]
    for v in it:
        common = common & incidence[v]
        if not common:
            return False
    return bool(common)


def pairwise_covered(graph: Hypergraph, vertices) -> bool:
    """Whether every two of ``vertices`` share some hyperedge (what the clique expansion alone can tell)."""
    neighbours = graph.neighbours
    vertices = list(vertices)
    return all(v in neighbours[u] for i, u in enumerate(vertices) for v in vertices[i + 1:])


def without_edge(graph: Hypergraph, index: int) -> Hypergraph:
    """``graph`` with hyperedge ``index`` removed (all vertices kept)."""
    labels = graph.edge_names
    return graph.with_edges(graph.edges[:index] + graph.edges[index + 1:],
                            edge_labels=labels[:index] + labels[index + 1:] if graph.edge_labels else ())


def yes_no_question(graphs, text: str, answer: bool, heuristics: dict | None = None, *, trace: str = "",
                    **meta) -> Question:
    """A yes/no question; its heuristics always include ``first_option`` (the format lists [Yes] first)."""
    rules = {"first_option": True, **(heuristics or {})}
    return Question(graphs, f"{text} {YES_NO_FORMAT}", "yes_no", answer, {**meta, "heuristics": rules}, trace)


# --- traces ------------------------------------------------------------------------------------------------


def listing(items) -> str:
    """``a, b, c``, or ``none``."""
    items = [str(x) for x in items]
    return ", ".join(items) if items else "none"


def tally(items) -> str:
    """Items with a running count, ``v0 1, v3 2, v5 3``: the last number is how many there are."""
    return ", ".join(f"{x} {k}" for k, x in enumerate(items, 1))


def edge_name(graph: Hypergraph, i: int) -> str:
    """How hyperedge ``i`` of ``graph`` is written in prompts (``e3``, or its random id)."""
    return graph.edge_names[i]


def bfs_trace(graph: Hypergraph, source: int, target: int) -> str:
    """Breadth-first search from ``source`` in the clique expansion, one frontier per hop, until ``target``.

    ``From v0, hop 1: v2, v5; hop 2: v1, v4; v4 at hop 2.`` or, when the
    search runs dry, ``...; hop 3: none; v4 not reached.`` Only vertices and
    which pairs share a hyperedge, so it suits low-order encodings too.
    """
    neighbours = graph.neighbours
    seen = {source}
    frontier = [source]
    hops_seen = []
    while True:
        following = sorted({y for x in frontier for y in neighbours[x] if y not in seen})
        seen.update(following)
        hops_seen.append(f"hop {len(hops_seen) + 1}: {listing(graph.names[v] for v in following)}")
        if target in following or not following:
            break
        frontier = following
    verdict = f"at hop {len(hops_seen)}" if target in seen else "not reached"
    return f"From {graph.names[source]}, " + "; ".join(hops_seen) + f"; {graph.names[target]} {verdict}."


def containment_trace(graph: Hypergraph, order) -> str:
    """Hyperedges holding the first vertex of ``order``, then which of those hold each next one, until none.

    ``Hyperedges with v1: e0, e3, e5; also v4: e3; also v7: none; no hyperedge holds them all.``
    """
    incidence = graph.incidence
    order = list(order)
    common = set(incidence[order[0]])
    parts = [f"Hyperedges with {graph.names[order[0]]}: {listing(edge_name(graph, i) for i in sorted(common))}"]
    for v in order[1:]:
        if not common:
            break
        common &= incidence[v]
        parts.append(f"also {graph.names[v]}: {listing(edge_name(graph, i) for i in sorted(common))}")
    verdict = f"{edge_name(graph, min(common))} holds them all." if common else "no hyperedge holds them all."
    return "; ".join(parts) + "; " + verdict
