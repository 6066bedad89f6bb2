"""Steps 1 and 2 of a dataset build: the sources' hypergraphs, and whole hypergraphs assigned to splits."""

from __future__ import annotations

import hashlib
import random
from collections import Counter, defaultdict

from odin_core.components.plugins import get_component
from odin_core.foundation.errors import DataError
from odin_core.foundation.layout import SPLITS
from odin_core.foundation.seeds import derive_seed


def source_instances(recipe):
    """(index, recipe entry, source object) of each ``[[data.sources]]`` table."""
    for i, entry in enumerate(recipe.data.sources):
        component = get_component("source", entry.name, file=recipe.path, key=f"data.sources.{i}.name")
        yield i, entry, component.create(entry.options)


def collect_hypergraphs(recipe) -> list:
    """Every source's hypergraphs, in recipe order; source ``i`` is seeded from ``(recipe.seed, i)``."""
    graphs = []
    for i, entry, source in source_instances(recipe):
        try:
            produced = list(source.hypergraphs(derive_seed(recipe.seed, "source", i), str(recipe.base_dir)))
        except DataError as exc:
            if exc.file is None:  # say which recipe entry it was
                raise DataError(exc.message, file=recipe.path,
                                key=f"data.sources.{i}" + (f".{exc.key}" if exc.key else "")) from None
            raise
        if not produced:
            raise DataError(f"source {entry.name!r} produced no hypergraph", file=recipe.path, key=f"data.sources.{i}")
        graphs.extend(produced)
    return graphs


# --- step 2: hypergraphs -> splits ----------------------------------------------


def graph_key(graph) -> str:
    """An isomorphism invariant (Weisfeiler–Lehman colours of the vertex–hyperedge incidence graph).

    Isomorphic hypergraphs (relabelled copies, reordered hyperedges) always get the
    same key, so grouping by it keeps every copy of a hypergraph in one split.
    """
    vertex_colour = [len(m) for m in graph.incidence]
    edge_colour = [len(e) for e in graph.edges]
    history: list = [graph.num_vertices, graph.num_edges]
    for _round in range(3):
        edge_sig = [(edge_colour[i], tuple(sorted(vertex_colour[v] for v in e))) for i, e in enumerate(graph.edges)]
        edge_rank = {sig: rank for rank, sig in enumerate(sorted(set(edge_sig)))}
        edge_colour = [edge_rank[s] for s in edge_sig]
        vertex_sig = [(vertex_colour[v], tuple(sorted(edge_colour[e] for e in m))) for v, m in enumerate(graph.incidence)]
        vertex_rank = {sig: rank for rank, sig in enumerate(sorted(set(vertex_sig)))}
        vertex_colour = [vertex_rank[s] for s in vertex_sig]
        # the signature tables make the per-graph ranks comparable across hypergraphs
        history.append(sorted(Counter(edge_sig).items()))
        history.append(sorted(Counter(vertex_sig).items()))
    return hashlib.sha256(repr(history).encode("utf-8")).hexdigest()[:20]


def assign_splits(graphs, fractions: dict, seed: int, exclude_keys=frozenset()) -> tuple[dict, dict]:
    """Whole groups of isomorphic hypergraphs to splits by ``fractions`` of the hypergraph count.

    Returns ``({split: [graph, ...]}, {id(graph): key})``. Groups whose key is in
    ``exclude_keys`` (a frozen test set's hypergraphs) are left out.
    """
    keys = {id(g): graph_key(g) for g in graphs}
    groups: dict[str, list] = defaultdict(list)
    for g in graphs:
        if keys[id(g)] not in exclude_keys:
            groups[keys[id(g)]].append(g)
    order = sorted(groups)
    random.Random(derive_seed(seed, "splits")).shuffle(order)
    total = sum(len(groups[k]) for k in order)
    quota = {split: fractions[split] * total for split in SPLITS}
    assigned: dict[str, list] = {split: [] for split in SPLITS}
    for key in order:
        # the split furthest below its quota (relative to its fraction) takes the next group
        open_splits = [s for s in SPLITS if fractions[s] > 0]
        split = min(open_splits, key=lambda s: (len(assigned[s]) - quota[s]) / fractions[s])
        assigned[split].extend(groups[key])
    return assigned, keys

