"""The dataset builder: layout, determinism, splits without leaks, caching, budgets, frozen set, ``odin data``."""

import hashlib
import json
import os
import shutil
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import BaseModel

import odin_core
from odin_core import data
from odin_core.cli import cli
from odin_core.components.plugins import registry
from odin_core.foundation.errors import DataError, RecipeError
from odin_core.questions.answers import format_answer, parse_answer
from odin_core.questions.hypergraph import Hypergraph
from odin_core.recipe import expand_tasks
from odin_core.runtime.chat import recipe_uses_chat

from conftest import REPO, load_data_recipe, run_odin

ALL_ENCODINGS = ["hypernetx.n_pair", "hypernetx.lo_inc", "hypernetx.adj_mat", "hypernetx.n_set",
                 "hypernetx.ho_inc", "hypernetx.inc_mat", "hypernetx.ho_neigh"]
LOW = {"hypernetx.n_pair", "hypernetx.lo_inc", "hypernetx.adj_mat"}

DATA_RECIPE = """\
name = "data-test"
seed = 11

[data]
tasks = ["all"]
encodings = {encodings}
cache_dir = "{cache}"

[data.num_examples]
train = 204
validation = 68
test = 68

[[data.sources]]
name = "hypernetx.synthetic"
count = 150

[[data.sources]]
name = "hypernetx.structures"
count = 9
"""


class DataTestPlugin:
    """A source of relabelled copies and a chat-template loader, for the builder's rules."""

    class CopiesOptions(BaseModel):
        count: int = 30

    class RelabelledCopies:
        """Each hypergraph three times: as drawn, and twice with vertices renamed and hyperedges reordered."""

        def __init__(self, options):
            self.count = options.count

        def hypergraphs(self, seed, base_dir):
            import random

            from odin_hypernetx.sources import gnm_hypergraph

            for i in range(self.count):
                rng = random.Random(seed * 1000 + i)
                n = rng.randint(6, 10)
                graph = Hypergraph.from_edges(gnm_hypergraph(rng, n, rng.randint(3, 8)), num_vertices=n,
                                              graph_id=f"copies/{i}")
                yield graph
                for c in range(2):
                    permutation = list(range(n))
                    rng.shuffle(permutation)
                    edges = [tuple(sorted(permutation[v] for v in e)) for e in graph.edges]
                    rng.shuffle(edges)
                    yield Hypergraph(graph.names, tuple(edges), f"copies/{i}/copy{c}", {"copy_of": graph.graph_id})

    class HugeSourceOptions(BaseModel):
        vertices: int = 3000

    class Huge:
        """One hypergraph far too large for any prompt."""

        def __init__(self, options):
            self.vertices = options.vertices

        def hypergraphs(self, seed, base_dir):
            n = self.vertices
            yield Hypergraph.from_edges([(i, i + 1, i + 2) for i in range(0, n - 2, 2)], num_vertices=n,
                                        graph_id="huge")

    class ChatLoader:
        chat_template = True

        def __init__(self, options):
            pass

        def load(self, model_section, strategy, run, train_texts):
            raise NotImplementedError("data tests never load a model")

    @odin_core.hookimpl
    def register_sources(self, register):
        register("test.copies", self.RelabelledCopies, options=self.CopiesOptions)
        register("test.huge", self.Huge, options=self.HugeSourceOptions)

    @odin_core.hookimpl
    def register_model_loaders(self, register):
        register("test.chat_loader", self.ChatLoader)


@pytest.fixture
def data_plugin(core_plugin):
    plugin = DataTestPlugin()
    odin_core.register_plugin(plugin, name="data-test")
    yield plugin
    odin_core.unregister_plugin(name="data-test")


@pytest.fixture
def recipe_file(tmp_path):
    def write(extra="", encodings=ALL_ENCODINGS, name="recipe.toml", cache="cache", text=DATA_RECIPE):
        path = tmp_path / name
        body = text.format(encodings=json.dumps(encodings), cache=(tmp_path / cache).as_posix())
        path.write_text(body + textwrap.dedent(extra), encoding="utf-8")
        return path

    return write


def load(path, *overrides):
    return load_data_recipe(path, list(overrides))


def tree_digest(folder: Path) -> dict:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """One build of the standard test recipe, shared by the read-only checks."""
    folder = tmp_path_factory.mktemp("built")
    path = folder / "recipe.toml"
    path.write_text(DATA_RECIPE.format(encodings=json.dumps(ALL_ENCODINGS), cache=(folder / "cache").as_posix()),
                    encoding="utf-8")
    recipe = load_data_recipe(path)
    dataset, report = data.build_dataset(recipe)
    return recipe, dataset, report


# --- layout ---------------------------------------------------------------------


def test_columns_prompt_layout_and_answers(built):
    _recipe, dataset, report = built
    tasks = registry()["task"]
    assert set(dataset) == {"train", "validation", "test"}
    for split in ("train", "validation", "test"):
        assert list(dataset[split].column_names) == list(data.COLUMNS)
        # a pool of data.adversarial_pool times the request is generated, then cut back per task
        generated = report["adversarial_filter"]["generated"][split]
        assert generated == round(2.0 * report["requested"][split])
        assert len(dataset[split]) == report["examples"][split] <= report["requested"][split]
        assert sum(d["by_split"].get(split, 0) for d in report["dropped"].values()) == generated - len(dataset[split])
    rows = list(dataset["train"]) + list(dataset["test"])
    assert len({r["id"] for r in rows}) == len(rows)
    for row in rows:
        prompt, completion = row["prompt"], row["completion"]
        assert prompt.endswith("\nA:") and "\n\nQ: " in prompt and completion.startswith(" Ans: [")
        first_line = prompt.split("\n")[0]
        assert first_line.startswith(("G describes a hypergraph among vertices", "G1 describes a hypergraph"))
        answer = json.loads(row["answer"])
        assert completion == " " + format_answer(row["answer_kind"], answer)
        parsed = parse_answer(row["answer_kind"], completion)
        assert parsed == (set(answer) if row["answer_kind"] == "vertex_set" else answer)
        assert row["family"] == tasks[row["task"]].factory.family
        assert json.loads(row["generator"])["source"].startswith("hypernetx.")
        meta = json.loads(row["meta"])
        assert meta["prompt_tokens"] == data.token_bound(prompt) <= 2048
        assert row["graph_id"]


def test_every_task_and_encoding_and_the_mismatch_rule(built):
    _recipe, dataset, report = built
    tasks = registry()["task"]
    high_order = {name for name, c in tasks.items() if c.factory.needs_high_order}
    assert high_order and set(tasks) - high_order
    seen = set()
    for row in dataset["train"]:
        seen.add((row["task"], row["encoding"]))
        assert not (row["task"] in high_order and row["encoding"] in LOW), row["id"]
    assert {t for t, _ in seen} == set(report["tasks"]) == set(expand_tasks(["all"], registry()["task"]))
    assert {e for _, e in seen} == set(ALL_ENCODINGS)
    assert sorted(map(tuple, report["skipped_pairs"])) == sorted((t, e) for t in high_order for e in LOW)


def test_yes_no_labels_are_balanced(built):
    _recipe, dataset, _report = built
    stats = data.answer_stats(dict(dataset))
    yes_no = [t for t, e in stats["train"]["tasks"].items() if e["answer_kind"] == "yes_no"]
    assert len(yes_no) >= 6
    for split in ("train", "validation", "test"):
        for task in yes_no:
            if split != "train" and task not in stats[split]["tasks"]:
                continue  # a split of a few hypergraphs may have none a task can ask about (reachability: several components)
            entry = stats[split]["tasks"][task]
            yes = round(entry["yes_rate"] * entry["count"])
            assert abs(2 * yes - entry["count"]) <= 2, (split, task, entry)


# --- splits --------------------------------------------------------------------


def test_splits_share_no_hypergraph_nor_relabelled_copy(recipe_file, data_plugin):
    path = recipe_file("""
    [[data.sources]]
    name = "test.copies"
    count = 40
    """)
    recipe = load(path)
    graphs = data.collect_hypergraphs(recipe)
    splits, keys = data.assign_splits(graphs, recipe.data.split.model_dump(), recipe.seed)
    where = {}
    for split, members in splits.items():
        for g in members:
            where.setdefault(g.params.get("copy_of", g.graph_id), set()).add(split)
    copies = [gid for gid in where if gid.startswith("copies/")]
    assert len(copies) == 40 and all(len(where[gid]) == 1 for gid in copies)
    dataset, _ = data.build_dataset(recipe)
    ids = {s: {r["graph_id"] for r in dataset[s]} for s in dataset}
    graph_keys = {s: {json.loads(r["meta"])["graph_key"] for r in dataset[s]} for s in dataset}
    for a, b in (("train", "validation"), ("train", "test"), ("validation", "test")):
        assert not ids[a] & ids[b] and not graph_keys[a] & graph_keys[b]


def test_relabelled_copies_share_a_key_and_the_key_separates():
    graph = Hypergraph.from_edges([(0, 1, 2), (2, 3), (3, 4, 5), (5,)], num_vertices=7)
    copy = Hypergraph.from_edges([(6, 5, 4), (4, 3), (3, 2, 1), (1,)][::-1], num_vertices=7)
    other = Hypergraph.from_edges([(0, 1, 2), (2, 3), (3, 4, 5), (3,)], num_vertices=7)  # singleton on a shared vertex
    assert data.graph_key(graph) == data.graph_key(copy) != data.graph_key(other)


def test_a_split_without_hypergraphs_stays_empty_and_says_why(recipe_file):
    recipe = load(recipe_file(), "data.sources.0.count=1", "data.sources.1.count=1")
    dataset, report = data.build_dataset(recipe)
    empty = [split for split in ("train", "validation", "test") if report["hypergraphs"][split] == 0]
    assert len(empty) == 1 and len(dataset["train"]) > 0  # two hypergraphs for three splits
    assert len(dataset[empty[0]]) == 0 and report["requested"][empty[0]] == 0
    assert report["warnings"] == [w for w in report["warnings"] if f"split '{empty[0]}' asked for 68 examples but "
                                  "got no hypergraph" in w] != []


# --- determinism, processes, cache ------------------------------------------------


def test_same_recipe_and_seed_give_identical_files_for_any_num_proc(recipe_file, tmp_path):
    first, second, reseeded = {}, {}, {}
    a = data.load_or_build(load(recipe_file(), "data.num_proc=1"), report_out=first)
    b = data.load_or_build(load(recipe_file(cache="other"), "data.num_proc=2"), report_out=second)
    assert first["cache_path"] != second["cache_path"] and not second["cached"]
    digest_a = tree_digest(Path(first["cache_path"]) / "dataset")
    assert any(name.endswith(".arrow") for name in digest_a)
    assert digest_a == tree_digest(Path(second["cache_path"]) / "dataset")
    assert a["train"]["prompt"] == b["train"]["prompt"]
    data.load_or_build(load(recipe_file(cache="third"), "seed=12"), report_out=reseeded)
    train = "train/data-00000-of-00001.arrow"
    assert tree_digest(Path(reseeded["cache_path"]) / "dataset")[train] != digest_a[train]


def test_identical_bytes_from_a_fresh_process_with_another_hash_seed(recipe_file, tmp_path):
    path = recipe_file(encodings=["hypernetx.n_set", "hypernetx.lo_inc"])
    report: dict = {}
    data.load_or_build(load(path, "data.num_examples.train=68"), report_out=report)
    result = run_odin("data", "build", str(path), "--set", "data.num_examples.train=68", "--force",
                      env_extra={"PYTHONHASHSEED": "12345"})
    assert result.returncode == 0, result.stderr
    assert report["cache_path"] in result.stdout
    # --force rebuilt the same folder from scratch in the other process
    fresh = tree_digest(Path(report["cache_path"]) / "dataset")
    rebuilt: dict = {}
    data.load_or_build(load(path, "data.num_examples.train=68"), force=True, report_out=rebuilt)
    assert tree_digest(Path(rebuilt["cache_path"]) / "dataset") == fresh


def test_cache_reuses_and_changed_options_rebuild(recipe_file, tmp_path):
    path = recipe_file()
    first: dict = {}
    data.load_or_build(load(path), report_out=first)
    assert first["cached"] is False
    stamp = os.stat(Path(first["cache_path"]) / "report.json").st_mtime_ns
    again: dict = {}
    dataset = data.load_or_build(load(path, "data.num_proc=2"), report_out=again)  # num_proc changes no byte
    assert again["cached"] is True and again["cache_path"] == first["cache_path"]
    assert os.stat(Path(first["cache_path"]) / "report.json").st_mtime_ns == stamp
    assert len(dataset["train"]) == first["examples"]["train"]
    changed: dict = {}
    data.load_or_build(load(path, "data.sources.0.edge_size_decay=2.0"), report_out=changed)
    assert changed["cached"] is False and changed["cache_path"] != first["cache_path"]
    assert not list(Path(first["cache_path"]).parent.glob(".*"))  # no temporary folder left behind


def test_changed_input_file_rebuilds(tmp_path):
    (tmp_path / "g.txt").write_text("a b c\nc d\nd e f\n", encoding="utf-8")
    path = tmp_path / "r.toml"
    path.write_text(textwrap.dedent(f"""\
        [data]
        tasks = ["hyperedge_count"]
        encodings = ["hypernetx.n_set"]
        cache_dir = "{(tmp_path / 'cache').as_posix()}"
        split = {{ train = 1.0, validation = 0.0, test = 0.0 }}
        num_examples = {{ train = 5, validation = 0, test = 0 }}
        [[data.sources]]
        name = "hypernetx.edgelist"
        path = "g.txt"
        """), encoding="utf-8")
    first: dict = {}
    data.load_or_build(load(path), report_out=first)
    (tmp_path / "g.txt").write_text("a b c\nc d\n", encoding="utf-8")
    second: dict = {}
    dataset = data.load_or_build(load(path), report_out=second)
    assert second["cached"] is False and second["cache_path"] != first["cache_path"]
    assert set(dataset["train"]["completion"]) == {" Ans: [2]"}


# --- token budget -----------------------------------------------------------------


def test_examples_over_the_token_budget_are_dropped_and_reported(recipe_file):
    recipe = load(recipe_file(), "data.max_prompt_tokens=200")
    dataset, report = data.build_dataset(recipe)
    dropped = report["dropped"]["too_long"]
    assert dropped["count"] > 0 and report["dropped_total"] >= dropped["count"]
    assert "max_prompt_tokens = 200" in dropped["why"] and "never truncated" in dropped["why"]
    assert sum(dropped["by_encoding"].values()) == dropped["count"]
    for split in dataset:
        assert all(data.token_bound(p) <= 200 for p in dataset[split]["prompt"])
        assert len(dataset[split]) == report["examples"][split]


def test_a_huge_hypergraph_is_refused_before_encoding(tmp_path, data_plugin):
    text = """\
    [data]
    tasks = ["vertex_count"]
    encodings = ["hypernetx.adj_mat", "hypernetx.inc_mat"]
    split = { train = 1.0, validation = 0.0, test = 0.0 }
    num_examples = { train = 4, validation = 0, test = 0 }
    [[data.sources]]
    name = "test.huge"
    vertices = 20000
    """
    (tmp_path / "huge.toml").write_text(textwrap.dedent(text), encoding="utf-8")
    dataset, report = data.build_dataset(load(tmp_path / "huge.toml"))
    assert len(dataset["train"]) == 0
    assert report["dropped"]["too_long"]["count"] == report["adversarial_filter"]["generated"]["train"] == 8


def test_approx_tokens_counts_pieces():
    assert data.approx_tokens("") == 0
    assert data.approx_tokens("v12,") == 3  # v / 12 / ,
    assert data.approx_tokens("1 0 1\n0 1 1") == 6
    assert data.approx_tokens("hyperedges") == 2  # one per 5 letters
    assert data.approx_tokens("1234567") == 3  # digits in groups of 3


def test_token_bound_counts_pieces():
    assert data.token_bound("") == 0
    assert data.token_bound("v12,") == 4  # v / 1 / 2 / ,
    assert data.token_bound("1 0 1\n0 1 1") == 11  # 6 digits, 4 spaces before a digit, the newline
    assert data.token_bound("hyperedges") == 4  # one per 3 letters after the first
    assert data.token_bound("a, b") == 3
    assert all(data.token_bound(t) >= data.approx_tokens(t) for t in ("v12, v3", "1 0 1", "hypergraph e4 = (v1)"))


# --- chat messages --------------------------------------------------------------------


CHAT_RECIPE = """\
name = "chat-test"
[model]
loader = "{loader}"
{chat}
[finetune]
strategy = "test.frozen"
[data]
tasks = ["vertex_count", "vertex_connection"]
encodings = ["hypernetx.n_set"]
num_examples = {{ train = 8, validation = 4, test = 4 }}
[[data.sources]]
name = "hypernetx.synthetic"
count = 30
"""


@pytest.mark.parametrize("loader, chat, expected", [
    ("test.loader", "", False),
    ("test.loader", "chat_template = true", True),
    ("test.chat_loader", "", True),
    ("test.chat_loader", "chat_template = false", False),
])
def test_messages_column_follows_the_chat_template(tmp_path, data_plugin, loader, chat, expected):
    path = tmp_path / "chat.toml"
    path.write_text(CHAT_RECIPE.format(loader=loader, chat=chat), encoding="utf-8")
    recipe = load_data_recipe(path)
    assert recipe_uses_chat(recipe) is expected
    dataset, _ = data.build_dataset(recipe)
    assert ("messages" in dataset["train"].column_names) is expected
    if expected:
        row = dataset["train"][0]
        assert row["messages"] == [{"role": "user", "content": row["prompt"]},
                                   {"role": "assistant", "content": row["completion"].strip()}]


# --- frozen evaluation set -----------------------------------------------------------


def test_frozen_eval_set_loads_and_matches_its_checksum():
    frozen = data.frozen_eval_set("hypergraph-eval-v1")
    assert len(frozen) > 2000 and frozen.column_names == list(data.COLUMNS)
    assert {r for r in frozen["task"]} == set(expand_tasks(["all"], registry()["task"]))
    assert set(frozen["encoding"]) == set(ALL_ENCODINGS)
    assert all(i.startswith("hypergraph-eval-v1/test-") for i in frozen["id"])
    body = (data.FROZEN_DIR / "hypergraph-eval-v1" / data.FROZEN_FILE).read_bytes()
    listed = (data.FROZEN_DIR / "hypergraph-eval-v1" / data.CHECKSUM_FILE).read_text().split()[0]
    assert hashlib.sha256(body).hexdigest() == listed


def test_a_modified_frozen_set_is_refused(tmp_path):
    copy = tmp_path / "eval"
    shutil.copytree(data.FROZEN_DIR / "hypergraph-eval-v1", copy)
    lines = (copy / data.FROZEN_FILE).read_text(encoding="utf-8").splitlines()
    lines[3] = lines[3].replace('Ans: [', 'Ans: [1')
    (copy / data.FROZEN_FILE).write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match="checksum mismatch"):
        data.frozen_eval_set(str(copy))
    with pytest.raises(DataError, match="no frozen evaluation set 'nope'"):
        data.frozen_eval_set("nope")


def test_frozen_set_is_the_test_split_and_stays_out_of_training(recipe_file):
    recipe = load(recipe_file(), 'data.frozen_eval="hypergraph-eval-v1"', "data.sources.0.count=400")
    dataset, report = data.build_dataset(recipe)
    frozen = data.frozen_eval_set("hypergraph-eval-v1")
    assert dataset["test"]["id"] == frozen["id"] and report["requested"]["test"] == 0
    assert report["hypergraphs"]["test"] == 0  # its share of hypergraphs goes to training instead
    frozen_keys = {json.loads(m)["graph_key"] for m in frozen["meta"]}
    for split in ("train", "validation"):
        assert not frozen_keys & {json.loads(m)["graph_key"] for m in dataset[split]["meta"]}


def test_freeze_writes_a_set_that_loads_back(recipe_file, tmp_path):
    recipe = load(recipe_file(), "data.num_examples.test=34")
    folder, report = data.write_frozen_eval_set(recipe, "mini", tmp_path / "mini")
    frozen = data.frozen_eval_set(str(folder))
    assert len(frozen) == report["examples"]["test"] and all(i.startswith("mini/test-") for i in frozen["id"])
    assert frozen["id"] != sorted(frozen["id"])  # shuffled: no answer follows the row order
    assert json.loads((folder / "recipe.json").read_text())["seed"] == 11


# --- recipes and the command line ------------------------------------------------------


def test_base_recipes_validate():
    base = load_data_recipe(REPO / "recipes" / "base" / "hypergraph_data.toml")
    assert base.data.encoding_names == ALL_ENCODINGS and base.data.task_names == ["all"]
    assert base.data.frozen_eval == "hypergraph-eval-v3"
    assert {s.name for s in base.data.sources} >= {"hypernetx.synthetic", "hypernetx.sample", "hypernetx.structures"}
    frozen_recipe = load_data_recipe(REPO / "recipes" / "base" / "hypergraph_eval_v1.toml")
    assert frozen_recipe.name == "hypergraph-eval-v1" and frozen_recipe.data.split.test == 1.0


def test_cli_build_show_stats(recipe_file):
    path = str(recipe_file(encodings=["hypernetx.n_set", "hypernetx.adj_mat"]))
    runner = CliRunner()
    built = runner.invoke(cli, ["data", "build", path, "--set", "data.num_examples.train=68"])
    assert built.exit_code == 0, built.output
    assert "built:" in built.output and "train" in built.output and "examples/s" in built.output
    again = runner.invoke(cli, ["data", "build", path, "--set", "data.num_examples.train=68"])
    assert "reused cached dataset" in again.output
    shown = runner.invoke(cli, ["data", "show", path, "--set", "data.num_examples.train=68", "-n", "2",
                                "--task", "vertex_connection"])
    assert shown.exit_code == 0 and shown.output.count("task=hypernetx.vertex_connection ") == 2
    assert "\nQ: " in shown.output and "A: Ans: [" in shown.output
    stats = runner.invoke(cli, ["data", "stats", path, "--set", "data.num_examples.train=68"])
    assert stats.exit_code == 0 and "vertex_connection" in stats.output and "yes 50%" in stats.output
    as_json = runner.invoke(cli, ["data", "stats", path, "--set", "data.num_examples.train=68", "--json"])
    assert json.loads(as_json.output)["stats"]["train"]["count"] > 0


def test_cli_errors_are_one_line(recipe_file, tmp_path):
    runner = CliRunner()
    bad = runner.invoke(cli, ["data", "build", str(recipe_file(encodings=["hypernetx.nset"]))])
    assert bad.exit_code == 2 and "data.encodings.0" in bad.output and "did you mean 'hypernetx.n_set'" in bad.output
    assert "Traceback" not in bad.output
    (tmp_path / "bad.txt").write_bytes(b"a b\n\xff\n")
    text = f"""\
    [data]
    encodings = ["hypernetx.n_set"]
    cache_dir = "{(tmp_path / 'c').as_posix()}"
    [[data.sources]]
    name = "hypernetx.edgelist"
    path = "bad.txt"
    """
    (tmp_path / "r.toml").write_text(textwrap.dedent(text), encoding="utf-8")
    result = runner.invoke(cli, ["data", "build", str(tmp_path / "r.toml")])
    assert result.exit_code == 2 and f"{tmp_path / 'bad.txt'}:2" in result.output and "not UTF-8" in result.output
    missing = tmp_path / "nodata.toml"
    missing.write_text('name = "x"\n', encoding="utf-8")
    with pytest.raises(RecipeError, match="no \\[data\\] section"):
        load_data_recipe(missing)


def test_frozen_set_subset_keeps_the_recipes_encodings_and_rows_per_task(tmp_path):
    recipe = load_data_recipe(REPO / "recipes" / "base" / "hypergraph_data.toml", [
        'data.encodings=["hypernetx.n_set", "hypernetx.n_pair"]', "data.frozen_per_task=5",
        "data.num_examples.train=34", "data.num_examples.validation=0", f'data.cache_dir="{tmp_path}"'])
    test = data.load_or_build(recipe)["test"]
    frozen = data.frozen_eval_set(recipe.data.frozen_eval)
    expected = {}
    for row in frozen:  # computed here from the whole set: the first 5 rows per task of those encodings
        if row["encoding"] in ("hypernetx.n_set", "hypernetx.n_pair") and len(expected.setdefault(row["task"], [])) < 5:
            expected[row["task"]].append(row["id"])
    assert sorted(test["id"]) == sorted(i for ids in expected.values() for i in ids)
    assert set(test["encoding"]) <= {"hypernetx.n_set", "hypernetx.n_pair"} and len(expected) == 17
