"""Generalisation splits: frozen sets with extra splits (relabelled vertices, larger and real hypergraphs),
unseen encodings, their exclusion from training, ``generation.extra_splits``, ``odin eval --split`` and the report."""

import json
import re
import shutil
from collections import Counter

import pytest
from click.testing import CliRunner

from odin_core import data
from odin_core.cli import cli
from odin_core.data.relabel import WORDS
from odin_core.foundation.errors import DataError, RecipeError
from odin_core.foundation.files import read_jsonl

from conftest import REPO, load_data_recipe

FREEZE_RECIPE = """\
name = "gen-mini"
seed = 23

[data]
tasks = {tasks}
encodings = ["hypernetx.n_set", "hypernetx.ho_inc"]
cache_dir = "{cache}"

[data.num_examples]
train = 0
validation = 0
test = {test}

[data.split]
train = 0.0
validation = 0.0
test = 1.0

[[data.sources]]
name = "hypernetx.synthetic"
count = 60

[[data.sources]]
name = "hypernetx.sample"
count = 20
source = {{ name = "hypernetx.lesmis", by = "scene" }}

[data.extra_splits.relabelled]
vertex_names = "permuted"
num_examples = {paired}

[data.extra_splits.renamed]
vertex_names = "words"
num_examples = {paired}

[data.extra_splits.larger]
description = "20-30 vertices"
num_examples = {larger}
max_prompt_tokens = 8192
sources = [{{ name = "hypernetx.synthetic", count = 20, size_classes = [[20, 30]] }}]

[data.extra_splits.real]
num_examples = {larger}
sources = [{{ name = "hypernetx.sample", count = 20, source = {{ name = "hypernetx.harry_potter" }} }}]
"""

TRAIN_RECIPE = """\
name = "gen-train"
seed = 5

[data]
tasks = ["all"]
encodings = ["hypernetx.n_set"]
cache_dir = "{cache}"
frozen_eval = "{frozen}"

[data.num_examples]
train = 170
validation = 17
test = 0

[[data.sources]]
name = "hypernetx.synthetic"
count = 200
size_classes = [[5, 9], [20, 30]]

[[data.sources]]
name = "hypernetx.sample"
count = 100
source = {{ name = "hypernetx.lesmis", by = "scene" }}
"""


def table_rows(text, heading):
    """Rows (dicts by header) of the first Markdown table after ``heading``."""
    section = text.split(heading + "\n", 1)[1].splitlines()
    start = next(i for i, line in enumerate(section) if line.startswith("|"))
    lines = []
    for line in section[start:]:
        if not line.startswith("|"):
            break
        lines.append(line)
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    return [dict(zip(header, [c.strip() for c in line.strip("|").split("|")])) for line in lines[2:]]


def rows(folder, split):
    return [json.loads(line) for line in (folder / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def frozen(tmp_path_factory):
    """One tiny frozen set with four extra splits, shared by the read-only checks."""
    tmp = tmp_path_factory.mktemp("gensplits")
    path = tmp / "freeze.toml"
    path.write_text(FREEZE_RECIPE.format(tasks='["all"]', cache=tmp / "cache", test=136, paired=68, larger=34),
                    encoding="utf-8")
    folder, report = data.write_frozen_eval_set(load_data_recipe(path), "gen-mini", tmp / "gen-mini")
    return folder, report


@pytest.mark.timeout(120)
def test_freeze_writes_every_split_with_its_checksum(frozen, tmp_path):
    folder, report = frozen
    assert data.frozen_splits(str(folder)) == ["test", "relabelled", "renamed", "larger", "real"]
    sums = dict(reversed(line.split()) for line in (folder / data.CHECKSUM_FILE).read_text().splitlines())
    assert set(sums) == {"test.jsonl", "relabelled.jsonl", "renamed.jsonl", "larger.jsonl", "real.jsonl"}
    info = json.loads((folder / "recipe.json").read_text())
    for split in data.frozen_splits(str(folder)):
        loaded = data.frozen_eval_set(str(folder), split)
        assert len(loaded) == info["splits"][split]["examples"] == report["splits"][split] > 0
        assert info["splits"][split]["prompt_tokens"]["max"] >= info["splits"][split]["prompt_tokens"]["min"] > 0
    assert info["splits"]["larger"]["max_prompt_tokens"] == 8192 and info["splits"]["larger"]["pairs_with"] is None
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    lines = (copy / "larger.jsonl").read_text(encoding="utf-8").splitlines()
    lines[0] = lines[0].replace("Ans: [", "Ans: [1")
    (copy / "larger.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert len(data.frozen_eval_set(str(copy))) == len(rows(folder, "test"))  # the other splits still read
    with pytest.raises(DataError, match="checksum mismatch"):
        data.frozen_eval_set(str(copy), "larger")
    with pytest.raises(DataError, match=r"has no split 'nope' \(it has: test, relabelled, renamed, larger, real\)"):
        data.frozen_eval_set(str(folder), "nope")


@pytest.mark.timeout(60)
@pytest.mark.parametrize("split", ["relabelled", "renamed"])
def test_relabelled_rows_pair_one_to_one_with_the_test_rows(frozen, split):
    folder, _ = frozen
    originals = {row["id"]: row for row in rows(folder, "test")}
    relabelled = rows(folder, split)
    info = json.loads((folder / "recipe.json").read_text())["splits"][split]
    assert info["pairs_with"] == "test" and info["left_out"]["unpaired"] <= 1  # one original may be over the budget
    paired = [data.paired_id(row["id"]) for row in relabelled]
    assert len(set(paired)) == len(paired) and set(paired) <= set(originals)
    # test rows among the first questions generated (the pool is data.adversarial_pool times the request):
    # those the filter kept in the test split, less the ones left out to keep yes/no tasks balanced
    assert len(relabelled) >= 30 and info["left_out"]["unbalanced"] <= len(relabelled)
    for row in relabelled:
        first = originals[data.paired_id(row["id"])]
        assert row["task"] == first["task"] and row["encoding"] == first["encoding"]
        assert row["prompt"] != first["prompt"]
        assert json.loads(row["meta"])["graph_key"] == json.loads(first["meta"])["graph_key"]
        old, new = re.findall(r"\bv\d+\b", first["prompt"]), re.findall(r"\b\w+\b", row["prompt"])
        names = [w for w in new if (re.fullmatch(r"v\d+", w) if split == "relabelled" else w in WORDS)]
        renaming = dict(zip(old, names))
        assert len(old) == len(names) and len(set(renaming.values())) == len(renaming)
        assert all(renaming[a] == b for a, b in zip(old, names))  # one renaming, applied everywhere
        assert renaming != {a: a for a in renaming}  # names really differ
        a, b = json.loads(first["answer"]), json.loads(row["answer"])
        if row["answer_kind"] == "vertex_set":
            assert sorted(renaming[v] for v in a) == sorted(b)
        else:
            assert a == b
        if split == "renamed":
            assert not re.search(r"\bv\d+\b", row["prompt"]) and not {",", "[", "]"} & set("".join(names))


@pytest.mark.timeout(60)
def test_larger_and_real_splits(frozen):
    folder, _ = frozen
    sizes = [json.loads(row["generator"])["n"] for row in rows(folder, "larger")]
    assert sizes and all(20 <= n <= 30 for n in sizes)
    test_sizes = [json.loads(row["generator"]).get("n") for row in rows(folder, "test")]
    assert max(n for n in test_sizes if n) <= 19
    real = rows(folder, "real")
    assert real and all(json.loads(row["generator"])["source"] == "hypernetx.sample" for row in real)
    assert all("harry" in row["generator"].lower() for row in real)


@pytest.mark.timeout(180)
def test_training_keeps_every_split_of_the_frozen_set_out(frozen, tmp_path):
    folder, _ = frozen
    path = tmp_path / "train.toml"
    path.write_text(TRAIN_RECIPE.format(cache=tmp_path / "cache", frozen=folder.as_posix()), encoding="utf-8")
    dataset, _ = data.build_dataset(load_data_recipe(path))
    excluded = data.frozen_graph_keys(str(folder))
    for split in data.frozen_splits(str(folder)):
        keys = {json.loads(m)["graph_key"] for m in data.frozen_eval_set(str(folder), split)["meta"]}
        assert keys <= excluded
        for own in ("train", "validation"):
            assert not keys & {json.loads(m)["graph_key"] for m in dataset[own]["meta"]}


@pytest.mark.timeout(60)
def test_extra_splits_of_a_run_recipe(frozen, tmp_path):
    folder, _ = frozen
    path = tmp_path / "train.toml"
    path.write_text(TRAIN_RECIPE.format(cache=tmp_path / "cache", frozen=folder.as_posix()), encoding="utf-8")
    recipe = load_data_recipe(path, ['generation.extra_splits=["relabelled", "unseen_encodings"]'])
    data.check_extra_splits(recipe)
    assert data.available_splits(recipe) == ["relabelled", "renamed", "larger", "real", "unseen_encodings"]
    unseen = data.extra_split(recipe, "unseen_encodings")
    assert len(unseen) > 0 and set(unseen["encoding"]) == {"hypernetx.ho_inc"}
    assert set(data.extra_split(recipe, "relabelled")["encoding"]) == {"hypernetx.n_set"}
    bad = load_data_recipe(path, ['generation.extra_splits=["relabeled"]'])
    with pytest.raises(RecipeError, match=r"generation.extra_splits: unknown split\(s\) 'relabeled'; frozen set .* "
                                          r"has: relabelled, renamed, larger, real, unseen_encodings"):
        data.check_extra_splits(bad)
    with pytest.raises(RecipeError, match="generation.extra_splits: .*set data.frozen_eval"):
        load_data_recipe(path, ['data.frozen_eval=""', 'generation.extra_splits=["larger"]'])
    with pytest.raises(RecipeError, match="data.extra_splits"):
        load_data_recipe(path, ['data.extra_splits.test.vertex_names="words"'])


@pytest.mark.timeout(60)
def test_v2_recipe_validates():
    recipe = load_data_recipe(REPO / "recipes" / "base" / "hypergraph_eval_v2.toml")
    assert recipe.name == "hypergraph-eval-v2" and recipe.seed != 20250601 and recipe.data.num_examples.test == 2380
    assert set(recipe.data.extra_splits) == {"relabelled", "renamed", "larger_20_40", "larger_40_80", "real"}
    assert recipe.data.extra_splits["larger_40_80"].max_prompt_tokens > recipe.data.max_prompt_tokens


# --- a tiny real run: generation.extra_splits, odin eval --split, the report ---------------------------

RUN_RECIPE = """\
name = "gen-run"
seed = 5

[model]
loader = "models.scratch"
max_seq_length = 2048
num_layers = 2
hidden_size = 32
num_heads = 4
vocab_size = 320

[finetune]
strategy = "finetune.lora"
r = 4
alpha = 8

[data]
tasks = ["hypernetx.hyperedge_count", "hypernetx.vertex_connection", "hypernetx.shared_vertices"]
encodings = ["hypernetx.n_set"]
cache_dir = "{cache}"
frozen_eval = "{frozen}"

[data.num_examples]
train = 48
validation = 6
test = 0

[[data.sources]]
name = "hypernetx.synthetic"
count = 60

[training]
engine = "transformers"
max_steps = 2
batch_size = 8
logging_steps = 1
save_steps = 100

[generation]
batch_size = 8
max_new_tokens = 12
evaluate_base = false
extra_splits = ["relabelled", "larger", "unseen_encodings"]
"""


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_run_evaluates_extra_splits_and_odin_eval_split(tmp_path):
    tasks = '["hypernetx.hyperedge_count", "hypernetx.vertex_connection", "hypernetx.shared_vertices"]'
    freeze = tmp_path / "freeze.toml"
    freeze.write_text(FREEZE_RECIPE.format(tasks=tasks, cache=tmp_path / "cache", test=12, paired=6, larger=6),
                      encoding="utf-8")
    folder, _ = data.write_frozen_eval_set(load_data_recipe(freeze), "gen-tiny", tmp_path / "gen-tiny")
    recipe = tmp_path / "run.toml"
    recipe.write_text(RUN_RECIPE.format(cache=tmp_path / "cache", frozen=folder.as_posix()), encoding="utf-8")
    runner = CliRunner()
    result = runner.invoke(cli, ["run", str(recipe), "--output-dir", str(tmp_path / "runs")])
    assert result.exit_code == 0, result.output
    (run,) = (tmp_path / "runs").iterdir()
    metrics = json.loads((run / "metrics.json").read_text())
    extra = metrics["extra_splits"]
    assert set(extra) == {"relabelled", "larger", "unseen_encodings"}
    assert extra["larger"]["prompt_tokens"]["max"] > 0 and extra["unseen_encodings"]["encodings"] == ["hypernetx.ho_inc"]
    for name, record in extra.items():  # the shallow rules scored on exactly the rows that were evaluated
        heuristics = record["heuristics"]
        assert heuristics["split"] == name and heuristics["rows"] == record["num_examples"]
        evaluated = read_jsonl(run / record["predictions_file"])
        assert {task: entry["rows"] for task, entry in heuristics["tasks"].items()} == dict(
            Counter(r["task"] for r in evaluated))
    pairs = extra["relabelled"]["consistency"]
    assert pairs["pairs"] == extra["relabelled"]["num_examples"] > 0
    assert pairs["both"] + pairs["original_only"] + pairs["relabelled_only"] + pairs["neither"] == pairs["pairs"]
    text = (run / "report.md").read_text()
    table = {row["split"]: row for row in table_rows(text, "## Generalisation splits")}
    assert {"relabelled", "larger", "unseen_encodings"} <= set(table) and "95% CI" in text.split("## Generalisation")[1]
    assert "### Relabelled consistency" in text

    result = runner.invoke(cli, ["eval", str(run), "--split", "renamed", "--no-baselines"])
    assert result.exit_code == 0, result.output
    record = json.loads((run / "metrics.json").read_text())["evaluations"]["gen-tiny-renamed"]
    assert record["extra_split"] == "renamed" and record["consistency"]["pairs"] == record["num_examples"]
    assert "gen-tiny-renamed" in (run / "report.md").read_text().split("## Generalisation splits")[1]

    result = runner.invoke(cli, ["eval", str(run), "--split", "bigger"])
    assert result.exit_code == 2
    assert ("no split 'bigger'; the run's dataset has: train, validation, test; extra splits of frozen set "
            in result.output and "relabelled, renamed, larger, real, unseen_encodings" in result.output)
    assert "Traceback" not in result.output
