"""Hypergraph sources: files, the real hypergraphs bundled with hypernetx, generators, sampling.

Every source yields ``odin_core.hypergraph.Hypergraph`` objects with a stable
``graph_id`` and the ``params`` that made them. hypernetx is used to load its
bundled data and to run its generators; its import costs seconds, so it happens
inside the sources that need it, never at module import.

Input policy (all file and real-data sources):

- a vertex listed twice in one hyperedge is kept once (a hyperedge is a set);
  ``params["merged_duplicate_vertices"]`` counts them;
- a hyperedge with one vertex is kept unless ``min_edge_size`` is raised: it adds
  to the vertex's degree and to the hyperedge count but makes no vertex pair;
  ``params["dropped_small_edges"]`` counts what ``min_edge_size`` removed;
- the same vertex set listed as two hyperedges is kept once when
  ``dedupe_edges`` is true (the default), else both are kept (a multi-hypergraph);
- a hyperedge with no vertex is an error naming the file and line.

Vertices are numbered in order of first appearance; ``vertex_names = "ids"``
writes them ``v0, v1, ...`` in prompts, ``"data"`` uses the data's own names.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import random
from bisect import bisect_right
from pathlib import Path
from typing import Any, Iterator, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from odin_core import DataError, Hypergraph, OdinError, derive_seed, get_component

#: LLM4Hypergraph's vertex-count classes, drawn with equal probability.
DEFAULT_SIZE_CLASSES = ((5, 9), (10, 14), (15, 19))

VertexNames = Literal["ids", "data"]
_FORBIDDEN_IN_NAMES = (",", "[", "]", "\n", "\r")




class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _check_size_classes(value):
    for lo, hi in value:
        if lo < 1 or hi < lo:
            raise ValueError(f"each size class is [lowest, highest] with 1 <= lowest <= highest (got [{lo}, {hi}])")
    return value


# --- building the lean hypergraph -----------------------------------------


class _EdgeCollector:
    """Turns (vertex labels, line) records into a Hypergraph, applying the input policy."""

    def __init__(self, file, min_edge_size: int = 1, dedupe_edges: bool = True):
        self.file = file
        self.min_edge_size = min_edge_size
        self.dedupe_edges = dedupe_edges
        self.ids: dict[Any, int] = {}
        self.labels: list[Any] = []
        self.edges: list[tuple[int, ...]] = []
        self.seen: set[tuple[int, ...]] = set()
        self.merged_vertices = 0
        self.dropped_small = 0
        self.merged_edges = 0

    def vertex(self, label) -> int:
        vid = self.ids.get(label)
        if vid is None:
            vid = self.ids[label] = len(self.labels)
            self.labels.append(label)
        return vid

    def add(self, labels, line=None) -> None:
        if not labels:
            raise DataError("hyperedge with no vertices; expected at least one vertex", file=self.file, line=line)
        members = {self.vertex(label) for label in labels}
        self.merged_vertices += len(labels) - len(members)
        if len(members) < self.min_edge_size:
            self.dropped_small += 1
            return
        edge = tuple(sorted(members))
        if self.dedupe_edges:
            if edge in self.seen:
                self.merged_edges += 1
                return
            self.seen.add(edge)
        self.edges.append(edge)

    def build(self, graph_id: str, params: dict, vertex_names: str, line_of=None) -> Hypergraph:
        if not self.edges:
            raise DataError("holds no hyperedge (after min_edge_size); expected at least one", file=self.file)
        names = tuple(f"v{i}" for i in range(len(self.labels)))
        if vertex_names == "data":
            names = tuple(str(label) for label in self.labels)
            check_vertex_names(names, self.file, line_of)
        params = dict(params)
        for key, value in (("merged_duplicate_vertices", self.merged_vertices),
                           ("dropped_small_edges", self.dropped_small),
                           ("merged_duplicate_edges", self.merged_edges)):
            if value:
                params[key] = value
        return Hypergraph(names, tuple(self.edges), graph_id, params)


def check_vertex_names(names, file=None, line_of=None) -> None:
    """Data names must be unique and parse back from answers: no commas, brackets or line breaks."""
    seen = set()
    for name in names:
        bad = next((c for c in _FORBIDDEN_IN_NAMES if c in name), None)
        if bad is not None or not name.strip():
            line = line_of(name) if line_of else None
            what = "is empty" if not name.strip() else f"contains {bad!r}"
            raise DataError(f"vertex name {name!r} {what}, which answers cannot hold; "
                            "use vertex_names = \"ids\"", file=file, line=line)
        if name in seen:
            raise DataError(f"two vertices are both named {name!r}; use vertex_names = \"ids\"", file=file)
        seen.add(name)


def hypergraph_from_hnx(hnx_graph, graph_id: str, params: dict, vertex_names: VertexNames = "ids",
                        min_edge_size: int = 1, dedupe_edges: bool = True, edge_order=None,
                        vertex_order=None) -> Hypergraph:
    """Convert a ``hypernetx.Hypergraph``: vertices in ``vertex_order`` (then hypernetx's order), hyperedges in
    ``edge_order`` or hypernetx's order.

    hypernetx orders nodes by how its input was built; an input made from Python sets of strings
    changes order with the hash seed, so pass an explicit order for reproducible ids.
    """
    collector = _EdgeCollector(params.get("source", "hypernetx"), min_edge_size, dedupe_edges)
    for node in vertex_order or ():
        collector.vertex(node)
    for node in hnx_graph.nodes:
        collector.vertex(_plain(node))
    incidence = hnx_graph.incidence_dict
    for edge in (edge_order if edge_order is not None else incidence):
        collector.add([_plain(v) for v in incidence[edge]])
    return collector.build(graph_id, params, vertex_names)


def hypergraph_to_hnx(graph: Hypergraph):
    """The same hypergraph as a ``hypernetx.Hypergraph`` (hyperedges ``e0...``, vertices by name)."""
    import hypernetx as hnx

    return hnx.Hypergraph({f"e{i}": [graph.names[v] for v in edge] for i, edge in enumerate(graph.edges)})


def _plain(value):
    """numpy scalars -> Python scalars, so ids compare and print like the data."""
    return value.item() if hasattr(value, "item") else value


def _resolve(path: str, base_dir) -> Path:
    p = Path(path).expanduser()
    return p if p.is_absolute() else Path(base_dir) / p


def _read_text(path: Path) -> str:
    """UTF-8 text of a data file, or a DataError naming the file and the line of the first bad byte."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError("file does not exist", file=path) from None
    except IsADirectoryError:
        raise DataError("is a directory; expected a file", file=path) from None
    except OSError as exc:
        raise DataError(f"cannot be read ({exc.strerror})", file=path) from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DataError(f"is not UTF-8 text (byte 0x{raw[exc.start]:02x}); save it as UTF-8", file=path, line=line) from None


def _file_id(path: Path, text: str) -> str:
    return f"{path.name}#{hashlib.sha256(text.encode('utf-8')).hexdigest()[:12]}"


class _FileOptions(_Options):
    vertex_names: VertexNames = Field("ids", description="'ids': v0, v1, ... in prompts; 'data': the file's own vertex names")
    min_edge_size: int = Field(1, ge=1, description="hyperedges with fewer vertices are dropped (and counted)")
    dedupe_edges: bool = Field(True, description="keep one copy of hyperedges listing the same vertex set")


# --- HIF -----------------------------------------------------------------


class HifOptions(_FileOptions):
    path: str | list[str] = Field(description="HIF JSON file(s), relative to the recipe's folder")


class _LocatingDecoder(json.JSONDecoder):
    """A JSON decoder that records the line where each object starts (used only to report errors)."""

    def __init__(self, text: str):
        super().__init__()
        newlines = [i for i, c in enumerate(text) if c == "\n"]
        self.lines: dict[int, int] = {}
        plain_parse_object = self.parse_object

        def parse_object(s_and_end, *args):
            obj, end = plain_parse_object(s_and_end, *args)
            self.lines[id(obj)] = bisect_right(newlines, s_and_end[1] - 1) + 1
            return obj, end

        self.parse_object = parse_object
        self.scan_once = json.scanner.py_make_scanner(self)


def _hif_line(text: str, section: str, index: int):
    """Line of ``data[section][index]`` in the HIF text."""
    decoder = _LocatingDecoder(text)
    data = decoder.decode(text)
    return decoder.lines.get(id(data[section][index]))


def _refuse_ambiguous_ids(text: str, path: Path, key: str, sections) -> None:
    """A DataError when one id is written both as a number and as a string (``1`` and ``"1"``): whether they
    are one vertex (or hyperedge) or two is ambiguous."""
    seen: dict[str, tuple] = {}
    for section, items in sections:
        for i, item in enumerate(items):
            label = item[key]
            first = seen.setdefault(str(label), (label, section, i))
            if type(first[0]) is not type(label):
                raise DataError(f"{section}[{i}]: {key} id {json.dumps(label)} and {key} id {json.dumps(first[0])} "
                                f"({first[1]}[{first[2]}]) are ambiguous: one {key} or two? Write each {key} id the "
                                "same way everywhere (all strings, or all integers)", file=path,
                                line=_hif_line(text, section, i))


def read_hif(path, vertex_names: VertexNames = "ids", min_edge_size: int = 1, dedupe_edges: bool = True,
             graph_id: str | None = None) -> Hypergraph:
    """Read a HIF (Hypergraph Interchange Format) JSON file into a Hypergraph.

    Vertices listed in ``nodes`` but in no incidence are kept (isolated); a
    hyperedge listed in ``edges`` with no incidence is an error. Directed HIF is refused.
    """
    path = Path(path)
    text = _read_text(path)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"malformed JSON: {exc.msg} (column {exc.colno})", file=path, line=exc.lineno) from None
    except RecursionError:
        raise DataError("nests arrays or objects too deeply to read; expected a HIF object", file=path) from None
    if not isinstance(data, dict):
        raise DataError("expected a HIF object with an 'incidences' list at the top level", file=path, line=1)
    if data.get("network-type", "undirected") not in ("undirected", "asc"):
        raise DataError(f"network-type {data['network-type']!r} is not supported; expected 'undirected'",
                        file=path, key="network-type")

    def records(section, required):
        items = data.get(section, [] if section != "incidences" else None)
        if not isinstance(items, list):
            raise DataError(f"expected a list of {section}", file=path, key=section)
        for i, item in enumerate(items):
            missing = [k for k in required if not isinstance(item, dict) or k not in item]
            bad = [k for k in required if k not in missing
                   and (isinstance(item[k], bool) or not isinstance(item[k], (str, int)))]
            if missing or bad:
                what = f"missing {missing[0]!r}" if missing else \
                    f"{bad[0]!r} must be a string or an integer (got {json.dumps(item[bad[0]])})"
                raise DataError(f"{section}[{i}]: {what}; expected an object like "
                                f"{{{', '.join(f'{k!r}: ...' for k in required)}}}",
                                file=path, line=_hif_line(text, section, i))
        return items

    incidences = records("incidences", ("edge", "node"))
    nodes = records("nodes", ("node",))
    edges = records("edges", ("edge",))
    for key, sections in (("node", (("nodes", nodes), ("incidences", incidences))),
                          ("edge", (("edges", edges), ("incidences", incidences)))):
        _refuse_ambiguous_ids(text, path, key, sections)
    collector = _EdgeCollector(path, min_edge_size, dedupe_edges)
    for item in nodes:
        collector.vertex(item["node"])
    members: dict[Any, list] = {item["edge"]: [] for item in edges}
    for item in incidences:
        members.setdefault(item["edge"], []).append(item["node"])
    for i, (edge, labels) in enumerate(members.items()):
        if not labels:
            line = _hif_line(text, "edges", next(j for j, e in enumerate(edges) if e["edge"] == edge))
            raise DataError(f"hyperedge {edge!r} has no incidences; expected at least one vertex", file=path, line=line)
        collector.add(labels)
    metadata = data.get("metadata") if isinstance(data.get("metadata"), dict) else {}
    params = {"source": "hypernetx.hif", "file": path.name}
    if isinstance(metadata.get("name"), str):
        params["name"] = metadata["name"]
    return collector.build(graph_id or f"hif/{_file_id(path, text)}", params, vertex_names)


def write_hif(graph: Hypergraph, path=None, metadata: dict | None = None) -> dict:
    """The HIF form of ``graph`` (nodes by name, hyperedges ``e0...``); also written to ``path`` if given."""
    hif = {
        "network-type": "undirected",
        "metadata": {"name": graph.graph_id, **({"params": graph.params} if graph.params else {}), **(metadata or {})},
        "nodes": [{"node": name} for name in graph.names],
        "edges": [{"edge": f"e{i}"} for i in range(graph.num_edges)],
        "incidences": [{"edge": f"e{i}", "node": graph.names[v]} for i, edge in enumerate(graph.edges) for v in edge],
    }
    if path is not None:
        Path(path).write_text(json.dumps(hif, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return hif


class HifSource:
    """Hypergraphs from HIF JSON files (the Hypergraph Interchange Format of hnx.to_hif/from_hif)."""

    def __init__(self, options: HifOptions):
        self.options = options

    def paths(self, base_dir) -> list[Path]:
        paths = [self.options.path] if isinstance(self.options.path, str) else self.options.path
        return [_resolve(p, base_dir) for p in paths]

    input_files = paths

    def hypergraphs(self, seed: int, base_dir: str) -> Iterator[Hypergraph]:
        o = self.options
        for path in self.paths(base_dir):
            yield read_hif(path, o.vertex_names, o.min_edge_size, o.dedupe_edges)


# --- plain hyperedge lists -------------------------------------------------


class EdgeListOptions(_FileOptions):
    path: str | list[str] = Field(description="text/CSV file(s): one hyperedge per line")
    delimiter: Literal["auto", ",", ";", "\t", " "] = Field(
        "auto", description="'auto': commas when the line has one, else whitespace")
    comment: str = Field("#", description="lines starting with this are skipped")
    header: bool | Literal["auto"] = Field(
        "auto", description="whether the first line names the columns (skipped); 'auto': when its names are all "
                            "header words (edge, node, vertex, ...) or are words above lines of integers only")


#: column names that make a first line a header (``header = "auto"``)
HEADER_WORDS = {"edge", "edges", "hyperedge", "hyperedges", "edge_id", "node", "nodes", "node_id", "vertex",
                "vertices", "vertex_id", "member", "members", "id", "source", "target"}


def _is_header(lines: list[tuple[int, list[str]]]) -> bool:
    """Whether the first of the parsed lines names columns: only header words, or words over integers only."""
    if not lines:
        return False
    first = [label.lower() for label in lines[0][1]]
    if all(label in HEADER_WORDS for label in first):
        return True
    rest = [label for _, labels in lines[1:] for label in labels]
    return bool(rest) and all(not label.lstrip("-").isdigit() for label in first) and \
        all(label.lstrip("-").isdigit() for label in rest)


def read_edge_list(path, delimiter="auto", comment="#", vertex_names: VertexNames = "ids", min_edge_size: int = 1,
                   dedupe_edges: bool = True, header: bool | str = "auto") -> Hypergraph:
    """Read one hyperedge per line (vertex names separated by commas, tabs, semicolons or spaces); a first
    line naming the columns is skipped (``header``: True, False or "auto")."""
    path = Path(path)
    text = _read_text(path)
    collector = _EdgeCollector(path, min_edge_size, dedupe_edges)
    first_line: dict[str, int] = {}
    lines: list[tuple[int, list[str]]] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or (comment and stripped.startswith(comment)):
            continue
        sep = delimiter if delimiter != "auto" else ("," if "," in stripped else None)
        if sep in (None, " "):
            labels = stripped.split()
        else:
            try:
                rows = list(csv.reader(io.StringIO(stripped), delimiter=sep, strict=True))
            except csv.Error as exc:
                raise DataError(f"malformed CSV: {exc}", file=path, line=lineno) from None
            labels = [field.strip() for field in (rows[0] if rows else [])]
            if not any(labels):
                labels = []
            elif labels[-1] == "":
                labels.pop()  # one trailing delimiter is tolerated
            if any(label == "" for label in labels):
                raise DataError(f"empty vertex name (two {sep!r} in a row); expected names between delimiters",
                                file=path, line=lineno)
        if not labels:
            raise DataError("hyperedge with no vertices; expected at least one vertex", file=path, line=lineno)
        lines.append((lineno, labels))
    params = {"source": "hypernetx.edgelist", "file": path.name}
    if lines and (header is True or (header == "auto" and _is_header(lines))):
        params["header_line"] = lines[0][0]
        lines = lines[1:]
    for lineno, labels in lines:
        for label in labels:
            first_line.setdefault(label, lineno)
        collector.add(labels, line=lineno)
    return collector.build(f"edgelist/{_file_id(path, text)}", params, vertex_names, line_of=first_line.get)


class EdgeListSource:
    """Hypergraphs from text or CSV files with one hyperedge per line."""

    def __init__(self, options: EdgeListOptions):
        self.options = options

    def input_files(self, base_dir) -> list[Path]:
        paths = [self.options.path] if isinstance(self.options.path, str) else self.options.path
        return [_resolve(p, base_dir) for p in paths]

    def hypergraphs(self, seed: int, base_dir: str) -> Iterator[Hypergraph]:
        o = self.options
        for path in self.input_files(base_dir):
            yield read_edge_list(path, o.delimiter, o.comment, o.vertex_names, o.min_edge_size, o.dedupe_edges,
                                 o.header)


# --- Benson's nverts/simplices pair -------------------------------------------


class BensonOptions(_FileOptions):
    path: str = Field(description="the dataset prefix ('data/email-Enron/email-Enron' for email-Enron-nverts.txt "
                                  "and email-Enron-simplices.txt) or the folder holding them")


def _benson_prefix(path: Path) -> Path:
    if path.is_dir():
        found = sorted(path.glob("*-nverts.txt"))
        if len(found) != 1:
            raise DataError(f"expected exactly one *-nverts.txt file in the folder, found {len(found)}", file=path)
        return found[0].with_name(found[0].name[: -len("-nverts.txt")])
    return path


def _int_lines(path: Path, text: str, minimum: int) -> tuple[list[int], list[int]]:
    values, lines = [], []
    for lineno, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped:
            continue
        try:
            value = int(stripped)
        except ValueError:
            raise DataError(f"expected one integer per line, got {stripped[:40]!r}", file=path, line=lineno) from None
        if value < minimum:
            what = "hyperedge with no vertices" if minimum == 1 and value == 0 else f"value {value} below {minimum}"
            raise DataError(f"{what}; expected an integer >= {minimum}", file=path, line=lineno)
        values.append(value)
        lines.append(lineno)
    return values, lines


def read_benson(path, vertex_names: VertexNames = "ids", min_edge_size: int = 1, dedupe_edges: bool = True) -> Hypergraph:
    """Read a Benson-collection hypergraph: ``PREFIX-nverts.txt`` (sizes) + ``PREFIX-simplices.txt`` (vertex ids).

    Vertex names for ``vertex_names = "data"`` come from ``PREFIX-node-labels.txt`` when present, else the ids.
    """
    prefix = _benson_prefix(Path(path))
    nverts_path = prefix.with_name(prefix.name + "-nverts.txt")
    simplices_path = prefix.with_name(prefix.name + "-simplices.txt")
    nverts_text = _read_text(nverts_path)
    simplices_text = _read_text(simplices_path)
    sizes, size_lines = _int_lines(nverts_path, nverts_text, minimum=1)
    members, member_lines = _int_lines(simplices_path, simplices_text, minimum=0)
    if sum(sizes) != len(members):
        raise DataError(f"the sizes in {nverts_path.name} add up to {sum(sizes)} but {simplices_path.name} lists "
                        f"{len(members)} vertices; expected equal counts", file=nverts_path)
    labels_path = prefix.with_name(prefix.name + "-node-labels.txt")
    labels = None
    if vertex_names == "data" and labels_path.exists():
        labels = {}
        for i, line in enumerate(_read_text(labels_path).splitlines(), start=1):
            label = line.strip()
            if label:
                labels[i] = label.split(" ", 1)[1] if label.split(" ", 1)[0] == str(i) and " " in label else label
    collector = _EdgeCollector(simplices_path, min_edge_size, dedupe_edges)
    start = 0
    for size, line in zip(sizes, size_lines):
        ids = members[start : start + size]
        collector.add([labels.get(v, str(v)) if labels else v for v in ids], line=member_lines[start])
        start += size
    digest = hashlib.sha256((nverts_text + "\0" + simplices_text).encode("utf-8")).hexdigest()[:12]
    return collector.build(f"benson/{prefix.name}#{digest}", {"source": "hypernetx.benson", "dataset": prefix.name},
                           vertex_names)


class BensonSource:
    """A hypergraph from the Benson collection's ``*-nverts.txt`` + ``*-simplices.txt`` pair."""

    def __init__(self, options: BensonOptions):
        self.options = options

    def input_files(self, base_dir) -> list[Path]:
        prefix = _benson_prefix(_resolve(self.options.path, base_dir))
        files = [prefix.with_name(prefix.name + suffix) for suffix in ("-nverts.txt", "-simplices.txt", "-node-labels.txt")]
        return [f for f in files if f.exists()] or files[:2]

    def hypergraphs(self, seed: int, base_dir: str) -> Iterator[Hypergraph]:
        o = self.options
        yield read_benson(_resolve(o.path, base_dir), o.vertex_names, o.min_edge_size, o.dedupe_edges)


# --- hypergraphs bundled with hypernetx ------------------------------------


class _BundledOptions(_Options):
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
        collector = _EdgeCollector("hypernetx disGene.txt", o.min_edge_size, o.dedupe_edges)
        for edge in sorted(members):
            collector.add(sorted(members[edge]))
        yield collector.build(f"disease_gene/{o.edges}", {"source": "hypernetx.disease_gene", "edges": o.edges},
                              o.vertex_names)


# --- synthetic: LLM4Hypergraph's G(n, m) --------------------------------------


class SyntheticOptions(_Options):
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


class RandomOptions(_Options):
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


class StructuresOptions(_Options):
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


class SampleOptions(_Options):
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
