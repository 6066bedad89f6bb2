"""Hypergraph files: HIF JSON, plain hyperedge lists, and Benson's nverts/simplices pairs (read, and HIF write).

Every reader applies the input policy of ``odin_hypernetx.building`` and names the
file and line of what it cannot read.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import sys
from bisect import bisect_right
from pathlib import Path
from typing import Any, Iterator, Literal

from pydantic import Field

from odin_core import DataError, Hypergraph, read_utf8
from odin_hypernetx.building import MAX_ID_LENGTH, EdgeCollector, SourceOptions, VertexNames


def _resolve(path: str, base_dir) -> Path:
    p = Path(path).expanduser()
    return p if p.is_absolute() else Path(base_dir) / p


def _resolve_all(paths: str | list[str], base_dir) -> list[Path]:
    """A source's ``path`` option (one path or a list), each resolved against the recipe's folder."""
    return [_resolve(p, base_dir) for p in ([paths] if isinstance(paths, str) else paths)]


def _file_id(path: Path, text: str) -> str:
    return f"{path.name}#{hashlib.sha256(text.encode('utf-8')).hexdigest()[:12]}"


class FileOptions(SourceOptions):
    vertex_names: VertexNames = Field("ids", description="'ids': v0, v1, ... in prompts; 'data': the file's own vertex names")
    min_edge_size: int = Field(1, ge=1, description="hyperedges with fewer vertices are dropped (and counted)")
    dedupe_edges: bool = Field(True, description="keep one copy of hyperedges listing the same vertex set")


# --- HIF -----------------------------------------------------------------


class HifOptions(FileOptions):
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
    text = read_utf8(path, expected="a HIF JSON file")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"malformed JSON: {exc.msg} (column {exc.colno})", file=path, line=exc.lineno) from None
    except RecursionError:
        raise DataError("nests arrays or objects too deeply to read; expected a HIF object", file=path) from None
    except ValueError:  # a number past Python's limit on the digits it converts (4,300)
        raise DataError(f"holds a number of over {sys.get_int_max_str_digits():,} digits, too long to read; expected "
                        f"vertex and hyperedge ids of at most {MAX_ID_LENGTH} characters", file=path) from None
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
    collector = EdgeCollector(path, min_edge_size, dedupe_edges)
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
        return _resolve_all(self.options.path, base_dir)

    input_files = paths

    def hypergraphs(self, seed: int, base_dir: str) -> Iterator[Hypergraph]:
        o = self.options
        for path in self.paths(base_dir):
            yield read_hif(path, o.vertex_names, o.min_edge_size, o.dedupe_edges)


# --- plain hyperedge lists -------------------------------------------------


class EdgeListOptions(FileOptions):
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
    text = read_utf8(path, expected="a hyperedge list")
    collector = EdgeCollector(path, min_edge_size, dedupe_edges)
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
        return _resolve_all(self.options.path, base_dir)

    def hypergraphs(self, seed: int, base_dir: str) -> Iterator[Hypergraph]:
        o = self.options
        for path in self.input_files(base_dir):
            yield read_edge_list(path, o.delimiter, o.comment, o.vertex_names, o.min_edge_size, o.dedupe_edges,
                                 o.header)


# --- Benson's nverts/simplices pair -------------------------------------------


class BensonOptions(FileOptions):
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
    nverts_text = read_utf8(nverts_path, expected="a Benson nverts file")
    simplices_text = read_utf8(simplices_path, expected="a Benson simplices file")
    sizes, size_lines = _int_lines(nverts_path, nverts_text, minimum=1)
    members, member_lines = _int_lines(simplices_path, simplices_text, minimum=0)
    if sum(sizes) != len(members):
        raise DataError(f"the sizes in {nverts_path.name} add up to {sum(sizes)} but {simplices_path.name} lists "
                        f"{len(members)} vertices; expected equal counts", file=nverts_path)
    labels_path = prefix.with_name(prefix.name + "-node-labels.txt")
    labels = None
    if vertex_names == "data" and labels_path.exists():
        labels = {}
        for i, line in enumerate(read_utf8(labels_path, expected="a Benson node-labels file").splitlines(), start=1):
            label = line.strip()
            if label:
                labels[i] = label.split(" ", 1)[1] if label.split(" ", 1)[0] == str(i) and " " in label else label
    collector = EdgeCollector(simplices_path, min_edge_size, dedupe_edges)
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
