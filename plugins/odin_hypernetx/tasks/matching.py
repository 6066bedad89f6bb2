"""Graph isomorphism by individualisation and refinement, with a deterministic work budget.

Plain backtracking (networkx VF2/VF2++) can run for minutes on the symmetric
graphs this benchmark makes (wheels, grids, degree-preserving swaps of them).
Colour refinement of both graphs together settles most pairs at once; when
colour classes stay ambiguous, one node of the smallest class is given a colour
of its own in the first graph and each candidate in turn in the second, and
refinement runs again. A search that exceeds its budget answers ``None``
("not settled") instead of running on, so a dataset build never stalls and
never depends on timing.
"""

from __future__ import annotations

#: refinement steps a search may take before it answers None
DEFAULT_BUDGET = 400


class _Exhausted(Exception):
    pass


def _refine(adj: tuple[list, list], colours: tuple[list, list]) -> tuple[list, list] | None:
    """Colour refinement of two graphs at once (colours ranked over both); None when the histograms differ."""
    a, b = colours
    classes = len(set(a) | set(b))
    while True:
        sig_a = [(a[i], tuple(sorted(a[j] for j in adj[0][i]))) for i in range(len(a))]
        sig_b = [(b[i], tuple(sorted(b[j] for j in adj[1][i]))) for i in range(len(b))]
        rank = {sig: r for r, sig in enumerate(sorted(set(sig_a) | set(sig_b)))}
        a, b = [rank[s] for s in sig_a], [rank[s] for s in sig_b]
        if sorted(a) != sorted(b):
            return None
        if len(rank) == classes:
            return a, b
        classes = len(rank)


def _search(adj, colours, budget: list[int]) -> bool:
    refined = _refine(adj, colours)
    if refined is None:
        return False
    budget[0] -= 1
    if budget[0] < 0:
        raise _Exhausted
    a, b = refined
    groups: dict[int, list[int]] = {}
    for i, c in enumerate(a):
        groups.setdefault(c, []).append(i)
    ambiguous = [members for members in groups.values() if len(members) > 1]
    if not ambiguous:  # a discrete colouring is a candidate bijection: check it
        where = {c: i for i, c in enumerate(b)}
        mapping = [where[c] for c in a]
        return all(sorted(mapping[j] for j in adj[0][i]) == sorted(adj[1][mapping[i]]) for i in range(len(a)))
    x = min(ambiguous, key=len)[0]
    fresh = max(max(a), max(b)) + 1
    for y in (j for j, c in enumerate(b) if c == a[x]):
        a2, b2 = list(a), list(b)
        a2[x], b2[y] = fresh, fresh
        if _search(adj, (a2, b2), budget):
            return True
    return False


def isomorphic_labelled(first, second, budget: int = DEFAULT_BUDGET) -> bool | None:
    """Whether two networkx graphs whose nodes carry a ``label`` are isomorphic (labels kept); None when the
    search exceeded ``budget`` refinement steps."""
    if first.number_of_nodes() != second.number_of_nodes() or first.number_of_edges() != second.number_of_edges():
        return False
    order = [sorted(first, key=repr), sorted(second, key=repr)]
    index = [{n: i for i, n in enumerate(nodes)} for nodes in order]
    adj = tuple([[index[k][m] for m in graph[n]] for n in order[k]] for k, graph in enumerate((first, second)))
    labels = sorted({repr(g.nodes[n]["label"]) for g in (first, second) for n in g})
    rank = {label: r for r, label in enumerate(labels)}
    colours = tuple([rank[repr(g.nodes[n]["label"])] for n in order[k]] for k, g in enumerate((first, second)))
    try:
        return _search(adj, colours, [budget])
    except _Exhausted:
        return None
