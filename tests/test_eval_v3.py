"""The frozen set hypergraph-eval-v3 as committed: answers recomputed from the prompt text alone (N-Set and N-Pair
rows, with networkx), no duplicate prompts within or across splits, no label that follows row order, counts
not readable from ids, balanced yes/no tasks."""

from __future__ import annotations

import json
import re
from collections import Counter

import networkx as nx
import pytest

from odin_core.data import frozen_eval_set, frozen_splits
from odin_core.questions.shortcut_features import FEATURES_KEY

pytestmark = pytest.mark.timeout(300)

SET = "hypergraph-eval-v3"
HEADER = re.compile(r"^G describes a hypergraph among (?:vertex|vertices) (.+?) and (?:hyperedge|hyperedges) (.+?)\.$",
                    re.M)
N_SET = re.compile(r"(e\d+) = \(([^)]*)\)")
N_PAIR = re.compile(r"\(([^,()]+), ([^,()]+)\)")
COVERED = ("vertex_count", "hyperedge_count", "vertex_connection", "connected_vertices", "disconnected_vertices",
           "reachability", "shortest_path", "vertex_degree", "hyperedge_degree", "shared_vertices",
           "vertex_set_in_hyperedge", "vertex_set_connection", "hyperedge_in_hyperedge")


def names(text: str) -> list[str]:
    return [w for w in re.split(r", and |, | and ", text) if w]


def parse(row):
    """(vertices, {hyperedge: set of vertices} or None, clique expansion) from the prompt alone."""
    header = HEADER.search(row["prompt"])
    vertices, edge_names = names(header.group(1)), names(header.group(2))
    g = nx.Graph()
    g.add_nodes_from(vertices)
    if row["encoding"] == "hypernetx.n_set":
        edges = {e: set(names(members)) for e, members in N_SET.findall(row["prompt"].split("\n\nQ:")[0])}
        assert list(edges) == edge_names
        for members in edges.values():
            g.add_edges_from((u, v) for u in members for v in members if u < v)
        return vertices, edges, g
    g.add_edges_from(N_PAIR.findall(row["prompt"].split("\n\nQ:")[0]))
    return vertices, None, g


def asked(row, known):
    """The names of ``known`` the question mentions, in order."""
    words = re.findall(r"[^\s,{}()?]+", row["prompt"].split("\n\nQ:")[1])
    return [w for w in words if w in known]


def expected(row):
    """The answer recomputed from the prompt, or ``...`` for a task this check does not cover."""
    task = row["task"].split(".", 1)[1]
    if task not in COVERED:
        return ...
    vertices, edges, g = parse(row)
    q = asked(row, set(vertices))
    if task == "vertex_count":
        return len(vertices)
    if task == "hyperedge_count":
        return len(names(HEADER.search(row["prompt"]).group(2)))
    if task == "vertex_connection":
        return g.has_edge(q[0], q[1])
    if task == "connected_vertices":
        return sorted(g.neighbors(q[0]))
    if task == "disconnected_vertices":
        return sorted(set(vertices) - set(g.neighbors(q[0])) - {q[0]})
    if task == "reachability":
        return nx.has_path(g, q[1], q[0])
    if task == "shortest_path":
        return nx.shortest_path_length(g, q[0], q[1]) if nx.has_path(g, q[0], q[1]) else None
    if edges is None:
        return ...
    e = asked(row, set(edges))
    if task == "vertex_degree":
        return sum(q[0] in members for members in edges.values())
    if task == "hyperedge_degree":
        return len(edges[e[0]])
    if task == "shared_vertices":
        return sorted(edges[e[0]] & edges[e[1]])
    if task in ("vertex_set_in_hyperedge", "vertex_set_connection"):
        return any(set(q) <= members for members in edges.values())
    if task == "hyperedge_in_hyperedge":
        sets = list(edges.values())
        return any(a < b for a in sets for b in sets)
    return ...


@pytest.fixture(scope="module")
def splits():
    return {split: list(frozen_eval_set(SET, split)) for split in frozen_splits(SET)}


def test_answers_recomputed_from_the_prompt(splits):
    checked = Counter()
    for split, rows in splits.items():
        for row in rows:
            if row["encoding"] not in ("hypernetx.n_set", "hypernetx.n_pair"):
                continue
            want = expected(row)
            if want is ...:
                continue
            gold = json.loads(row["answer"])
            if row["answer_kind"] == "vertex_set":
                gold = sorted(gold)
            assert gold == want, (split, row["id"], row["prompt"][-300:], gold, want)
            checked[row["task"]] += 1
    assert len(checked) == 13 and min(checked.values()) >= 10, checked


def test_no_duplicate_prompts_within_or_across_splits(splits):
    seen = Counter(row["prompt"] for rows in splits.values() for row in rows)
    assert not [p for p, n in seen.items() if n > 1]


def test_no_label_follows_row_order_and_yes_no_tasks_are_balanced(splits):
    rows = splits["test"]
    by_task: dict[str, list[str]] = {}
    for row in rows:
        if row["answer_kind"] == "yes_no":
            by_task.setdefault(row["task"], []).append(row["answer"])
    assert len(by_task) == 7
    for task, labels in by_task.items():
        counts = Counter(labels)
        assert abs(counts["true"] - counts["false"]) <= 1, (task, counts)
        changes = sum(a != b for a, b in zip(labels, labels[1:])) / (len(labels) - 1)
        assert 0.3 < changes < 0.7, (task, changes)
    for split, split_rows in splits.items():  # extra splits: balanced where the task could be
        per_task = Counter(r["task"] for r in split_rows if r["answer_kind"] == "yes_no")
        yes = Counter(r["task"] for r in split_rows if r["answer"] == "true")
        for task, n in per_task.items():
            assert abs(2 * yes[task] - n) <= max(2, n // 5), (split, task, yes[task], n)


def test_counts_cannot_be_read_off_ids(splits):
    for task, feature in (("hypernetx.vertex_count", "max_vertex_id"), ("hypernetx.hyperedge_count", "max_edge_id")):
        rows = [r for r in splits["test"] if r["task"] == task]
        hits = sum(json.loads(r["meta"])[FEATURES_KEY][feature] + 1 == json.loads(r["answer"]) for r in rows)
        assert len(rows) == 140 and hits / len(rows) < 0.05, (task, hits)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_v3_rebuilds_byte_for_byte_from_its_recipe(tmp_path):
    """``odin data freeze recipes/base/hypergraph_eval_v3.toml`` writes exactly the committed files."""
    from pathlib import Path

    from odin_core.data import write_frozen_eval_set
    from odin_core.recipe import load_recipe

    root = Path(__file__).resolve().parent.parent
    recipe = load_recipe(root / "recipes" / "base" / "hypergraph_eval_v3.toml", require_model=False)
    folder, _ = write_frozen_eval_set(recipe, SET, tmp_path / SET)
    committed = (root / "data" / SET / "SHA256SUMS").read_text(encoding="utf-8")
    assert (folder / "SHA256SUMS").read_text(encoding="utf-8") == committed
