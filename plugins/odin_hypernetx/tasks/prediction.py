"""Hyperedge prediction: one hyperedge is removed from the hypergraph shown; name it, or recognise it.

Only hyperedges whose every vertex lies in another hyperedge too are removed:
removing one never leaves a vertex isolated, so "the answer is the isolated
vertices" says nothing, and the shown hypergraph always keeps a hyperedge.
"""

from __future__ import annotations

from odin_core import NEGATIVE_SCHEMES, Question

from .common import SET_FORMAT, Task, active_vertices, isolated_vertices, names, pick_label, set_text, \
    without_edge, yes_no_question


def removable(graph, min_size: int) -> list[int]:
    """Hyperedges of at least ``min_size`` vertices, not repeated, whose vertices all lie in another hyperedge."""
    counts: dict[tuple[int, ...], int] = {}
    for edge in graph.edges:
        counts[edge] = counts.get(edge, 0) + 1
    incidence = graph.incidence
    return [i for i, edge in enumerate(graph.edges)
            if len(edge) >= min_size and counts[edge] == 1 and all(len(incidence[v]) >= 2 for v in edge)]


class HyperedgeCompletion(Task):
    """Name the missing vertices of a removed hyperedge, given its size and some of its vertices."""

    family = "hyperedge_prediction"
    answer_kind = "vertex_set"
    needs_high_order = True

    def generate(self, graph, rng, want=None):
        candidates = removable(graph, 3)
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
        remaining = without_edge(graph, i)
        heuristics = {"isolated_vertices": names(remaining, isolated_vertices(remaining))}
        # what the prompt settles is how many to name, not which: the trace says no more
        trace = f"It had {len(edge)} vertices and {len(shown)} are named, so {len(missing)} to find."
        return Question([remaining], text, self.answer_kind, names(graph, missing),
                        {"hyperedge_size": len(edge), "shown": len(shown), "heuristics": heuristics}, trace)


class HyperedgeDiscrimination(Task):
    """Is a vertex set the hyperedge removed from the hypergraph? (yes/no; negatives by SNS, MNS or CNS)

    The candidate is the removed hyperedge, or a negative of the same size drawn
    from the vertices still in some hyperedge: SNS random such vertices; MNS a
    connected set grown in the shown graph's clique expansion; CNS the removed
    hyperedge with one vertex swapped for a vertex adjacent to all the others
    (Patil et al. 2020). Negatives are never real hyperedges.
    ``meta["negative_scheme"]`` is the scheme, or "positive".
    """

    family = "hyperedge_prediction"
    answer_kind = "yes_no"
    needs_high_order = True

    def generate(self, graph, rng, want=None):
        candidates = removable(graph, 2)
        if not candidates:
            return None
        i = rng.choice(candidates)
        removed = graph.edges[i]
        shown = without_edge(graph, i)
        label = pick_label(want, rng)
        if label:
            candidate, scheme = removed, "positive"
        else:
            existing = set(graph.edges)
            schemes = list(NEGATIVE_SCHEMES)
            rng.shuffle(schemes)
            for scheme in schemes:
                candidate = getattr(self, f"_{scheme.lower()}")(shown, removed, rng)
                if candidate is not None and candidate not in existing:
                    break
            else:
                return None
        isolated = set(isolated_vertices(shown))
        text = f"One hyperedge was removed from G. Is the vertex set {set_text(graph, candidate)} that hyperedge?"
        return yes_no_question([shown], text, label, {"holds_isolated": isolated <= set(candidate)},
                               negative_scheme=scheme)

    @staticmethod
    def _sns(shown, removed, rng):
        active = [v for v, edges in enumerate(shown.incidence) if edges]
        if len(active) < len(removed):
            return None
        return tuple(sorted(rng.sample(active, len(removed))))

    @staticmethod
    def _mns(shown, removed, rng):
        active = active_vertices(shown)
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
