"""The three structure families of the structure classification task.

- hyper pyramid: a triangular lattice of ``rows`` rows; every upward triangle of
  three neighbouring points is a hyperedge of size 3, so two hyperedges share at
  most one vertex.
- hyper checked table: a grid of ``rows`` x ``cols`` squares; every square's four
  corners form a hyperedge, so side-by-side squares share two vertices.
- hyper wheel: ``spokes`` rim vertices on a cycle and a hub (pivot set) of
  ``hub`` vertices; hyperedge ``i`` is the hub plus rim vertices ``i`` and
  ``i + 1``, so all hyperedges share the hub and neighbours around the cycle
  share one more vertex.

The builders return hyperedges over vertices ``0..n-1`` in a canonical layout;
``random_structure`` draws a size, renames the vertices at random and shuffles
the hyperedge order, so the layout gives no surface cue.
"""

from __future__ import annotations

from odin_core import Hypergraph

PYRAMID = "hyper pyramid"
CHECKED_TABLE = "hyper checked table"
WHEEL = "hyper wheel"
STRUCTURE_LABELS: tuple[str, ...] = (PYRAMID, CHECKED_TABLE, WHEEL)


def hyper_pyramid(rows: int) -> tuple[int, list[tuple[int, ...]]]:
    """(vertex count, hyperedges) of a pyramid with ``rows`` >= 2 rows of points (row r has r + 1 points)."""
    if rows < 2:
        raise ValueError("a hyper pyramid needs at least 2 rows")

    def point(r: int, c: int) -> int:
        return r * (r + 1) // 2 + c

    edges = [(point(r, c), point(r + 1, c), point(r + 1, c + 1)) for r in range(rows - 1) for c in range(r + 1)]
    return rows * (rows + 1) // 2, edges


def hyper_checked_table(rows: int, cols: int) -> tuple[int, list[tuple[int, ...]]]:
    """(vertex count, hyperedges) of a grid of ``rows`` x ``cols`` squares (at least two squares)."""
    if rows < 1 or cols < 1 or rows * cols < 2:
        raise ValueError("a hyper checked table needs at least two squares")

    def point(r: int, c: int) -> int:
        return r * (cols + 1) + c

    edges = [(point(r, c), point(r, c + 1), point(r + 1, c), point(r + 1, c + 1))
             for r in range(rows) for c in range(cols)]
    return (rows + 1) * (cols + 1), edges


def hyper_wheel(spokes: int, hub: int = 1) -> tuple[int, list[tuple[int, ...]]]:
    """(vertex count, hyperedges) of a wheel: hub vertices ``0..hub-1``, ``spokes`` >= 3 rim vertices after them."""
    if spokes < 3 or hub < 1:
        raise ValueError("a hyper wheel needs at least 3 spokes and a hub of at least one vertex")
    hub_vertices = tuple(range(hub))
    edges = [hub_vertices + (hub + i, hub + (i + 1) % spokes) for i in range(spokes)]
    return hub + spokes, edges


def random_structure(label: str, rng, graph_id: str = "") -> Hypergraph:
    """A randomly sized, randomly labelled member of the family ``label`` (3 to 12 hyperedges)."""
    if label == PYRAMID:
        num_vertices, edges = hyper_pyramid(rng.choice((3, 4, 5)))  # 3, 6 or 10 triangles
        params = {"structure": label}
    elif label == CHECKED_TABLE:
        rows, cols = rng.choice(((1, 3), (1, 4), (2, 2), (2, 3), (2, 4), (3, 3), (3, 4)))
        if rng.random() < 0.5:
            rows, cols = cols, rows
        num_vertices, edges = hyper_checked_table(rows, cols)
        params = {"structure": label}
    elif label == WHEEL:
        num_vertices, edges = hyper_wheel(rng.randint(3, 12), rng.choice((1, 2)))
        params = {"structure": label}
    else:
        raise ValueError(f"unknown structure {label!r}; expected one of {', '.join(STRUCTURE_LABELS)}")
    permutation = list(range(num_vertices))
    rng.shuffle(permutation)
    renamed = [tuple(sorted(permutation[v] for v in edge)) for edge in edges]
    rng.shuffle(renamed)
    names = tuple(f"v{i}" for i in range(num_vertices))
    return Hypergraph(names, tuple(renamed), graph_id, params)
