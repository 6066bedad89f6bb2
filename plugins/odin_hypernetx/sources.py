"""Hypergraph sources: the real hypergraphs bundled with hypernetx, generators, sampling.

Every source yields ``odin_core.questions.hypergraph.Hypergraph`` objects with a stable
``graph_id`` and the ``params`` that made them. hypernetx is used to load its
bundled data and to run its generators; its import costs seconds, so it happens
inside the sources that need it, never at module import. The file sources (HIF,
edge lists, Benson) are in ``odin_hypernetx.files``; the input policy is in
``odin_hypernetx.building``.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any, Iterator, Literal

from pydantic import Field, PrivateAttr, field_validator, model_validator

from odin_core import DataError, Hypergraph, OdinError, derive_seed, get_component
from odin_hypernetx.building import EdgeCollector, SourceOptions, VertexNames, check_vertex_names, hypergraph_from_hnx

#: LLM4Hypergraph's vertex-count classes, drawn with equal probability.
DEFAULT_SIZE_CLASSES = ((5, 9), (10, 14), (15, 19))


def _check_size_classes(value):
    for lo, hi in value:
        if lo < 1 or hi < lo:
            raise ValueError(f"each size class is [lowest, highest] with 1 <= lowest <= highest (got [{lo}, {hi}])")
    return value


# --- hypergraphs bundled with hypernetx ------------------------------------


class _BundledOptions(SourceOptions):
    vertex_names: VertexNames = Field("ids", description="'ids': v0, v1, ... in prompts; 'data': the data's own names")
    min_edge_size: int = Field(1, ge=1, description="hyperedges with fewer vertices are dropped (and counted)")
    dedupe_edges: bool = Field(True, description="keep one copy of hyperedges with the same vertex set")


class LesMisOptions(_BundledOptions):
    by: Literal["volume", "book", "chapter", "scene"] = Field(
        "chapter", description="what one hyperedge is: the characters of one volume, book, chapter or scene")
    names: Literal["symbols", "full"] = Field("symbols", description="with vertex_names = 'data': 'JV' or 'Jean Valjean'")


class LesMisSource:
    """Les Misérables from hypernetx's bundled data: characters, and the ones meeting in each chapter (or scene, book)."""

    def __init__(self, options: LesMisOptions):
        self.options = options

    def hypergraphs(self, seed: int, base_dir: str) -> Iterator[Hypergraph]:
        import pandas as pd
        from hypernetx.utils.toys import lesmis

        o = self.options
        columns = ["Volume", "Book", "Chapter", "Scene", "Step", "Characters"]
        scenes = pd.DataFrame(list(lesmis.get_scene_data()), columns=columns)
        hnx_graph = lesmis.lesmis_hypergraph_from_df(scenes, by=o.by.capitalize())
        order = sorted(hnx_graph.incidence_dict, key=lambda e: tuple(int(part) for part in str(e).split(".")))
        graph = hypergraph_from_hnx(hnx_graph, f"lesmis/{o.by}", {"source": "hypernetx.lesmis", "by": o.by},
                                    "data", o.min_edge_size, o.dedupe_edges, edge_order=order,
                                    vertex_order=list(dict.fromkeys(scenes["Characters"])))
        if o.vertex_names == "ids":
            graph = Hypergraph(tuple(f"v{i}" for i in range(graph.num_vertices)), graph.edges, graph.graph_id, graph.params)
        elif o.names == "full":
            full = {}
            for row in lesmis.names.split("\n"):
                symbol, rest = row.split(" ", 1)
                full[symbol] = rest.split(",", 1)[0]
            graph = Hypergraph(tuple(_clean(full.get(s, s)) for s in graph.names), graph.edges, graph.graph_id, graph.params)
            check_vertex_names(graph.names, "hypernetx Les Misérables names")
        yield graph


def _clean(name: str) -> str:
    """LaTeX accents in hypernetx's Les Mis names -> plain letters."""
    for code, letter in ((r"\`e", "è"), (r"\'e", "é"), (r"\^o", "ô"), (r"\c{c}", "ç")):
        name = name.replace(code, letter)
    return name


class HarryPotterOptions(_BundledOptions):
    columns: list[str] = Field(["House", "Blood status", "Species", "Loyalty"], min_length=1,
                               description="character attributes; each value of each becomes a hyperedge")


class HarryPotterSource:
    """Harry Potter characters (hypernetx's bundled CSV, never its URL): one hyperedge per attribute value."""

    def __init__(self, options: HarryPotterOptions):
        self.options = options

    @staticmethod
    def csv_path() -> Path:
        import hypernetx.utils.toys as toys

        return Path(toys.__file__).parent / "HarryPotter_Characters.csv"

    def hypergraphs(self, seed: int, base_dir: str) -> Iterator[Hypergraph]:
        import hypernetx as hnx
        import pandas as pd

        o = self.options
        path = self.csv_path()
        # The bundled file is Windows-1252 text (e.g. 0xbe for the 3/4 in wand lengths).
        table = pd.read_csv(path, encoding="cp1252", dtype=str)
        unknown = [c for c in o.columns if c not in table.columns]
        if unknown:
            raise DataError(f"unknown column {unknown[0]!r}; expected some of: {', '.join(table.columns[1:])}",
                            file=path, line=1)
        pairs = []
        for _, row in table.iterrows():
            character = " ".join(str(row["Name"]).replace("\xa0", " ").split())
            for column in o.columns:
                cell = row[column]
                if not isinstance(cell, str):
                    continue
                for value in cell.replace("\xa0", " ").split("|"):
                    value = " ".join(value.split())
                    if value and value.lower() != "unknown":
                        pairs.append((f"{column}: {value}", character))
        frame = pd.DataFrame(pairs, columns=["edge", "node"])
        hnx_graph = hnx.Hypergraph(frame)
        graph = hypergraph_from_hnx(hnx_graph, "harry_potter/" + "+".join(o.columns),
                                    {"source": "hypernetx.harry_potter", "columns": list(o.columns)},
                                    o.vertex_names, o.min_edge_size, o.dedupe_edges,
                                    edge_order=list(dict.fromkeys(e for e, _ in pairs)),
                                    vertex_order=list(dict.fromkeys(v for _, v in pairs)))
        yield graph


class DiseaseGeneOptions(_BundledOptions):
    edges: Literal["diseases", "genes"] = Field(
        "diseases", description="'diseases': one hyperedge per disease holding its genes; 'genes': the dual")


class DiseaseGeneSource:
    """The disease–gene network bundled with hypernetx (``GeneData``): about 2,300 diseases over 12,000 genes."""

    def __init__(self, options: DiseaseGeneOptions):
        self.options = options

    def hypergraphs(self, seed: int, base_dir: str) -> Iterator[Hypergraph]:
        from hypernetx.utils.toys.gene_data import GeneData

        o = self.options
        data = GeneData()
        network = data.disease_gene_network
        diseases = {d.strip() for d in data.diseases}
        members: dict[str, list[str]] = {}
        for a, b in network.edges():
            a, b = a.strip(), b.strip()
            disease, gene = (a, b) if a in diseases else (b, a)
            edge, vertex = (disease, gene) if o.edges == "diseases" else (gene, disease)
            members.setdefault(edge, []).append(vertex)
        collector = EdgeCollector("hypernetx disGene.txt", o.min_edge_size, o.dedupe_edges)
        for edge in sorted(members):
            collector.add(sorted(members[edge]))
        yield collector.build(f"disease_gene/{o.edges}", {"source": "hypernetx.disease_gene", "edges": o.edges},
                              o.vertex_names)


# --- synthetic: LLM4Hypergraph's G(n, m) --------------------------------------


class SyntheticOptions(SourceOptions):
    count: int = Field(500, ge=1, description="number of hypergraphs")
    size_classes: list[tuple[int, int]] = Field(
        list(DEFAULT_SIZE_CLASSES),
        description="vertex-count classes [lowest, highest]; a class is picked uniformly, then n within it")
    edges_per_vertex: tuple[float, float] = Field(
        (0.2, 1.5), description="m is drawn from range(int(lo * n), int(hi * n)), as in LLM4Hypergraph")
    edge_size_decay: float = Field(
        3.0, ge=1.0, description="hyperedge size k has weight decay^-(k - min_edge_size): 3 as LLM4Hypergraph's "
                                 "generator, 2 for its high-order variant (2^-k), 1 for uniform sizes")
    min_edge_size: int = Field(2, ge=1)
    max_edge_size: int | None = Field(None, ge=1, description="largest hyperedge (default: n)")
    distinct_edges: bool = Field(True, description="redraw a hyperedge whose vertex set is already taken")

    @field_validator("size_classes")
    @classmethod
    def _classes(cls, value):
        return _check_size_classes(value)

    @model_validator(mode="after")
    def _consistent(self):
        lo, hi = self.edges_per_vertex
        if not 0 <= lo < hi:
            raise ValueError(f"edges_per_vertex must be [lo, hi] with 0 <= lo < hi (got {[lo, hi]})")
        if self.max_edge_size is not None and self.max_edge_size < self.min_edge_size:
            raise ValueError("max_edge_size must be at least min_edge_size")
        return self


def gnm_hypergraph(rng: random.Random, n: int, m: int, decay: float = 3.0, min_size: int = 2,
                   max_size: int | None = None, distinct: bool = True) -> list[tuple[int, ...]]:
    """``m`` hyperedges over vertices ``0..n-1``; size k in [min_size, max_size] with weight decay^-(k - min_size)."""
    top = min(n, max_size or n)
    if top < min_size:
        return []
    sizes = list(range(min_size, top + 1))
    weights = [decay ** -(k - min_size) for k in sizes]
    vertices = range(n)
    edges, seen = [], set()
    for _ in range(m):
        for _attempt in range(20):
            k = rng.choices(sizes, weights)[0]
            edge = tuple(sorted(rng.sample(vertices, k)))
            if not distinct or edge not in seen:
                break
        else:
            continue  # this (small) n has run out of fresh vertex sets
        seen.add(edge)
        edges.append(edge)
    return edges


class SyntheticSource:
    """LLM4Hypergraph's synthetic G(n, m) hypergraphs: n from size classes 5–9, 10–14, 15–19, m in [0.2n, 1.5n)."""

    def __init__(self, options: SyntheticOptions):
        self.options = options

    def hypergraphs(self, seed: int, base_dir: str) -> Iterator[Hypergraph]:
        o = self.options
        lo_f, hi_f = o.edges_per_vertex
        for i in range(o.count):
            rng = random.Random(derive_seed(seed, "synthetic", i))
            size_class = rng.choice(o.size_classes)
            n = rng.randint(*size_class)
            m_range = range(max(1, int(lo_f * n)), max(2, int(hi_f * n)))
            m = rng.choice(m_range)
            edges = gnm_hypergraph(rng, n, m, o.edge_size_decay, o.min_edge_size, o.max_edge_size, o.distinct_edges)
            params = {"source": "hypernetx.synthetic", "n": n, "m": len(edges), "size_class": list(size_class),
                      "edge_size_decay": o.edge_size_decay}
            yield Hypergraph(tuple(f"v{v}" for v in range(n)), tuple(edges), f"synthetic/{seed}/{i}", params)


# --- hypernetx's random generators --------------------------------------------


class RandomOptions(SourceOptions):
    model: Literal["erdos_renyi", "chung_lu", "dcsbm"] = Field(
        "erdos_renyi", description="hnx.erdos_renyi_hypergraph, hnx.chung_lu_hypergraph or hnx.dcsbm_hypergraph")
    count: int = Field(50, ge=1, description="number of hypergraphs (each costs hypernetx about 20 ms)")
    size_classes: list[tuple[int, int]] = Field(list(DEFAULT_SIZE_CLASSES),
                                                description="vertex-count classes, as for hypernetx.synthetic")
    edges_per_vertex: tuple[float, float] = Field((0.2, 1.5), description="m from range(int(lo * n), int(hi * n))")
    p: float = Field(0.3, gt=0, lt=1, description="erdos_renyi: probability that a vertex is in a hyperedge")
    max_degree: int = Field(3, ge=1, description="chung_lu, dcsbm: vertex degrees drawn uniformly from 1..max_degree")
    groups: int = Field(2, ge=1, description="dcsbm: number of communities")
    within: float = Field(0.8, ge=0, le=1, description="dcsbm: share of incidences inside a community")

    @field_validator("size_classes")
    @classmethod
    def _classes(cls, value):
        return _check_size_classes(value)


class RandomSource:
    """Hypergraphs from hypernetx's generators (Erdős–Rényi, Chung–Lu, degree-corrected SBM), seeded."""

    def __init__(self, options: RandomOptions):
        self.options = options

    def _generate(self, rng: random.Random, n: int, m: int):
        import hypernetx as hnx
        import numpy as np

        o = self.options
        if o.model == "erdos_renyi":
            return hnx.erdos_renyi_hypergraph(n, m, o.p)
        degrees = {v: rng.randint(1, o.max_degree) for v in range(n)}
        sizes = {e: 1 for e in range(m)}
        for _ in range(max(0, sum(degrees.values()) - m)):  # split the same total over the hyperedges
            sizes[rng.randrange(m)] += 1
        if o.model == "chung_lu":
            return hnx.chung_lu_hypergraph(degrees, sizes)
        vertex_groups = {v: rng.randrange(o.groups) for v in range(n)}
        edge_groups = {e: rng.randrange(o.groups) for e in range(m)}
        total = sum(degrees.values())
        if o.groups == 1:
            omega = np.array([[float(total)]])
        else:
            off = total * (1 - o.within) / (o.groups * (o.groups - 1))
            omega = np.full((o.groups, o.groups), off)
            np.fill_diagonal(omega, total * o.within / o.groups)
        return hnx.dcsbm_hypergraph(degrees, sizes, vertex_groups, edge_groups, omega)

    def hypergraphs(self, seed: int, base_dir: str) -> Iterator[Hypergraph]:
        import warnings

        o = self.options
        lo_f, hi_f = o.edges_per_vertex
        for i in range(o.count):
            rng = random.Random(derive_seed(seed, "random", o.model, i))
            size_class = rng.choice(o.size_classes)
            n = rng.randint(*size_class)
            m = rng.choice(range(max(1, int(lo_f * n)), max(2, int(hi_f * n))))
            # hypernetx's generators draw from the global `random` module: seed it, then put it back.
            state = random.getstate()
            random.seed(derive_seed(seed, "random-global", o.model, i))
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    hnx_graph = self._generate(rng, n, m)
            finally:
                random.setstate(state)
            incidence = {int(e): sorted(int(v) for v in vs) for e, vs in hnx_graph.incidence_dict.items()}
            edges = [tuple(incidence[e]) for e in sorted(incidence) if incidence[e]]
            if not edges:
                continue
            params = {"source": "hypernetx.random", "model": o.model, "n": n, "m": len(edges)}
            yield Hypergraph.from_edges(edges, num_vertices=n, graph_id=f"random/{o.model}/{seed}/{i}", params=params)


# --- structure families of the classification task ---------------------------


class StructuresOptions(SourceOptions):
    count: int = Field(60, ge=1, description="number of hypergraphs, cycling through the three families")


class StructuresSource:
    """Hyper pyramids, hyper checked tables and hyper wheels (the structure classification families), relabelled."""

    def __init__(self, options: StructuresOptions):
        self.options = options

    def hypergraphs(self, seed: int, base_dir: str) -> Iterator[Hypergraph]:
        from odin_hypernetx.structures import STRUCTURE_LABELS, random_structure

        for i in range(self.options.count):
            rng = random.Random(derive_seed(seed, "structures", i))
            label = STRUCTURE_LABELS[i % len(STRUCTURE_LABELS)]
            graph = random_structure(label, rng, graph_id=f"structures/{seed}/{i}")
            yield Hypergraph(graph.names, graph.edges, graph.graph_id,
                             {"source": "hypernetx.structures", **graph.params})


# --- sampling prompt-sized pieces of a large hypergraph ------------------------


class SampleOptions(SourceOptions):
    source: dict = Field(description="the source to sample from, e.g. { name = \"hypernetx.lesmis\", by = \"scene\" }")
    count: int = Field(200, ge=1, description="number of sub-hypergraphs")
    size_classes: list[tuple[int, int]] = Field(
        list(DEFAULT_SIZE_CLASSES), description="vertex budget of each sample, as for hypernetx.synthetic")
    edges_per_vertex: float = Field(1.5, gt=0, description="stop once a sample has this many hyperedges per vertex budget")
    vertex_names: VertexNames = Field("ids", description="'ids': renumber v0, v1, ...; 'data': keep the source's names")
    max_attempts: int = Field(50, ge=1, description="walks tried per sample before giving up")

    @field_validator("size_classes")
    @classmethod
    def _classes(cls, value):
        return _check_size_classes(value)
    _inner: Any = PrivateAttr(None)

    @field_validator("source")
    @classmethod
    def _known_source(cls, value):
        if not isinstance(value.get("name"), str):
            raise ValueError("needs a 'name' naming a source, e.g. { name = \"hypernetx.lesmis\" }")
        if value["name"] == "hypernetx.sample":
            raise ValueError("cannot sample from hypernetx.sample itself")
        try:
            component = get_component("source", value["name"])
        except OdinError as exc:
            raise ValueError(exc.message) from None
        rest = {k: v for k, v in value.items() if k != "name"}
        if component.options is None:
            if rest:
                raise ValueError(f"source {value['name']!r} takes no options (got {', '.join(rest)})")
        else:
            from pydantic import ValidationError

            try:
                component.options.model_validate(rest)
            except ValidationError as exc:
                err = exc.errors()[0]
                where = ".".join(str(p) for p in err["loc"])
                raise ValueError(f"{where}: {err['msg']}") from None
        return value


class SampleSource:
    """Prompt-sized sub-hypergraphs of a large source, by random walks over hyperedges from a centre vertex.

    Each walk starts at a random vertex, moves through a random hyperedge containing
    it to a random vertex of that hyperedge, and keeps each new hyperedge that still
    fits the sample's vertex budget. Work is proportional to the walk, never to the
    size of the source (after one pass to index its incidences).
    """

    def __init__(self, options: SampleOptions):
        self.options = options

    def _inner_source(self):
        spec = dict(self.options.source)
        component = get_component("source", spec.pop("name"))
        options = component.options.model_validate(spec) if component.options is not None else None
        return component.create(options)

    def input_files(self, base_dir) -> list[Path]:
        inner = self._inner_source()
        return list(inner.input_files(base_dir)) if hasattr(inner, "input_files") else []

    def hypergraphs(self, seed: int, base_dir: str) -> Iterator[Hypergraph]:
        parents = list(self._inner_source().hypergraphs(derive_seed(seed, "parent"), base_dir))
        if not parents:
            raise DataError(f"source {self.options.source['name']!r} yielded no hypergraph to sample from",
                            key="source")
        largest = max(p.num_vertices for p in parents)
        smallest_budget = min(lo for lo, _ in self.options.size_classes)
        if smallest_budget > largest:
            raise DataError(f"sample size {smallest_budget} vertices is larger than the source allows "
                            f"({largest} vertices in its largest hypergraph)", key="size_classes")
        walkers = [_Walker(p) for p in parents]
        for i in range(self.options.count):
            rng = random.Random(derive_seed(seed, "sample", i))
            walker = walkers[i % len(walkers)]
            yield self._sample(walker, rng, seed, i)

    def _sample(self, walker: "_Walker", rng: random.Random, seed: int, index: int) -> Hypergraph:
        o = self.options
        size_class = rng.choice(o.size_classes)
        budget = min(rng.randint(*size_class), walker.graph.num_vertices)
        max_edges = max(1, int(o.edges_per_vertex * budget))
        best = None
        for _attempt in range(o.max_attempts):
            vertices, edges = walker.walk(rng, budget, max_edges)
            if best is None or (len(edges), len(vertices)) > (len(best[1]), len(best[0])):
                best = vertices, edges
            if len(vertices) >= size_class[0] or len(vertices) == budget:
                break
        vertices, edges = best
        if not edges:
            raise DataError(f"no walk from {o.max_attempts} starts found a hyperedge of at most {budget} vertices "
                            f"in {walker.graph.graph_id!r}; raise size_classes", key="size_classes")
        parent = walker.graph
        order = {v: i for i, v in enumerate(vertices)}
        names = (tuple(f"v{i}" for i in range(len(vertices))) if o.vertex_names == "ids"
                 else tuple(parent.names[v] for v in vertices))
        local = tuple(tuple(sorted(order[v] for v in parent.edges[e])) for e in edges)
        params = {"source": "hypernetx.sample", "parent": parent.graph_id, "parent_params": parent.params,
                  "start": parent.names[vertices[0]], "n": len(vertices), "m": len(local)}
        return Hypergraph(names, local, f"{parent.graph_id}/walk/{seed}/{index}", params)


class _Walker:
    """Random walks over one large hypergraph, with its incidence lists indexed once."""

    def __init__(self, graph: Hypergraph):
        self.graph = graph
        self.incident: list[list[int]] = [[] for _ in range(graph.num_vertices)]
        for e, edge in enumerate(graph.edges):
            for v in edge:
                self.incident[v].append(e)
        self.starts = [v for v, es in enumerate(self.incident) if es]

    def walk(self, rng: random.Random, budget: int, max_edges: int):
        """(vertices in discovery order, hyperedge ids) of one walk within the vertex budget."""
        edges_of = self.graph.edges
        current = rng.choice(self.starts)
        vertices, seen_vertices = [current], {current}
        chosen, seen_edges = [], set()
        for _step in range(20 * budget + 20):
            e = rng.choice(self.incident[current])
            members = edges_of[e]
            if e not in seen_edges:
                new = [v for v in members if v not in seen_vertices]
                if len(seen_vertices) + len(new) <= budget:
                    seen_edges.add(e)
                    chosen.append(e)
                    vertices.extend(new)
                    seen_vertices.update(new)
                    if len(chosen) >= max_edges or len(seen_vertices) >= budget:
                        break
            if e in seen_edges:  # move only along hyperedges the sample holds, so it stays connected
                current = rng.choice(members)
            elif rng.random() < 0.2:
                current = rng.choice(vertices)
        return vertices, chosen
