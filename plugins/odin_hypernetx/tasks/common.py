"""What every task module shares: answer formats, vertex helpers, options, and the heuristics contract.

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
    return Hypergraph(graph.names, graph.edges[:index] + graph.edges[index + 1:], graph.graph_id, graph.params)


def yes_no_question(graphs, text: str, answer: bool, heuristics: dict | None = None, **meta) -> Question:
    """A yes/no question; its heuristics always include ``first_option`` (the format lists [Yes] first)."""
    rules = {"first_option": True, **(heuristics or {})}
    return Question(graphs, f"{text} {YES_NO_FORMAT}", "yes_no", answer, {**meta, "heuristics": rules})
