"""Reasoning traces (``data.rationale = "trace"``): each task's trace agrees with its answer, checked independently
with networkx on many random hypergraphs; traces never break generation or parsing; they change no question."""

from __future__ import annotations

import json
import random
import re
from collections import Counter

import networkx as nx
import pytest

from odin_core import data
from odin_core.evaluate.rows import answer_prefix, end_of_answer, rationale_of
from odin_core.foundation.errors import RecipeError
from odin_core.questions.answers import FORMAT_ERROR, format_answer, gold_value, parse_answer
from odin_core.questions.hypergraph import Hypergraph
from odin_hypernetx.structures import STRUCTURE_LABELS, random_structure
from odin_hypernetx.tasks import TASKS

from conftest import load_data_recipe
from test_data import ALL_ENCODINGS, DATA_RECIPE
from test_tasks import clique_expansion, incidence_graph, random_hypergraph

#: tasks that write no trace: the removed hyperedge cannot be derived from what the prompt shows
WITHOUT_TRACE = {"hyperedge_discrimination"}
NAME = r"v\d+"


@pytest.fixture(scope="module")
def graphs():
    rng = random.Random(77)
    return [random_hypergraph(rng, i) for i in range(250)]


@pytest.fixture(scope="module")
def structures():
    rng = random.Random(78)
    return [random_structure(STRUCTURE_LABELS[i % 3], rng, graph_id=f"s-{i}") for i in range(120)]


def questions(name, graphs, structures, per_graph=2):
    """(graph, question) pairs of task ``name``; yes/no tasks ask for both labels."""
    task = TASKS[name]()
    pool = structures if name == "structure_classification" else graphs
    out = []
    for k, graph in enumerate(pool):
        for j in range(per_graph):
            want = (j % 2 == 0) if task.answer_kind == "yes_no" else None
            question = task.generate(graph, random.Random(1000 * k + j), want)
            if question is not None:
                out.append((graph, question))
    return out


def vid(name: str) -> int:
    return int(name[1:])


def names_in(text: str) -> list[int]:
    return [vid(n) for n in re.findall(NAME, text)]


def edges_in(text: str) -> list[int]:
    return [int(e[1:]) for e in re.findall(r"\be\d+\b", text)]


def tally_items(text: str) -> list[tuple[str, int]]:
    """``v0 1, v3 2`` -> [("v0", 1), ("v3", 2)], checking the running count."""
    items = [(m.group(1), int(m.group(2))) for m in re.finditer(r"(\w+) (\d+)", text)]
    assert [k for _, k in items] == list(range(1, len(items) + 1)), text
    return items


def listed(text: str) -> set[int]:
    return set() if text.strip() == "none" else set(names_in(text))


def bfs_levels(graph: Hypergraph, source: int) -> dict[int, set[int]]:
    levels: dict[int, set[int]] = {}
    for v, d in nx.single_source_shortest_path_length(clique_expansion(graph), source).items():
        levels.setdefault(d, set()).add(v)
    return levels


def holders(graph: Hypergraph, v: int) -> set[int]:
    return {node[1] for node in incidence_graph(graph)[("v", v)]}


# --- one checker per task: recompute what the trace lists, and read its conclusion ----------------------------


def check_vertex_count(graph, q):
    items = tally_items(re.fullmatch(r"Vertices: (.*)\.", q.rationale).group(1))
    assert [n for n, _ in items] == list(graph.names) and items[-1][1] == q.answer


def check_hyperedge_count(graph, q):
    items = tally_items(re.fullmatch(r"Hyperedges: (.*)\.", q.rationale).group(1))
    assert [n for n, _ in items] == [f"e{i}" for i in range(graph.num_edges)] and items[-1][1] == q.answer


def check_vertex_degree(graph, q):
    v = vid(re.search(rf"vertex ({NAME})", q.question).group(1))
    match = re.fullmatch(rf"Hyperedges with ({NAME}): (.*)\.", q.rationale)
    assert vid(match.group(1)) == v
    items = tally_items(match.group(2))
    assert {int(n[1:]) for n, _ in items} == holders(graph, v) and items[-1][1] == q.answer


def check_vertex_connection(graph, q):
    u, v = names_in(q.question)[:2]
    match = re.fullmatch(rf"({NAME}) shares a hyperedge with (.*); ({NAME}) is (not )?among them\.", q.rationale)
    assert (vid(match.group(1)), vid(match.group(3))) == (u, v)
    assert listed(match.group(2)) == set(clique_expansion(graph)[u])
    assert (match.group(4) is None) == q.answer


def check_partition(graph, q):
    v = names_in(q.question)[0]
    match = re.fullmatch(rf"({NAME}) pairs with (.*); unpaired: (.*)\.", q.rationale)
    near = set(clique_expansion(graph)[v])
    assert vid(match.group(1)) == v
    assert listed(match.group(2)) == near
    assert listed(match.group(3)) == set(range(graph.num_vertices)) - near - {v}
    side = match.group(2) if q.question.startswith("Which vertices share a hyperedge") else match.group(3)
    assert listed(side) == {vid(n) for n in q.answer}


def check_bfs(graph, q, source, target):
    match = re.fullmatch(rf"From ({NAME}), (.*); ({NAME}) (at hop (\d+)|not reached)\.", q.rationale)
    assert (vid(match.group(1)), vid(match.group(3))) == (source, target)
    levels = bfs_levels(graph, source)
    hops = match.group(2).split("; ")
    for k, part in enumerate(hops, 1):
        hop = re.fullmatch(r"hop (\d+): (.*)", part)
        assert int(hop.group(1)) == k and listed(hop.group(2)) == levels.get(k, set()), (part, levels)
    reached = match.group(5)
    if reached is not None:  # stops at the hop that reaches the target
        assert int(reached) == len(hops) and target in levels[len(hops)]
    else:  # runs until a hop finds nothing new
        assert hops[-1].endswith(": none") and target not in set().union(*levels.values())
    return None if reached is None else int(reached)


def check_shortest_path(graph, q):
    u, v = names_in(q.question)[:2]
    assert check_bfs(graph, q, u, v) == q.answer


def check_reachability(graph, q):
    v, u = names_in(q.question)[:2]  # "Can vertex v be reached from vertex u"
    assert (check_bfs(graph, q, u, v) is not None) == q.answer


def check_hyperedge_degree(graph, q):
    i = int(re.search(r"hyperedge e(\d+)", q.question).group(1))
    match = re.fullmatch(r"e(\d+) holds (.*)\.", q.rationale)
    items = tally_items(match.group(2))
    assert int(match.group(1)) == i and {vid(n) for n, _ in items} == set(graph.edges[i])
    assert items[-1][1] == q.answer


def check_containment(graph, q):
    order = names_in(q.question.split("?")[0])  # as the question lists them
    parts = q.rationale.rstrip(".").split("; ")
    first = re.fullmatch(rf"Hyperedges with ({NAME}): (.*)", parts[0])
    assert vid(first.group(1)) == order[0]
    common = holders(graph, order[0])
    assert set(edges_in(first.group(2))) == common
    for v, part in zip(order[1:], parts[1:-1]):
        step = re.fullmatch(rf"also ({NAME}): (.*)", part)
        common &= holders(graph, v)
        assert vid(step.group(1)) == v and set(edges_in(step.group(2))) == common
    verdict = parts[-1]
    if q.answer:
        holder = int(re.fullmatch(r"e(\d+) holds them all", verdict).group(1))
        assert set(order) <= set(graph.edges[holder]) and len(parts) == len(order) + 1
    else:
        assert verdict == "no hyperedge holds them all" and not common


def check_hyperedge_in_hyperedge(graph, q):
    body = q.rationale.rstrip(".")
    concluded_no = body.endswith("; none lies in a larger one")
    body = body.removesuffix("; none lies in a larger one")
    steps = [re.fullmatch(r"e(\d+) in (none|e\d+)", part) for part in body.split(", ")]
    edges = [set(e) for e in graph.edges]
    assert [int(s.group(1)) for s in steps] == list(range(len(steps)))
    for s in steps:
        i = int(s.group(1))
        if s.group(2) == "none":
            assert not any(len(o) > len(edges[i]) and edges[i] <= o for o in edges)
        else:
            j = int(s.group(2)[1:])
            assert len(edges[j]) > len(edges[i]) and edges[i] <= edges[j]
    assert concluded_no == (not q.answer) == (len(steps) == graph.num_edges and steps[-1].group(2) == "none")


def check_shared_vertices(graph, q):
    i, j = (int(x) for x in re.findall(r"e(\d+)", q.question)[:2])
    match = re.fullmatch(r"e(\d+) holds (.*); e(\d+) holds (.*)\.", q.rationale)
    assert (int(match.group(1)), int(match.group(3))) == (i, j)
    a, b = listed(match.group(2)), listed(match.group(4))
    assert a == set(graph.edges[i]) and b == set(graph.edges[j]) and a & b == {vid(n) for n in q.answer}


def _sorted_list(values) -> str:
    return ", ".join(map(str, sorted(values))) or "none"


def check_isomorphism(graph, q):
    first, second = q.graphs
    text = q.rationale
    mapping = re.search(r"Renaming (.*) turns G1 into G2\.$", text)
    if mapping:
        assert q.answer is True
        rename = {vid(a): vid(b) for a, b in re.findall(rf"({NAME}) to ({NAME})", mapping.group(1))}
        assert sorted(rename) == sorted(rename.values()) == list(range(first.num_vertices))
        renamed = Counter(tuple(sorted(rename[v] for v in e)) for e in first.edges)
        assert renamed == Counter(tuple(sorted(e)) for e in second.edges)
        return
    assert q.answer is False and text.endswith(("so no renaming exists.", "no renaming turns G1 into G2."))
    values = {"vertices": lambda g: str(g.num_vertices), "hyperedges": lambda g: str(g.num_edges),
              "hyperedge sizes": lambda g: _sorted_list(map(len, g.edges)),
              "vertex degrees": lambda g: _sorted_list(len(holders(g, v)) for v in range(g.num_vertices))}
    differ = re.search(r"(?:^|but )(vertices|hyperedges|hyperedge sizes|vertex degrees): G1 (.*), G2 (.*); so", text)
    if differ:
        what = differ.group(1)
        assert differ.group(2) == values[what](first) != values[what](second) == differ.group(3)
        return
    for what, value in values.items():  # every cheap invariant agrees, as the trace says
        assert value(first) == value(second)
        assert (f"{value(first)} {what}" if what in ("vertices", "hyperedges") else f"{what} {value(first)}") in text
    signature = re.search(r"Hyperedges whose vertices have degrees (.*): G1 (\d+), G2 (\d+); so", text)

    def count(g, key):
        degrees = [len(holders(g, v)) for v in range(g.num_vertices)]
        return sum(_sorted_list(degrees[v] for v in e) == key for e in g.edges)

    if signature:
        key = signature.group(1)
        assert (count(first, key), count(second, key)) == (int(signature.group(2)), int(signature.group(3)))
        assert count(first, key) != count(second, key)
    else:
        # the label itself is checked exactly in test_tasks.py (VF2++ there, on small enough pairs)
        assert text.endswith("These agree, but no renaming turns G1 into G2.")


def check_structure_classification(graph, q):
    match = re.fullmatch(r"Hyperedges of more than 2 vertices: (\d+), of (\d+) vertices; "
                         r"in all of them: (none|.*, leaving (\d+) in each)\.", q.rationale)
    big = [set(e) for e in graph.edges if len(e) > 2]
    size, leaving = int(match.group(2)), match.group(4)
    common = listed(match.group(3).split(", leaving")[0])
    assert int(match.group(1)) == len(big) and {size} == {len(e) for e in big} and common == set.intersection(*big)
    assert leaving is None or int(leaving) == size - len(common)
    # the rule the trace's facts decide by (docs/data.md): at least 3 hyperedges around a hub, 2 rim vertices left
    # in each, make a wheel; else 3 vertices a pyramid and 4 a table
    wheel = len(big) >= 3 and leaving == "2"
    assert ("hyper wheel" if wheel else {3: "hyper pyramid", 4: "hyper checked table"}[size]) == q.answer


def check_hyperedge_completion(graph, q):
    match = re.fullmatch(r"It had (\d+) vertices and (\d+) are named, so (\d+) to find\.", q.rationale)
    size, shown, missing = (int(x) for x in match.groups())
    assert (size, shown) == (q.meta["hyperedge_size"], q.meta["shown"]) and missing == len(q.answer) == size - shown
    assert f"It had {size} vertices" in q.question


CHECKS = {
    "vertex_count": check_vertex_count,
    "hyperedge_count": check_hyperedge_count,
    "vertex_degree": check_vertex_degree,
    "vertex_connection": check_vertex_connection,
    "connected_vertices": check_partition,
    "disconnected_vertices": check_partition,
    "shortest_path": check_shortest_path,
    "reachability": check_reachability,
    "hyperedge_degree": check_hyperedge_degree,
    "vertex_set_connection": check_containment,
    "vertex_set_in_hyperedge": check_containment,
    "hyperedge_in_hyperedge": check_hyperedge_in_hyperedge,
    "shared_vertices": check_shared_vertices,
    "isomorphism": check_isomorphism,
    "structure_classification": check_structure_classification,
    "hyperedge_completion": check_hyperedge_completion,
}


def test_every_task_but_discrimination_has_a_checked_trace():
    assert set(CHECKS) | WITHOUT_TRACE == set(TASKS)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", sorted(TASKS))
def test_traces_agree_with_answers(name, graphs, structures):
    asked = questions(name, graphs, structures)
    # reachability asks only about hypergraphs of several components, a minority of the random ones
    assert len(asked) > (40 if name == "reachability" else 100)
    for graph, q in asked:
        if name in WITHOUT_TRACE:
            assert q.rationale == ""
            continue
        assert q.rationale and "\n" not in q.rationale
        assert not {"[", "]"} & set(q.rationale) and "Ans" not in q.rationale, q.rationale
        assert "the answer is" not in q.rationale.lower()
        CHECKS[name](graph, q)


@pytest.mark.timeout(120)
def test_isomorphism_traces_cover_every_kind_of_pair(graphs):
    """Positives give a renaming; negatives name a differing invariant or signature, or say they all agree."""
    seen = Counter()
    task = TASKS["isomorphism"]()
    for k, graph in enumerate(graphs):
        for want in (True, False, False):
            q = task.generate(graph, random.Random(k * 7 + want), want)
            if q is None:
                continue
            text = q.rationale
            seen["renaming" if "Renaming" in text else "signature" if "whose vertices" in text
                 else "agree" if "These agree" in text else "invariant"] += 1
            if q.meta["pair"] == "degree_preserving":  # degrees and sizes kept: never an invariant that differs
                assert "Both have" in text and "vertex degrees" in text.split(" but ")[0]
    assert seen["renaming"] and seen["signature"] and seen["invariant"], seen


@pytest.mark.timeout(60)
def test_low_order_traces_name_no_hyperedge(graphs, structures):
    """Tasks low-order encodings can express mention vertices and pairs only (hyperedge count names e0, e1, ...
    as the opening sentence of every encoding does)."""
    for name, cls in TASKS.items():
        if cls.needs_high_order or name == "hyperedge_count":
            continue
        for _graph, q in questions(name, graphs, structures, per_graph=1):
            assert not edges_in(q.rationale), (name, q.rationale)


@pytest.mark.timeout(60)
def test_traces_use_no_randomness(graphs, structures):
    """Generating a question leaves the rng where a trace-free task would: traces draw nothing."""
    for name, cls in TASKS.items():
        task = cls()
        for k, graph in enumerate((structures if name == "structure_classification" else graphs)[:40]):
            rng = random.Random(k)
            q = task.generate(graph, rng, True if cls.answer_kind == "yes_no" else None)
            if q is None:
                continue
            after = rng.random()
            again = random.Random(k)
            q2 = task.generate(graph, again, True if cls.answer_kind == "yes_no" else None)
            assert (q2.question, q2.answer, q2.rationale) == (q.question, q.answer, q.rationale)
            assert again.random() == after


# --- the dataset ----------------------------------------------------------------------------------------------


def _build(tmp_path, name, *overrides):
    path = tmp_path / f"{name}.toml"
    path.write_text(DATA_RECIPE.format(encodings=json.dumps(ALL_ENCODINGS), cache=(tmp_path / "cache").as_posix()),
                    encoding="utf-8")
    recipe = load_data_recipe(path, list(overrides))
    return recipe, data.build_dataset(recipe)[0]


@pytest.mark.timeout(120)
def test_a_build_with_traces_asks_the_same_questions_and_parses_back(tmp_path):
    _, plain = _build(tmp_path, "plain")
    _, traced = _build(tmp_path, "traced", "data.rationale=trace")
    with_trace = 0
    for split in ("train", "validation", "test"):
        a, b = plain[split].to_list(), traced[split].to_list()
        assert len(a) == len(b) > 0
        for x, y in zip(a, b):
            assert {k: v for k, v in x.items() if k != "completion"} == \
                {k: v for k, v in y.items() if k != "completion"}
            answer_part = x["completion"].removeprefix(" ")
            assert y["completion"].endswith(" " + answer_part) and y["completion"].startswith(" ")
            trace = rationale_of(y["completion"])
            assert y["completion"] == (f" {trace} {answer_part}" if trace else x["completion"])
            assert "[" not in trace and "]" not in trace and "Ans" not in trace
            assert (trace == "") == (y["task"] == "hypernetx.hyperedge_discrimination")
            with_trace += bool(trace)
            value = parse_answer(y["answer_kind"], y["completion"])
            assert value == gold_value(y["answer_kind"], json.loads(y["answer"]))
            assert end_of_answer(y["completion"] + " more text ]") == y["completion"]
            assert answer_prefix(y["completion"], trace) == " "
    assert with_trace > 100


@pytest.mark.timeout(60)
def test_the_option_is_validated_and_changes_the_fingerprint(tmp_path):
    path = tmp_path / "r.toml"
    path.write_text(DATA_RECIPE.format(encodings=json.dumps(ALL_ENCODINGS), cache=(tmp_path / "cache").as_posix()),
                    encoding="utf-8")
    assert load_data_recipe(path).data.rationale == "none"
    with pytest.raises(RecipeError, match=r"data\.rationale.*'none'.*'trace'"):
        load_data_recipe(path, ["data.rationale=steps"])
    plain, traced = (data.fingerprint(load_data_recipe(path, o)) for o in ([], ["data.rationale=trace"]))
    assert plain != traced


@pytest.mark.timeout(60)
def test_traces_with_a_frozen_test_set_need_a_fixed_answer_budget(tmp_path):
    from odin_core.recipe import load_recipe

    path = tmp_path / "r.toml"
    body = DATA_RECIPE.format(encodings=json.dumps(ALL_ENCODINGS), cache=(tmp_path / "cache").as_posix())
    path.write_text(body + '\n[model]\nloader = "models.scratch"\n', encoding="utf-8")
    frozen = ["data.frozen_eval=hypergraph-eval-v1", "data.rationale=trace"]
    with pytest.raises(RecipeError, match=r"data\.rationale.*generation\.max_new_tokens"):
        load_recipe(path, frozen)
    assert load_recipe(path, frozen + ["generation.max_new_tokens=160"]).data.rationale == "trace"


@pytest.mark.timeout(30)
def test_a_trace_that_would_break_parsing_is_refused():
    from odin_core.data.examples import checked_rationale
    from odin_core.foundation.errors import DataError

    assert checked_rationale("a\n b  c", "t") == "a b c"
    for bad in ("holds e1]", "list [v0", "so Ans: 3"):
        with pytest.raises(DataError, match="trace"):
            checked_rationale(bad, "hypernetx.x")


# --- parsing --------------------------------------------------------------------------------------------------


@pytest.mark.timeout(30)
def test_the_answer_is_read_after_ans_colon_first():
    # a trace or a vertex name starting with "Ans" comes before the marker
    assert parse_answer("count", "Ansel 1, Ansgar 2. Ans: [2]") == 2
    assert parse_answer("vertex_set", "Anselm pairs with Bob; Ans: [Bob]", ["Anselm", "Bob"]) == {"Bob"}
    assert parse_answer("yes_no", "Ansel shares no hyperedge with Yes. Ans: [Yes]") is True
    assert parse_answer("yes_no", "v1 is not among them. Ans: [No]") is False
    assert parse_answer("path_length", "From v0, hop 1: none; v3 not reached. Ans: [no path]") is None
    # the old markers remain the fallback
    assert parse_answer("count", "Ans [4]") == 4
    assert parse_answer("count", "I think the answer is 5") == 5
    assert parse_answer("count", "Ansel 1, Ansgar 2") == 1  # no "Ans:": the old reading, after the first "Ans"
    assert parse_answer("count", "hops 1, 2, 3") is FORMAT_ERROR
    completion = " " + "From v0, hop 1: v2; v2 at hop 1." + " " + format_answer("path_length", 1)
    assert rationale_of(completion) == "From v0, hop 1: v2; v2 at hop 1."
    assert rationale_of(" Ans: [3]") == ""
    assert answer_prefix(" Ans: [3]") == " "
    assert answer_prefix(completion, rationale_of(completion)) == " "
    assert answer_prefix("<think></think>From v0. Ans: [1]<eot>", "From v0.") == "<think></think>"
    assert end_of_answer("Ansel 1. Ans: [1] and [2]") == "Ansel 1. Ans: [1]"
    assert end_of_answer("Ans [1] and [2]") == "Ans [1]"


@pytest.mark.timeout(30)
def test_row_keys_ignore_the_trace_so_runs_with_and_without_pair_up():
    from odin_core.foundation.records import row_key

    plain = {"id": "test-000001", "prompt": "Q: ...\nA:", "completion": " Ans: [7]"}
    traced = {**plain, "completion": " Vertices: v0 1, v1 2. Ans: [7]"}
    assert row_key(plain) == row_key(traced)
    assert row_key(plain) != row_key({**plain, "completion": " Ans: [6]"})
    assert row_key(plain) == "test-000001:" + __import__("hashlib").sha256(b"Q: ...\nA:\x1f Ans: [7]").hexdigest()[:12]
