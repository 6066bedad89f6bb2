"""Relabelled vertices: the same questions with other vertex names, paired row by row with the originals.

Example generation never looks at vertex names (a question's seed picks hypergraphs,
vertices and labels by position), so building a split from the same seed after
renaming every hypergraph's vertices gives the same questions with the new names.
``pair_rows`` checks that row by row instead of trusting it: a relabelled row is
kept only when it is its original with every vertex name replaced by one fixed
renaming, and nothing else changed.
"""

from __future__ import annotations

import json
import random
import re

from odin_core.foundation.errors import DataError
from odin_core.foundation.seeds import derive_seed
from odin_core.questions.hypergraph import Hypergraph

#: distinct single words (no commas or brackets, none used elsewhere in a prompt) for ``vertex_names = "words"``
WORDS = tuple("""
ant bat bear bee bison boar camel carp cat cod colt crab crane crow deer dingo dog dove duck eagle eel elk emu
falcon ferret finch fox frog gecko gnu goat goose gull hare hawk heron horse ibis jackal jay koala lark lemur
lion llama lynx mink mole moose moth mouse mule newt okapi otter owl ox panda parrot pig pike puma quail rabbit
raven rhino robin seal shark sheep shrew skunk sloth snail snake squid stork swan tapir tiger toad trout tuna
turkey viper vole wasp weasel whale wolf wombat wren yak zebra apple apricot banana cherry date fig grape guava
kiwi lemon lime mango melon olive papaya peach pear plum quince
""".split())

_VERTEX_ID = re.compile(r"(?<![\w])v\d+(?![\w])")
_WORD = re.compile(r"(?<![\w])(?:" + "|".join(sorted(WORDS, key=len, reverse=True)) + r")(?![\w])")
_PATTERNS = {"permuted": _VERTEX_ID, "words": _WORD}


def rename_vertices(graphs, mode: str, seed: int) -> list:
    """Every hypergraph with its vertices renamed: ``permuted`` (its own names shuffled, never the identity) or
    ``words`` (distinct words of ``WORDS``); hypergraph ``j`` is renamed from the seed ``(seed, j)``."""
    renamed = []
    for j, graph in enumerate(graphs):
        rng = random.Random(derive_seed(seed, "rename", mode, j))
        n = graph.num_vertices
        if mode == "permuted":
            order = list(range(n))
            while n > 1 and order == sorted(order):
                rng.shuffle(order)
            names = tuple(graph.names[k] for k in order)
        elif mode == "words":
            if n > len(WORDS):
                raise DataError(f"hypergraph {graph.graph_id!r} has {n} vertices, more than the {len(WORDS)} words "
                                "vertex_names = 'words' can give; use 'permuted'", key="vertex_names")
            names = tuple(rng.sample(WORDS, n))
        else:
            raise ValueError(f"unknown vertex renaming {mode!r}; expected 'permuted' or 'words'")
        renamed.append(Hypergraph(names, graph.edges, graph.graph_id, graph.params, graph.edge_labels))
    return renamed


#: random ids are drawn from 0..max(ID_SPACE, 4 x the count) - 1
ID_SPACE = 100


def _draw_ids(rng, count: int, prefix: str) -> tuple[str, ...]:
    return tuple(f"{prefix}{k}" for k in rng.sample(range(max(ID_SPACE, 4 * count)), count))


def random_ids(graphs, seed: int) -> list:
    """Every hypergraph with distinct ids drawn at random for its hyperedges (``e37``) and, where its vertices
    are named by position (``v0, v1, ...``), for its vertices too: the largest id says nothing about a count.
    Data names (``vertex_names = "data"``) are kept. Hypergraph ``j`` draws from the seed ``(seed, j)``."""
    renamed = []
    for j, graph in enumerate(graphs):
        rng = random.Random(derive_seed(seed, "ids", j))
        names = graph.names
        if names == tuple(f"v{i}" for i in range(len(names))):
            names = _draw_ids(rng, len(names), "v")
        renamed.append(Hypergraph(names, graph.edges, graph.graph_id, graph.params,
                                  _draw_ids(rng, graph.num_edges, "e")))
    return renamed


def _renaming(original: str, relabelled: str, mode: str) -> dict | None:
    """The vertex renaming that turns ``original`` into ``relabelled``, or None when no single renaming does."""
    old, new = _VERTEX_ID.findall(original), _PATTERNS[mode].findall(relabelled)
    if len(old) != len(new) or _VERTEX_ID.sub("\0", original) != _PATTERNS[mode].sub("\0", relabelled):
        return None
    forward: dict[str, str] = {}
    for a, b in zip(old, new):
        if forward.setdefault(a, b) != b:
            return None
    return forward if len(set(forward.values())) == len(forward) else None


def pair_rows(original_rows, relabelled_rows, mode: str) -> tuple[list[dict], dict]:
    """The relabelled rows that are their original row renamed (same id, task, encoding, question and answer up to
    one renaming of vertices), and counts of those left out: ``unpaired`` (no original row, or not a renaming of it)
    and ``unchanged`` (the prompt names no vertex of the split's hypergraphs, e.g. a task drawing its own)."""
    by_id = {row["id"]: row for row in original_rows}
    kept, unpaired, unchanged = [], 0, 0
    for row in relabelled_rows:
        first = by_id.get(row["id"])
        same = first is not None and all(first[c] == row[c] for c in ("task", "encoding", "answer_kind", "graph_id"))
        if same and first["prompt"] == row["prompt"]:
            unchanged += 1
            continue
        renaming = _renaming(first["prompt"] + first["completion"], row["prompt"] + row["completion"], mode) \
            if same else None
        if renaming is None or not _same_answer(first, row, renaming):
            unpaired += 1
            continue
        kept.append(row)
    return kept, {"unpaired": unpaired, "unchanged": unchanged}


def _same_answer(first: dict, row: dict, renaming: dict) -> bool:
    a, b = json.loads(first["answer"]), json.loads(row["answer"])
    if first["answer_kind"] == "vertex_set":
        return sorted(renaming.get(v, v) for v in a) == sorted(b)
    return a == b


def paired_id(row_id: str) -> str | None:
    """The id of the test row an extra split's row pairs with (``SET/SPLIT/test-N`` -> ``SET/test-N``), or None."""
    parts = row_id.split("/")
    return f"{parts[0]}/{parts[2]}" if len(parts) == 3 else None
