"""Hypergraph sources: files (HIF, edge lists, Benson), hypernetx's bundled data offline, generators, sampling."""

import json
import random
import socket
import types

import pytest

from odin_core.foundation.errors import DataError, RecipeError
from conftest import load_data_recipe
from odin_core.components.plugins import registry
from odin_core.questions.hypergraph import Hypergraph
from odin_hypernetx import building
from odin_hypernetx.files import read_benson, read_edge_list, read_hif, write_hif


def make(name, **options):
    component = registry()["source"][name]
    return component.create(component.options.model_validate(options) if component.options else None)


def produce(name, seed=1, base_dir=".", **options):
    return list(make(name, **options).hypergraphs(seed, str(base_dir)))


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a network connection fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


@pytest.fixture
def offline_hif_schema(monkeypatch):
    """hypernetx 2.4's to_hif/from_hif download their JSON schema on every call; give them a local one."""
    import hypernetx.hif as hif_module

    schema = {"type": "object", "required": ["incidences"],
              "properties": {"incidences": {"type": "array", "items": {"type": "object", "required": ["edge", "node"]}}}}
    response = types.SimpleNamespace(text=json.dumps(schema))
    monkeypatch.setattr(hif_module, "requests", types.SimpleNamespace(get=lambda url, **kw: response))


# --- HIF ------------------------------------------------------------------


def test_hif_round_trip_keeps_isolated_vertices(tmp_path):
    graph = Hypergraph.from_edges([(0, 1, 2), (1, 3), (4,)], num_vertices=6, graph_id="g")
    write_hif(graph, tmp_path / "g.json")
    again = read_hif(tmp_path / "g.json", vertex_names="data")
    assert again.names == graph.names and again.edges == graph.edges
    assert again.graph_id.startswith("hif/g.json#") and again.params["name"] == "g"


def test_hif_interchange_with_hypernetx(tmp_path, offline_hif_schema):
    import hypernetx as hnx

    # hypernetx writes, Odin reads
    original = hnx.Hypergraph({"a": ["x", "y"], "b": ["y", "z", "w"], "c": ["w"]})
    (tmp_path / "hnx.json").write_text(json.dumps(hnx.to_hif(original)), encoding="utf-8")
    graph = read_hif(tmp_path / "hnx.json", vertex_names="data")
    assert {frozenset(graph.names[v] for v in e) for e in graph.edges} == \
        {frozenset(vs) for vs in original.incidence_dict.values()}
    # Odin writes, hypernetx reads
    ours = Hypergraph.from_edges([(0, 1, 2), (2, 3), (3,)], num_vertices=4)
    back = hnx.from_hif(write_hif(ours))
    assert {e: sorted(vs) for e, vs in back.incidence_dict.items()} == \
        {f"e{i}": [ours.names[v] for v in e] for i, e in enumerate(ours.edges)}
    assert building.hypergraph_from_hnx(back, "x", {}, vertex_names="data").edges == ours.edges


@pytest.mark.parametrize("text, line, words", [
    ('{"incidences": [\n  {"edge": "a", "node": 1},\n  {"edge": "a", "nod": 2}\n]}', 3, "missing 'node'"),
    ('{"incidences": [\n  {"edge": "a", "node": 1},\n  {"edge": "a" "node": 2}\n]}', 3, "malformed JSON"),
    ('{"edges": [{"edge": "a"},\n {"edge": "b"}],\n "incidences": [{"edge": "a", "node": 1}]}', 2, "no incidences"),
    ('{"incidences": [{"edge": "a", "node": [1]}]}', 1, "string or an integer"),
])
def test_hif_errors_name_file_and_line(tmp_path, text, line, words):
    path = tmp_path / "bad.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DataError) as err:
        read_hif(path)
    assert err.value.file == str(path) and err.value.line == line and words in err.value.message


def test_hif_directed_and_non_utf8_refused(tmp_path):
    path = tmp_path / "d.json"
    path.write_text('{"network-type": "directed", "incidences": []}', encoding="utf-8")
    with pytest.raises(DataError, match="not supported"):
        read_hif(path)
    path.write_bytes(b'{"incidences": [\n{"edge": "\xe9", "node": 1}]}')
    with pytest.raises(DataError) as err:
        read_hif(path)
    assert err.value.line == 2 and "not UTF-8" in err.value.message


# --- edge lists -------------------------------------------------------------


def test_edge_list_formats_and_policies(tmp_path):
    path = tmp_path / "edges.csv"
    path.write_text("# comment\nalice,bob,carol\n\nbob dave\n\"eve, jr\",frank\nalice,alice,bob\ncarol\n"
                    "carol,bob,alice\n", encoding="utf-8")
    graph = read_edge_list(path)
    # line 4 is split on whitespace; line 5 is CSV with a quoted comma: two vertices
    assert graph.names == ("v0", "v1", "v2", "v3", "v4", "v5")
    assert graph.edges == ((0, 1, 2), (1, 3), (4, 5), (0, 1), (2,))
    assert graph.params["merged_duplicate_vertices"] == 1  # alice twice on one line
    assert graph.params["merged_duplicate_edges"] == 1  # carol,bob,alice repeats line 2
    kept = read_edge_list(path, dedupe_edges=False, min_edge_size=2)
    assert kept.params["dropped_small_edges"] == 1 and "merged_duplicate_edges" not in kept.params
    assert kept.edges == ((0, 1, 2), (1, 3), (4, 5), (0, 1), (0, 1, 2))
    with pytest.raises(DataError) as err:  # "eve, jr" could not be parsed back from an answer
        read_edge_list(path, vertex_names="data")
    assert err.value.line == 5 and "contains ','" in err.value.message
    semicolons = tmp_path / "semi.txt"
    semicolons.write_text("Jean Valjean;Javert\nJavert;Cosette;Marius\n", encoding="utf-8")
    named = read_edge_list(semicolons, delimiter=";", vertex_names="data")
    assert named.names == ("Jean Valjean", "Javert", "Cosette", "Marius") and named.edges == ((0, 1), (1, 2, 3))


@pytest.mark.parametrize("text, line, words", [
    ("a,b\nc,,d\n", 2, "empty vertex name"),
    ("a,b\n\"c,d\n", 2, "malformed CSV"),
    ("a b\n,\n", 2, "no vertices"),
])
def test_edge_list_errors_name_file_and_line(tmp_path, text, line, words):
    path = tmp_path / "bad.txt"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DataError) as err:
        read_edge_list(path)
    assert err.value.file == str(path) and err.value.line == line and words in err.value.message


def test_edge_list_non_utf8_and_unparseable_names(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes("a b\nc d\nJos\xe9 e\n".encode("latin-1"))
    with pytest.raises(DataError) as err:
        read_edge_list(path)
    assert err.value.line == 3 and "not UTF-8" in str(err.value)
    path.write_text("a [x]\nb c\n", encoding="utf-8")
    with pytest.raises(DataError) as err:
        read_edge_list(path, vertex_names="data")
    assert err.value.line == 1 and "vertex_names" in err.value.message
    assert read_edge_list(path).names == ("v0", "v1", "v2", "v3")  # ids need no parseable names


# --- Benson pair -----------------------------------------------------------------


def test_benson_pair(tmp_path):
    prefix = tmp_path / "toy" / "toy"
    prefix.parent.mkdir()
    (tmp_path / "toy" / "toy-nverts.txt").write_text("3\n2\n3\n1\n", encoding="utf-8")
    (tmp_path / "toy" / "toy-simplices.txt").write_text("1\n2\n3\n2\n4\n3\n2\n1\n5\n", encoding="utf-8")
    (tmp_path / "toy" / "toy-node-labels.txt").write_text("1 ann\n2 ben\n3 cy\n4 di\n5 ed\n", encoding="utf-8")
    graph = read_benson(prefix, vertex_names="data")
    assert graph.names == ("ann", "ben", "cy", "di", "ed")
    assert graph.edges == ((0, 1, 2), (1, 3), (4,))  # 3,2,1 repeats the first simplex
    assert graph.params["merged_duplicate_edges"] == 1
    folder = produce("hypernetx.benson", base_dir=tmp_path, path="toy")
    assert folder[0].edges == graph.edges and folder[0].names[0] == "v0"


@pytest.mark.parametrize("nverts, simplices, bad_file, line, words", [
    ("2\n0\n", "1\n2\n", "nverts", 2, "no vertices"),
    ("2\n2\n", "1\n2\nx\n4\n", "simplices", 3, "one integer per line"),
    ("2\n2\n", "1\n2\n3\n", "nverts", None, "add up to 4"),
])
def test_benson_errors(tmp_path, nverts, simplices, bad_file, line, words):
    (tmp_path / "b-nverts.txt").write_text(nverts, encoding="utf-8")
    (tmp_path / "b-simplices.txt").write_text(simplices, encoding="utf-8")
    with pytest.raises(DataError) as err:
        read_benson(tmp_path / "b")
    assert err.value.file == str(tmp_path / f"b-{bad_file}.txt") and err.value.line == line
    assert words in err.value.message


# --- hypernetx's bundled hypergraphs, offline ---------------------------------------


def test_les_miserables_offline(no_network):
    import pandas as pd
    from hypernetx.utils.toys import lesmis

    (chapters,) = produce("hypernetx.lesmis", by="chapter", vertex_names="data")
    scenes = pd.DataFrame(list(lesmis.get_scene_data()),
                          columns=["Volume", "Book", "Chapter", "Scene", "Step", "Characters"])
    expected = {frozenset(group) for _, group in scenes.groupby(["Volume", "Book", "Chapter"])["Characters"]}
    assert {frozenset(chapters.names[v] for v in e) for e in chapters.edges} == expected
    assert chapters.num_vertices == scenes["Characters"].nunique()
    assert chapters.graph_id == "lesmis/chapter"
    (full,) = produce("hypernetx.lesmis", by="scene", vertex_names="data", names="full")
    assert "Jean Valjean" in full.names and "Félix Tholomyès" in full.names
    (ids,) = produce("hypernetx.lesmis", by="scene")
    assert ids.names[0] == "v0" and ids.edges == full.edges


def test_harry_potter_from_the_bundled_csv_offline(no_network):
    (graph,) = produce("hypernetx.harry_potter", vertex_names="data", columns=["House"])
    houses = {e: {graph.names[v] for v in edge} for e, edge in enumerate(graph.edges)}
    gryffindor = next(members for members in houses.values() if "Harry James Potter" in members)
    assert {"Ronald Bilius Weasley", "Hermione Jean Granger"} <= gryffindor
    assert "Draco Malfoy" not in gryffindor
    assert graph.num_edges == 6  # four Hogwarts houses, Beauxbatons, Durmstrang
    (default,) = produce("hypernetx.harry_potter")
    assert default.num_edges > graph.num_edges and default.params["columns"][0] == "House"
    with pytest.raises(DataError, match="unknown column 'Wand colour'"):
        produce("hypernetx.harry_potter", columns=["Wand colour"])


def test_disease_gene_offline(no_network):
    (diseases,) = produce("hypernetx.disease_gene")
    assert diseases.num_edges > 2000 and diseases.num_vertices > 10000
    assert sum(len(e) for e in diseases.edges) > 100000


# --- generators -----------------------------------------------------------------


def test_synthetic_follows_llm4hypergraph():
    graphs = produce("hypernetx.synthetic", seed=3, count=300)
    assert len(graphs) == 300 and len({g.graph_id for g in graphs}) == 300
    classes = {0: 0, 1: 0, 2: 0}
    for g in graphs:
        n = g.num_vertices
        classes[(n - 5) // 5] += 1
        assert 5 <= n <= 19 and g.params["n"] == n
        assert 1 <= g.num_edges < int(1.5 * n)
        assert len(set(g.edges)) == g.num_edges and all(2 <= len(e) <= n for e in g.edges)
    assert min(classes.values()) > 60  # three equally likely size classes
    assert [g.edges for g in produce("hypernetx.synthetic", seed=3, count=300)] == [g.edges for g in graphs]
    assert [g.edges for g in produce("hypernetx.synthetic", seed=4, count=300)] != [g.edges for g in graphs]


def test_size_bias_two_to_the_minus_k_gives_larger_hyperedges():
    def mean_size(decay):
        graphs = produce("hypernetx.synthetic", seed=1, count=300, edge_size_decay=decay)
        sizes = [len(e) for g in graphs for e in g.edges]
        return sum(sizes) / len(sizes)

    low, high, uniform = mean_size(3.0), mean_size(2.0), mean_size(1.0)
    assert 2.3 < low < high < uniform
    pairs = [len(e) == 2 for g in produce("hypernetx.synthetic", seed=1, count=300) for e in g.edges]
    assert 0.6 < sum(pairs) / len(pairs) < 0.75  # about two thirds are pairs at weight 3^-(k-2)


@pytest.mark.parametrize("model", ["erdos_renyi", "chung_lu", "dcsbm"])
def test_hypernetx_random_generators_are_seeded(model):
    state = random.getstate()
    graphs = produce("hypernetx.random", seed=7, model=model, count=6)
    assert random.getstate() == state  # the global generator is put back
    assert graphs and all(5 <= g.num_vertices <= 19 for g in graphs)
    assert all(g.params["model"] == model and g.edges for g in graphs)
    again = produce("hypernetx.random", seed=7, model=model, count=6)
    assert [g.edges for g in again] == [g.edges for g in graphs]


def test_structure_families():
    graphs = produce("hypernetx.structures", count=9)
    assert [g.params["structure"] for g in graphs[:3]] == ["hyper pyramid", "hyper checked table", "hyper wheel"]
    # hyperedges of two vertices are decorations; the family's own hyperedges have 3 and 4 vertices
    assert {len(e) for e in graphs[0].edges} - {2} == {3} and {len(e) for e in graphs[1].edges} - {2} == {4}
    assert all(g.params["source"] == "hypernetx.structures" and 0 <= g.params["pendants"] <= 3 for g in graphs)


# --- sampling ---------------------------------------------------------------------


def test_sampling_a_large_hypergraph(tmp_path):
    rng = random.Random(0)
    path = tmp_path / "big.txt"
    n = 50_000
    lines = [" ".join(f"u{v}" for v in rng.sample(range(n), rng.randint(2, 6))) for _ in range(100_000)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    parent_edges = {frozenset(line.split()) for line in lines}
    samples = produce("hypernetx.sample", seed=2, base_dir=tmp_path, count=1000, vertex_names="data",
                      source={"name": "hypernetx.edgelist", "path": "big.txt", "vertex_names": "data"})
    assert len(samples) == 1000 and len({s.graph_id for s in samples}) == 1000
    for s in samples:
        assert 1 <= s.num_edges and s.num_vertices <= 19
        assert all(frozenset(s.names[v] for v in e) in parent_edges for e in s.edges)
        reached, frontier = {0}, [0]  # a walk only keeps hyperedges it moved along: the sample is connected
        while frontier:
            v = frontier.pop()
            for u in s.neighbours[v]:
                if u not in reached:
                    reached.add(u)
                    frontier.append(u)
        assert len(reached) == s.num_vertices


def test_sampling_les_miserables_scenes():
    samples = produce("hypernetx.sample", count=50, source={"name": "hypernetx.lesmis", "by": "scene"})
    assert all(s.params["parent"] == "lesmis/scene" and s.num_vertices <= 19 for s in samples)
    assert sum(s.num_vertices for s in samples) / len(samples) > 6
    again = produce("hypernetx.sample", count=50, source={"name": "hypernetx.lesmis", "by": "scene"})
    assert [s.edges for s in again] == [s.edges for s in samples]


def test_sample_size_larger_than_the_source(tmp_path):
    (tmp_path / "small.txt").write_text("a b c\nc d\n", encoding="utf-8")
    with pytest.raises(DataError) as err:
        produce("hypernetx.sample", base_dir=tmp_path, size_classes=[[10, 12]],
                source={"name": "hypernetx.edgelist", "path": "small.txt"})
    assert "larger than the source allows" in err.value.message and err.value.key == "size_classes"


def test_sample_checks_its_inner_source(write_recipe):
    
    text = """\
    [data]
    encodings = ["hypernetx.n_set"]
    [[data.sources]]
    name = "hypernetx.sample"
    source = { name = "hypernetx.lesmiz" }
    """
    with pytest.raises(RecipeError) as err:
        load_data_recipe(write_recipe(text))
    assert "data.sources.0.source" in str(err.value) and "did you mean 'hypernetx.lesmis'" in str(err.value)
    with pytest.raises(RecipeError, match="by"):
        load_data_recipe(write_recipe(text.replace('"hypernetx.lesmiz"', '"hypernetx.lesmis", by = "page"')))


DIGEST_SNIPPET = """
import hashlib
from odin_core.components.plugins import registry

def produce(name, **options):
    c = registry()["source"][name]
    return list(c.create(c.options.model_validate(options)).hypergraphs(5, "."))

graphs = (produce("hypernetx.lesmis", by="scene", vertex_names="data")
          + produce("hypernetx.harry_potter", vertex_names="data")
          + produce("hypernetx.sample", count=20, vertex_names="data", source={"name": "hypernetx.lesmis"}))
print(hashlib.sha256(repr([(g.graph_id, g.names, g.edges) for g in graphs]).encode()).hexdigest())
"""


def test_real_sources_do_not_depend_on_the_hash_seed(capsys):
    """Vertex ids must not follow Python's per-process string hashing (hypernetx builds some inputs from sets)."""
    import os
    import subprocess
    import sys

    from conftest import REPO

    other = subprocess.Popen([sys.executable, "-c", DIGEST_SNIPPET], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, cwd=REPO, env={**os.environ, "PYTHONHASHSEED": "778" if os.environ.get("PYTHONHASHSEED") == "777" else "777"})
    exec(compile(DIGEST_SNIPPET, "digest", "exec"), {})  # this process, with its own hash seed
    here = capsys.readouterr().out
    out, err = other.communicate()
    assert other.returncode == 0, err[-2000:]
    assert len(here.strip()) == 64 and out == here
