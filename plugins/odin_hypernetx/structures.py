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
``random_structure`` draws a size, hangs a few decorations (hyperedges of two
vertices) off it, renames the vertices at random and shuffles the hyperedge
order, so the layout gives no surface cue.
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


#: sizes drawn for each family: pyramids of 3-7 rows, tables of 2-16 squares, wheels of 3-14 spokes around
#: a hub of 1 or 2 vertices (a hub of 1 gives hyperedges of 3 vertices like a pyramid's, a hub of 2 of 4 like a
#: table's, so hyperedge size alone does not name the family)
PYRAMID_ROWS = range(3, 8)
TABLE_SHAPES = tuple((r, c) for r in range(1, 5) for c in range(r, 7) if 2 <= r * c <= 16)
WHEEL_SPOKES = range(3, 15)
WHEEL_HUBS = (1, 2)
#: decorations: up to this many hyperedges of 2 vertices, each joining a vertex of the structure to a new vertex
MAX_PENDANTS = 3


def structure_edges(label: str, rng) -> tuple[int, list[tuple[int, ...]], dict]:
    """(vertex count, hyperedges, params) of a randomly sized member of the family ``label``, undecorated."""
    if label == PYRAMID:
        rows = rng.choice(PYRAMID_ROWS)
        num_vertices, edges = hyper_pyramid(rows)
        params = {"structure": label, "rows": rows}
    elif label == CHECKED_TABLE:
        rows, cols = rng.choice(TABLE_SHAPES)
        if rng.random() < 0.5:
            rows, cols = cols, rows
        num_vertices, edges = hyper_checked_table(rows, cols)
        params = {"structure": label, "rows": rows, "cols": cols}
    elif label == WHEEL:
        spokes, hub = rng.choice(WHEEL_SPOKES), rng.choice(WHEEL_HUBS)
        num_vertices, edges = hyper_wheel(spokes, hub)
        params = {"structure": label, "spokes": spokes, "hub": hub}
    else:
        raise ValueError(f"unknown structure {label!r}; expected one of {', '.join(STRUCTURE_LABELS)}")
    return num_vertices, edges, params


def random_structure(label: str, rng, graph_id: str = "", pendants: int | None = None) -> Hypergraph:
    """A randomly sized, decorated, randomly labelled member of the family ``label``.

    ``pendants`` (default: 0 to ``MAX_PENDANTS`` at random) hyperedges of two
    vertices hang new vertices off random vertices of the structure; sizes and
    decorations together give several hundred isomorphism classes, so a model
    cannot memorise the family of each.
    """
    num_vertices, edges, params = structure_edges(label, rng)
    count = rng.randint(0, MAX_PENDANTS) if pendants is None else pendants
    for _ in range(count):
        edges.append((rng.randrange(num_vertices), num_vertices))
        num_vertices += 1
    params["pendants"] = count
    permutation = list(range(num_vertices))
    rng.shuffle(permutation)
    renamed = [tuple(sorted(permutation[v] for v in edge)) for edge in edges]
    rng.shuffle(renamed)
    names = tuple(f"v{i}" for i in range(num_vertices))
    return Hypergraph(names, tuple(renamed), graph_id, params)
