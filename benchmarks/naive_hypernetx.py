"""The naive dataset builder the dataset-build benchmark compares Odin's with, and its answer key.

It builds one ``hypernetx.Hypergraph`` per example and answers through hypernetx's
methods (``degree``, ``neighbors``, ``distance``, ``connected_components``, ``size``,
``edges``, ``bipartite``). 14 of Odin's 17 tasks are covered; structure
classification and the two hyperedge-prediction tasks are not: hypernetx has no
method that tells a structure family or which hyperedge was removed.

``answer_row`` reads a row of Odin's (N-Set encoding) back from its prompt text
alone and answers it here, so its answers are an independent check of Odin's.
"""

from __future__ import annotations

import random
import re
import warnings

#: Odin task (short name) -> answer kind, for the tasks hypernetx answers
COVERED = {
    "vertex_count": "count", "hyperedge_count": "count", "vertex_degree": "count", "vertex_connection": "yes_no",
    "connected_vertices": "vertex_set", "disconnected_vertices": "vertex_set", "shortest_path": "path_length",
    "reachability": "yes_no", "hyperedge_degree": "count", "vertex_set_connection": "yes_no",
    "vertex_set_in_hyperedge": "yes_no", "hyperedge_in_hyperedge": "yes_no", "shared_vertices": "vertex_set",
    "isomorphism": "yes_no",
}
#: the covered tasks whose answer a low-order encoding (N-Pair) does not determine
HIGH_ORDER = ("vertex_degree", "hyperedge_degree", "vertex_set_connection", "vertex_set_in_hyperedge",
              "hyperedge_in_hyperedge", "shared_vertices", "isomorphism")
NOT_COVERED = ("structure_classification", "hyperedge_completion", "hyperedge_discrimination")


class Graph:
    """A ``hypernetx.Hypergraph`` plus the vertex names in order (hypernetx drops vertices in no hyperedge)."""

    def __init__(self, names, edges: dict):
        import hypernetx as hnx

        self.names = list(names)
        self.order = {name: i for i, name in enumerate(self.names)}
        self.hnx = hnx.Hypergraph(edges)
        self.members = set(self.hnx.nodes)

    def sorted(self, vertices) -> list[str]:
        return sorted(vertices, key=self.order.__getitem__)

    def neighbours(self, v) -> set:
        return set(self.hnx.neighbors(v)) if v in self.members else set()

    def edge(self, e) -> set:
        return set(self.hnx.edges[e])


def from_lean(graph) -> Graph:
    """A naive ``Graph`` of one of Odin's lean hypergraphs (hyperedges ``e0, e1, ...`` in order)."""
    return Graph(graph.names, {f"e{i}": [graph.names[v] for v in edge] for i, edge in enumerate(graph.edges)})


# --- answers through hypernetx -------------------------------------------------------------------------------


def vertex_count(g: Graph) -> int:
    return len(g.members) + sum(1 for name in g.names if name not in g.members)


def hyperedge_count(g: Graph) -> int:
    return len(g.hnx.edges)


def vertex_degree(g: Graph, v) -> int:
    return g.hnx.degree(v) if v in g.members else 0


def vertex_connection(g: Graph, u, v) -> bool:
    return v in g.neighbours(u)


def connected_vertices(g: Graph, v) -> list[str]:
    return g.sorted(g.neighbours(v))


def disconnected_vertices(g: Graph, v) -> list[str]:
    near = g.neighbours(v)
    return [w for w in g.names if w != v and w not in near]


def shortest_path(g: Graph, u, v):
    """Hops in the clique expansion (``Hypergraph.distance``), None when unreachable."""
    if u not in g.members or v not in g.members:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # hypernetx warns when there is no path
        d = g.hnx.distance(u, v)
    return None if d == float("inf") else int(d)


def reachability(g: Graph, u, v) -> bool:
    return any(u in comp and v in comp for comp in g.hnx.connected_components())


def hyperedge_degree(g: Graph, e) -> int:
    return int(g.hnx.size(e))


def in_one_hyperedge(g: Graph, vertices) -> bool:
    wanted = set(vertices)
    return any(wanted <= g.edge(e) for e in g.hnx.edges)


def hyperedge_in_hyperedge(g: Graph) -> bool:
    sets = [g.edge(e) for e in g.hnx.edges]
    return any(a < b for a in sets for b in sets)


def shared_vertices(g: Graph, e, f) -> list[str]:
    return g.sorted(g.edge(e) & g.edge(f))


def isomorphism(g1: Graph, g2: Graph) -> bool:
    """Exact test: networkx isomorphism of the vertex-hyperedge incidence graphs, sides kept apart."""
    from networkx import is_isomorphic

    if len(g1.names) != len(g2.names):
        return False
    return is_isomorphic(g1.hnx.bipartite(), g2.hnx.bipartite(),
                         node_match=lambda a, b: a.get("bipartite") == b.get("bipartite"))


# --- the naive builder ---------------------------------------------------------------------------------------


def _nset(g: Graph, name: str) -> str:
    return f"In {name}, the hyperedges are: " + ", ".join(
        f"{e} = ({', '.join(g.sorted(g.edge(e)))})" for e in g.hnx.edges) + "."


def _npair(g: Graph, name: str) -> str:
    pairs = sorted({(u, w) for u in g.members for w in g.neighbours(u) if g.order[u] < g.order[w]},
                   key=lambda p: (g.order[p[0]], g.order[p[1]]))
    return f"In {name}, the vertex pairs that share a hyperedge are: " + ", ".join(f"({u}, {w})" for u, w in pairs)


def _render(g: Graph, name: str, encoding: str) -> str:
    head = (f"{name} describes a hypergraph among vertices {', '.join(g.names)} and hyperedges "
            f"{', '.join(g.hnx.edges)}.")
    return head + "\n" + (_nset(g, name) if encoding == "n_set" else _npair(g, name))


def naive_question(task: str, graph, rng: random.Random):
    """(question text, answer, [Graph, ...]) for one of Odin's lean hypergraphs, or None when it has no such question.

    The hypernetx hypergraph is built here, once per example, as a naive builder would."""
    g = from_lean(graph)
    members = g.names if task in ("vertex_count", "hyperedge_count") else sorted(g.members, key=g.order.get)
    edges = list(g.hnx.edges)
    if not members or not edges:
        return None
    v = rng.choice(members)
    if task == "vertex_count":
        return "How many vertices does G have?", vertex_count(g), [g]
    if task == "hyperedge_count":
        return "How many hyperedges does G have?", hyperedge_count(g), [g]
    if task == "vertex_degree":
        return f"What is the degree of vertex {v}?", vertex_degree(g, v), [g]
    if task == "connected_vertices":
        return f"Which vertices share a hyperedge with vertex {v}?", connected_vertices(g, v), [g]
    if task == "disconnected_vertices":
        return f"Which vertices share no hyperedge with vertex {v}?", disconnected_vertices(g, v), [g]
    if task == "hyperedge_in_hyperedge":
        return "Is any hyperedge of G contained in another?", hyperedge_in_hyperedge(g), [g]
    if task in ("hyperedge_degree", "shared_vertices"):
        e, f = rng.choice(edges), rng.choice(edges)
        if task == "hyperedge_degree":
            return f"What is the degree of hyperedge {e}?", hyperedge_degree(g, e), [g]
        return f"Which vertices do hyperedges {e} and {f} share?", shared_vertices(g, e, f), [g]
    if len(members) < 2:
        return None
    u, w = rng.sample(members, 2)
    if task == "vertex_connection":
        return f"Is vertex {u} connected to vertex {w}?", vertex_connection(g, u, w), [g]
    if task == "shortest_path":
        return f"What is the shortest path from {u} to {w}?", shortest_path(g, u, w), [g]
    if task == "reachability":
        return f"Can vertex {w} be reached from vertex {u}?", reachability(g, u, w), [g]
    if task in ("vertex_set_connection", "vertex_set_in_hyperedge"):
        chosen = rng.sample(members, min(len(members), rng.choice((3, 4))))
        return f"Is the vertex set {{{', '.join(chosen)}}} in one hyperedge?", in_one_hyperedge(g, chosen), [g]
    if task == "isomorphism":
        permutation = list(range(graph.num_vertices))
        rng.shuffle(permutation)
        if rng.random() < 0.5:
            edges2 = [[graph.names[permutation[x]] for x in edge] for edge in graph.edges]
        else:  # same hyperedge sizes, random vertex sets
            edges2 = [rng.sample(graph.names, len(edge)) for edge in graph.edges]
        g2 = Graph(graph.names, {f"e{i}": edge for i, edge in enumerate(edges2)})
        return "Are G1 and G2 isomorphic?", isomorphism(g, g2), [g, g2]
    raise ValueError(f"task {task!r} is not one hypernetx answers")


def build(graphs, tasks: list[str], encodings: list[str], count: int, seed: int) -> list[dict]:
    """``count`` rows (prompt, completion, task, encoding) over ``graphs``, tasks and encodings in turn."""
    from odin_core.questions.answers import format_answer

    rows = []
    for i in range(count):
        rng = random.Random(seed + i)
        task = tasks[i % len(tasks)]
        encoding = encodings[(i // len(tasks)) % len(encodings)]
        if task in HIGH_ORDER:  # low-order encodings do not determine these answers
            encoding = "n_set"
        made = None
        for _try in range(40):
            made = naive_question(task, graphs[rng.randrange(len(graphs))], rng)
            if made is not None:
                break
        if made is None:
            continue
        question, answer, shown = made
        names = ["G"] if len(shown) == 1 else ["G1", "G2"]
        texts = [_render(g, name, encoding) for g, name in zip(shown, names)]
        rows.append({"prompt": "\n\n".join(texts) + f"\n\nQ: {question}\nA:",
                     "completion": " " + format_answer(COVERED[task], answer), "task": task, "encoding": encoding})
    return rows


# --- answering Odin's rows from their prompt text ------------------------------------------------------------

_HEADER = re.compile(r"^(G\d?) describes a hypergraph among (?:vertices|vertex) (.*?) and "
                     r"(?:hyperedges? .*|no hyperedges)\.$", re.M)
_EDGE = re.compile(r"(e\d+) = \(([^)]*)\)")
_VERTEX = re.compile(r"\bv\d+\b")
_HYPEREDGE = re.compile(r"\be\d+\b")


def _names(listing: str) -> list[str]:
    return [part.removeprefix("and ").strip() for part in re.split(r", | and ", listing) if part.strip()]


def graphs_of_prompt(prompt: str) -> list[Graph]:
    """The hypergraphs an N-Set prompt shows, read from its text."""
    heads = list(_HEADER.finditer(prompt))
    graphs = []
    for k, head in enumerate(heads):
        end = heads[k + 1].start() if k + 1 < len(heads) else prompt.index("\nQ: ")
        body = prompt[head.end():end]
        edges = {e: [x.strip() for x in inside.split(",")] for e, inside in _EDGE.findall(body)}
        graphs.append(Graph(_names(head.group(2)), edges))
    return graphs


def answer_row(row: dict):
    """hypernetx's answer to one of Odin's N-Set rows, from the prompt and question text alone."""
    task = row["task"].split(".")[-1]
    question = row["prompt"][row["prompt"].rindex("\nQ: "):]
    shown = graphs_of_prompt(row["prompt"])
    g = shown[0]
    vs = _VERTEX.findall(question)
    es = _HYPEREDGE.findall(question)
    if task == "vertex_count":
        return vertex_count(g)
    if task == "hyperedge_count":
        return hyperedge_count(g)
    if task == "vertex_degree":
        return vertex_degree(g, vs[0])
    if task == "vertex_connection":
        return vertex_connection(g, vs[0], vs[1])
    if task == "connected_vertices":
        return connected_vertices(g, vs[0])
    if task == "disconnected_vertices":
        return disconnected_vertices(g, vs[0])
    if task == "shortest_path":
        return shortest_path(g, vs[0], vs[1])
    if task == "reachability":
        return reachability(g, vs[0], vs[1])
    if task == "hyperedge_degree":
        return hyperedge_degree(g, es[0])
    if task in ("vertex_set_connection", "vertex_set_in_hyperedge"):
        return in_one_hyperedge(g, vs)
    if task == "hyperedge_in_hyperedge":
        return hyperedge_in_hyperedge(g)
    if task == "shared_vertices":
        return shared_vertices(g, es[0], es[1])
    if task == "isomorphism":
        return isomorphism(shown[0], shown[1])
    raise ValueError(f"task {task!r} is not one hypernetx answers")
