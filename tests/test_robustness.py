"""Nothing lost, nothing run that was not asked for: the bad inputs and faults of issue 12, one regression test
each (the table in docs/robustness.md lists them with what each yields)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import REPO, run_odin
from odin_core.cli import cli
from odin_core.flows.run import RunFlow
from odin_core.foundation.errors import DataError, RecipeError
from odin_core.foundation.files import atomic_write_dir
from odin_core.recipe import load_recipe

QUICKSTART = REPO / "recipes" / "quickstart.toml"


def odin(*args, cwd=None):
    """The CLI in this process (the core test components registered here are visible to it)."""
    if cwd is None:
        result = CliRunner().invoke(cli, [str(a) for a in args])
    else:
        before = os.getcwd()
        os.chdir(cwd)
        try:
            result = CliRunner().invoke(cli, [str(a) for a in args])
        finally:
            os.chdir(before)
    return result.exit_code, result.output


def started_run(recipe_path, output_dir, overrides=()) -> Path:
    """A run directory as step 2 of ``odin run`` makes it (resolved recipe.toml, environment, log)."""
    flow = RunFlow(load_recipe(recipe_path, list(overrides)), output_dir=output_dir)
    flow.setup_run_dir()
    return flow.run_dir.path


def snapshot(folder: Path) -> dict:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# --- 1. export never deletes what it did not write ------------------------------------------------


@pytest.mark.timeout(120)
def test_export_refuses_a_folder_it_did_not_write_and_the_run_itself(tmp_path):
    run = started_run(QUICKSTART, tmp_path / "runs")
    unrelated = tmp_path / "some" / "folder"
    unrelated.mkdir(parents=True)
    (unrelated / "thesis.tex").write_text("years of work")
    before_run, before_folder = snapshot(run), snapshot(unrelated)
    for target, words in ((unrelated, "not an earlier export by Odin"), (run, "is the run directory"),
                          (run.parent, "is the run directory"), (run / "recipe.toml", "is inside the run directory")):
        code, out = odin("export", run, "--merged", "--output", target)
        assert code == 2 and words in out and "Traceback" not in out, out
    code, out = odin("export", run, "--merged", "--output", ".", cwd=unrelated)  # the working directory
    assert code == 2 and "not an earlier export by Odin" in out, out
    assert snapshot(run) == before_run and snapshot(unrelated) == before_folder


@pytest.mark.timeout(60)
def test_a_replaced_export_is_kept_until_the_new_one_is_complete(tmp_path):
    target = tmp_path / "export"
    atomic_write_dir(target, lambda tmp: (tmp / "model.safetensors").write_text("old"))

    def fail_halfway(tmp):
        (tmp / "model.safetensors").write_text("half")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        atomic_write_dir(target, fail_halfway)
    assert (target / "model.safetensors").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export"]  # no temporary folder left


# --- 2. --resume finds only this recipe's own runs ---------------------------------------------------


@pytest.mark.timeout(60)
def test_resume_latest_never_picks_another_recipes_run(core_plugin, write_recipe, tmp_path):
    from conftest import MINIMAL_RECIPE

    other = write_recipe(MINIMAL_RECIPE.replace('name = "core-test"', 'name = "pre-x"'), name="pre-x.toml")
    mine = write_recipe(MINIMAL_RECIPE.replace('name = "core-test"', 'name = "pre"'), name="pre.toml")
    run = started_run(other, tmp_path / "runs")
    before = snapshot(run)
    code, out = odin("run", mine, "--resume", "--output-dir", tmp_path / "runs")
    assert code == 2 and "no earlier run of 'pre'" in out, out
    assert snapshot(run) == before  # the other recipe's recipe.toml is not rewritten


# --- 3. --resume refuses folders that are not runs, and changed training settings ----------------------


@pytest.mark.timeout(60)
def test_resume_refuses_a_data_folder(core_plugin, write_recipe, tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "graph.hif.json").write_text("{}")
    code, out = odin("run", write_recipe(), "--resume", folder)
    assert code == 2 and "not a run directory" in out, out
    assert [p.name for p in folder.iterdir()] == ["graph.hif.json"]


@pytest.mark.timeout(60)
def test_resume_refuses_changed_training_settings_unless_allowed(core_plugin, write_recipe, tmp_path):
    recipe = write_recipe()
    run = started_run(recipe, tmp_path / "runs")
    before = snapshot(run)
    code, out = odin("run", recipe, "--resume", run, "--set", "training.learning_rate=0.5",
                     "--set", "data.num_examples.train=7")
    assert code == 2, out
    assert "training.learning_rate: 0.0002 in the run, 0.5 now" in out and "data.num_examples.train" in out
    assert "--allow-changes" in out and snapshot(run) == before
    # settings that do not change the trained weights may differ
    flow = RunFlow(load_recipe(recipe, ["training.logging_steps=1", "generation.max_examples=3"]), resume=str(run))
    flow.setup_run_dir()
    # with the flag: resumed, and the changes recorded in the run directory
    flow = RunFlow(load_recipe(recipe, ["training.learning_rate=0.5"]), resume=str(run), allow_changes=True)
    flow.setup_run_dir()
    (record,) = [json.loads(line) for line in (run / "resumes.jsonl").read_text().splitlines()]
    assert record["changes"] == {"training.learning_rate": {"run": 0.0002, "now": 0.5}}
    assert "--allow-changes" in (run / "odin.log").read_text()


# --- 4. the dataset cache: replaced atomically, locked per entry, killed builds cleaned up, checksummed ----

EDGE_RECIPE = """\
[data]
tasks = ["hyperedge_count"]
encodings = ["hypernetx.n_set"]
cache_dir = "{cache}"
split = {{ train = 1.0, validation = 0.0, test = 0.0 }}
num_examples = {{ train = 5, validation = 0, test = 0 }}
[[data.sources]]
name = "hypernetx.edgelist"
path = "g.txt"
"""


@pytest.fixture
def edge_recipe(tmp_path):
    (tmp_path / "g.txt").write_text("a b c\nc d\nd e f\n", encoding="utf-8")
    path = tmp_path / "r.toml"
    path.write_text(EDGE_RECIPE.format(cache=(tmp_path / "cache").as_posix()), encoding="utf-8")
    return path


def build(path, force=False) -> dict:
    from odin_core import data

    report: dict = {}
    data.load_or_build(load_recipe(path, require_model=False), force=force, report_out=report)
    return report


@pytest.mark.timeout(120)
def test_a_killed_rebuild_leaves_a_cache_the_next_build_repairs(edge_recipe):
    entry = Path(build(edge_recipe)["cache_path"])
    # what a build killed in the middle of a replace leaves: its temporary folders, and (before this fix)
    # an entry under its final name with files already deleted
    for leftover in (f".{entry.name}.k1ll3d", f".{entry.name}.old.x7"):
        (entry.parent / leftover / "content").mkdir(parents=True)
    arrow = next(entry.rglob("*.arrow"))
    arrow.unlink()
    again = build(edge_recipe)
    assert again["cached"] is False and any("was rebuilt" in w and arrow.name in w for w in again["warnings"])
    assert not list(entry.parent.glob(".*")) and arrow.is_file()
    # a truncated Arrow file is noticed too, never silently reused
    with open(arrow, "r+b") as fh:
        fh.truncate(arrow.stat().st_size // 2)
    assert build(edge_recipe)["cached"] is False and build(edge_recipe)["cached"] is True


@pytest.mark.timeout(300)
def test_two_forced_builds_of_one_recipe_at_once_both_succeed(edge_recipe):
    env = {"PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "plugins"), os.environ.get("PYTHONPATH", "")])}
    processes = [subprocess.Popen([sys.executable, "-m", "odin_core", "data", "build", str(edge_recipe), "--force"],
                                  cwd=REPO, env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=240) for p in processes]
    assert [p.returncode for p in processes] == [0, 0], outputs
    assert build(edge_recipe)["cached"] is True


# --- 9. errors that name the key: folders that cannot be written ----------------------------------------


@pytest.mark.timeout(60)
def test_a_cache_dir_or_output_dir_that_is_a_file_names_the_key(core_plugin, write_recipe, edge_recipe, tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file")
    code, out = odin("data", "build", edge_recipe, "--set", f"data.cache_dir={json.dumps(str(blocker))}")
    assert code == 2 and "data.cache_dir" in out and "not a folder" in out, out
    code, out = odin("data", "build", edge_recipe, "--set", 'data.cache_dir="/proc/odin-cache"')
    assert code == 2 and "data.cache_dir" in out and "unexpected" not in out, out
    with pytest.raises(RecipeError, match="output_dir"):
        started_run(write_recipe(), blocker)
    with pytest.raises(RecipeError, match="output_dir"):
        started_run(write_recipe(), "/proc/odin-runs")


# --- 5. non-finite numbers: refused in recipes, and a diverged run stops without saving -------------------


@pytest.mark.timeout(60)
@pytest.mark.parametrize("value", ["inf", "nan", "-inf"])
def test_non_finite_numbers_in_a_recipe_are_refused(core_plugin, write_recipe, value):
    code, out = odin("validate", write_recipe(), "--set", f"training.learning_rate={value}")
    assert code == 2 and "training.learning_rate: expected a finite number" in out, out
    path = write_recipe(f"[data]\n[[data.sources]]\nname = 'test.source'\nweights = [1.0, {value}]\n", name="d.toml")
    with pytest.raises(RecipeError, match=r"data\.sources\.0\.weights\.1: expected a finite number"):
        load_recipe(path, require_model=False)


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.usefixtures("one_torch_thread")
def test_a_diverged_run_stops_naming_the_step_and_saves_nothing(core_plugin, tmp_path):
    from training_support import recipe_text, toy_datasets, train_run, write_recipe as write

    recipe = write(tmp_path, recipe_text(max_steps=6, logging_steps=1, save_steps=2,
                                         training_extra="max_grad_norm = 1e30").replace("3e-3", "1e30"))
    with pytest.raises(RecipeError) as info:
        train_run(recipe, tmp_path / "run", toy_datasets(train=32))
    message = info.value.format()
    assert "training diverged at step" in message and "training.learning_rate" in message, message
    run = tmp_path / "run"
    assert not (run / "adapter").exists()
    saved = sorted((run / "checkpoints").glob("checkpoint-*")) if (run / "checkpoints").exists() else []
    for checkpoint in saved:  # any checkpoint written before the divergence holds finite weights
        from safetensors.torch import load_file

        assert all(t.isfinite().all() for t in load_file(checkpoint / "adapter_model.safetensors").values())
    assert "| loss nan |" in (run / "odin.log").read_text()  # shown as it is, not filtered to 0.0000


# --- 9. errors that name the key or file, at validate time where possible ----------------------------------


@pytest.mark.timeout(60)
@pytest.mark.parametrize("key,typo,suggestion", [("optim", "adamw_torhc", "adamw_torch"),
                                                 ("lr_scheduler", "cosin", "cosine")])
def test_optimizer_and_scheduler_typos_fail_validation(core_plugin, write_recipe, key, typo, suggestion):
    code, out = odin("validate", write_recipe(), "--set", f"training.{key}={typo}")
    assert code == 2 and f"training.{key}: unknown value {typo!r}; did you mean {suggestion!r}?" in out, out
    assert odin("validate", write_recipe(), "--set", f"training.{key}={suggestion}")[0] == 0


@pytest.mark.timeout(60)
def test_deep_keys_and_files_are_one_message(core_plugin, write_recipe, tmp_path):
    code, out = odin("validate", write_recipe(), "--set", "a" + ".a" * 60000 + "=1")
    assert code == 2 and "at most 16" in out and len(out) < 400, out[:400]
    deep = write_recipe("x = " + "[" * 200000 + "]" * 200000 + "\n", name="deep.toml")
    code, out = odin("validate", deep)
    assert code == 2 and "deep.toml" in out and "too deeply" in out, out[:400]
    from odin_hypernetx.files import read_hif

    hif = tmp_path / "deep.json"
    hif.write_text('{"incidences": ' + "[" * 200000 + "]" * 200000 + "}")
    with pytest.raises(DataError, match="too deeply") as info:
        read_hif(hif)
    assert info.value.file == str(hif)


@pytest.mark.timeout(120)
def test_a_recipe_with_thousands_of_unknown_tables_gives_a_short_message(core_plugin, write_recipe):
    from conftest import MINIMAL_RECIPE

    path = write_recipe(MINIMAL_RECIPE + "".join(f"\n[junk{i}]\nx = 1\n" for i in range(20000)))
    code, out = odin("validate", path)
    assert code == 2 and "junk0: unknown key" in out and "... and 19980 more problems" in out, out[-300:]
    assert len(out.splitlines()) <= 25


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.usefixtures("one_torch_thread")
def test_a_truncated_checkpoint_is_named_and_the_previous_one_used(core_plugin, tmp_path, capsys):
    from training_support import recipe_text, toy_datasets, train_run, write_recipe as write

    recipe = write(tmp_path, recipe_text(max_steps=6, logging_steps=1, save_steps=2))
    run = tmp_path / "run"
    train_run(recipe, run, toy_datasets(train=32))
    damaged = run / "checkpoints" / "checkpoint-6" / "optimizer.pt"
    with open(damaged, "r+b") as fh:
        fh.truncate(damaged.stat().st_size // 2)
    summary, _, _ = train_run(recipe, run, toy_datasets(train=32), resume=True)
    assert summary["resumed_from_step"] == 4 and summary["steps"] == 6
    assert f"{damaged} is truncated or altered" in capsys.readouterr().err
    assert f"{damaged} is truncated or altered" in (run / "odin.log").read_text()


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.usefixtures("one_torch_thread")
def test_a_full_disk_while_checkpointing_is_one_message_and_keeps_the_previous_checkpoint(core_plugin, tmp_path,
                                                                                         monkeypatch):
    import torch

    from odin_core.engine import last_checkpoint
    from odin_core.foundation.errors import OdinError
    from training_support import recipe_text, toy_datasets, train_run, write_recipe as write

    real_save = torch.save

    def save(obj, path, *args, **kwargs):
        if "checkpoint-4" in str(path) and str(path).endswith("optimizer.pt"):
            raise RuntimeError("[enforce fail at inline_container.cc:626] . unexpected pos 1024 vs 0: "
                               "PytorchStreamWriter failed writing file data/0: file write failed")
        return real_save(obj, path, *args, **kwargs)

    monkeypatch.setattr(torch, "save", save)
    recipe = write(tmp_path, recipe_text(max_steps=6, logging_steps=1, save_steps=2))
    with pytest.raises(OdinError) as info:
        train_run(recipe, tmp_path / "run", toy_datasets(train=32))
    message = info.value.format()
    assert "the disk is full" in message and "checkpoint-2 is kept" in message, message
    assert last_checkpoint(tmp_path / "run" / "checkpoints").name == "checkpoint-2"


# --- 10. interrupts --------------------------------------------------------------------------------------



def support_env() -> dict:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "plugins"),
                                                         os.environ.get("PYTHONPATH", "")])}


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_a_run_killed_before_its_first_checkpoint_resumes_without_duplicate_steps(tmp_path):
    from training_support import recipe_text, start_paused, train_subprocess, write_recipe as write

    recipe = write(tmp_path, recipe_text(max_steps=4, logging_steps=1, save_steps=10))
    run = tmp_path / "run"
    process = start_paused(recipe, run, step=3, env=support_env())
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert [r["step"] for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines())] == [1, 2]
    train_subprocess(recipe, run, "--resume", env=support_env())
    assert [r["step"] for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines())] == [1, 2, 3, 4]


QUICK = ["--set", "training.engine=transformers", "--set", "training.max_steps=60", "--set", "training.save_steps=4",
         "--set", "training.logging_steps=1", "--set", "data.num_examples.train=96",
         "--set", "data.num_examples.validation=8", "--set", "data.num_examples.test=17",
         "--set", "data.sources.0.count=60", "--set", "generation.evaluate_base=false",
         "--set", "generation.max_examples=17", "--set", "model.hidden_size=64", "--set", "model.vocab_size=400",
         "--set", "training.batch_size=4"]


@pytest.mark.slow
@pytest.mark.timeout(900)  # above the sum of the waits below (300 + 120 + 400), so a slow host fails with their message
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_run_saves_a_checkpoint_and_prints_the_resume_command(tmp_path, sig):
    import shlex

    process = subprocess.Popen([sys.executable, "-m", "odin_core", "run", "recipes/quickstart.toml", *QUICK,
                                "--output-dir", str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, cwd=REPO, env=support_env())
    deadline = time.time() + 300
    while not list(tmp_path.glob("*/checkpoints/checkpoint-4/trainer_state.json")):
        assert process.poll() is None, process.stderr.read()[-3000:]
        assert time.time() < deadline
        time.sleep(0.1)
    process.send_signal(sig)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err[-3000:]
    (run,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    line = next(line for line in err.splitlines() if "continue with: " in line)
    command = shlex.split(line.split("continue with: ", 1)[1])
    assert command[:3] == ["odin", "run", "recipes/quickstart.toml"] and command[-2:] == ["--resume", str(run)]
    step = int(line.split("checkpoint saved at step ")[1].split(";")[0])
    assert step > 4 and (run / "checkpoints" / f"checkpoint-{step}" / "trainer_state.json").is_file()
    assert (run / "odin.log").read_text().splitlines()[-1].endswith("run interrupted")
    assert not (run / "adapter").exists()
    if sig == signal.SIGTERM:  # the printed command, run as printed, continues the run to the end
        done = subprocess.run([sys.executable, "-m", "odin_core", *command[1:]], capture_output=True, text=True,
                              cwd=REPO, env=support_env(), timeout=400)
        assert done.returncode == 0, done.stderr[-3000:]
        steps = [r["step"] for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines()) if "loss" in r]
        assert steps == list(range(1, 61))


# --- 8. trust_remote_code: loud, and never inherited silently ---------------------------------------------

REMOTE_PARENT = """\
name = "remote"
[model]
loader = "models.llama"
name = "someone/llama-with-code"
trust_remote_code = true
[data]
encodings = ["test.encoder"]
tasks = ["test.edge_count"]
[[data.sources]]
name = "test.source"
"""


@pytest.mark.timeout(120)
def test_trust_remote_code_is_loud_and_refused_through_extends(core_plugin, write_recipe):
    parent = write_recipe(REMOTE_PARENT, name="parent.toml")
    child = write_recipe('extends = "parent.toml"\nname = "child"\n', name="child.toml")
    code, out = odin("validate", child)
    assert code == 2 and "parent.toml: model.trust_remote_code" in out and "child.toml too" in out, out
    code, out = odin("validate", parent)
    assert code == 0 and f"warning: {parent}: model.trust_remote_code = true" in out, out
    top = write_recipe('extends = "parent.toml"\nname = "child"\n[model]\ntrust_remote_code = true\n', name="top.toml")
    recipe = load_recipe(top)
    assert recipe.warnings and str(top) in recipe.warnings[0] and "runs Python code" in recipe.warnings[0]
    overridden = load_recipe(child, ["model.trust_remote_code=false"])
    assert overridden.warnings == []
    recipe = load_recipe(write_recipe(REMOTE_PARENT.replace("trust_remote_code = true", ""), name="plain.toml"),
                         ["model.trust_remote_code=true"])
    assert "--set model.trust_remote_code=true" in recipe.warnings[0]


# --- 7. HIF ids that could be one vertex or two; CSV header lines -------------------------------------------


@pytest.mark.timeout(60)
@pytest.mark.parametrize("ids, words", [
    ('1, "1"', 'node id "1" and node id 1'),
    ("1, true", "'node' must be a string or an integer (got true)"),
])
def test_hif_ambiguous_node_ids_are_refused(tmp_path, ids, words):
    from odin_hypernetx.files import read_hif

    first, second = (part.strip() for part in ids.split(","))
    path = tmp_path / "g.hif.json"
    path.write_text('{"incidences": [\n {"edge": "e0", "node": %s},\n {"edge": "e0", "node": %s},\n'
                    ' {"edge": "e0", "node": 2}\n]}\n' % (first, second))
    with pytest.raises(DataError) as info:
        read_hif(path)
    assert words in info.value.message and info.value.file == str(path) and info.value.line == 3, info.value.format()


@pytest.mark.timeout(60)
def test_edge_list_header_lines_are_detected_or_declared(tmp_path):
    from odin_hypernetx.files import read_edge_list

    path = tmp_path / "edges.csv"
    path.write_text("edge,node\na,b\nb,c\n")
    graph = read_edge_list(path, vertex_names="data")
    assert graph.edges == ((0, 1), (1, 2)) and "edge" not in graph.names and graph.params["header_line"] == 1
    numbered = tmp_path / "numbered.csv"
    numbered.write_text("first,second,third\n1,2,3\n3,4\n")
    assert read_edge_list(numbered).num_edges == 2
    assert read_edge_list(numbered, header=False).num_edges == 3  # declared: no header
    plain = tmp_path / "plain.csv"
    plain.write_text("alice,bob\nbob,carol\n")
    assert read_edge_list(plain).num_edges == 2 and read_edge_list(plain, header=True).num_edges == 1


# --- 6. plugin name clashes, from installed packages, in either discovery order ------------------------------


def fake_distribution(site: Path, name: str, entry_point: str, body: str) -> Path:
    """An installed distribution (dist-info with an ``odin`` entry point) in its own site folder."""
    (site / name).mkdir(parents=True)
    (site / name / "__init__.py").write_text("import odin_core\n\n" + body)
    info = site / f"{name}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[odin]\n{entry_point} = {name}\n")
    return site


@pytest.mark.timeout(120)
def test_an_installed_plugin_taking_a_builtin_component_name_is_an_error_in_any_order(tmp_path):
    shadow = fake_distribution(tmp_path / "a", "shadow", "shadow", textwrap.dedent("""\
        @odin_core.hookimpl
        def register_encoders(register):
            register("hypernetx.n_set", lambda options: None)
        """))
    other = fake_distribution(tmp_path / "b", "other", "other", "")
    for order in ([shadow, other], [other, shadow]):
        path = os.pathsep.join([*map(str, order), str(REPO), str(REPO / "plugins")])
        done = run_odin("validate", "recipes/quickstart.toml", env_extra={"PYTHONPATH": path})
        assert done.returncode == 2, done.stderr
        assert "encoder 'hypernetx.n_set' is registered by both plugin" in done.stderr
        assert "'shadow'" in done.stderr and "'hypernetx'" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.timeout(60)
def test_registering_a_taken_plugin_name_from_python_is_an_error():
    import odin_core
    from odin_core.foundation.errors import OdinError

    with pytest.raises(OdinError, match="a plugin named 'hypernetx' is already registered"):
        odin_core.register_plugin(object(), name="hypernetx")


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_max_seq_length_no_example_fits_is_named_before_any_evaluation(tmp_path):
    done = run_odin("run", "recipes/quickstart.toml", *QUICK, "--set", "model.max_seq_length=8",
                    "--set", "generation.evaluate_base=true", "--output-dir", str(tmp_path),
                    env_extra={"PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "plugins")])})
    assert done.returncode == 2, done.stderr[-2000:]
    assert "model.max_seq_length: no training example fits in 8 tokens" in done.stderr
    (run,) = tmp_path.iterdir()
    assert not (run / "base_metrics.json").exists()  # failed before the base evaluation


# --- 9. a full disk while the dataset cache is written; an empty evaluation split ------------------------


@pytest.mark.timeout(120)
def test_a_full_disk_while_caching_the_dataset_names_the_key_and_keeps_the_earlier_entry(edge_recipe, monkeypatch):
    import errno

    import datasets

    entry = Path(build(edge_recipe)["cache_path"])
    before = snapshot(entry)

    def full(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(datasets.DatasetDict, "save_to_disk", full)
    with pytest.raises(DataError) as caught:
        build(edge_recipe, force=True)
    assert caught.value.key == "data.cache_dir" and "No space left on device" in caught.value.message
    assert snapshot(entry) == before and not list(entry.parent.glob(".*"))
    monkeypatch.undo()
    assert build(edge_recipe)["cached"] is True


@pytest.mark.timeout(120)
def test_an_empty_evaluation_split_names_the_key_before_training(core_plugin, write_recipe, tmp_path):
    path = write_recipe()
    flow = RunFlow(load_recipe(path, ['generation.split="validation"', "data.num_examples.validation=0"]),
                   output_dir=tmp_path / "runs")
    flow.setup_strategy()
    flow.setup_run_dir()
    with pytest.raises(RecipeError) as caught:
        flow.setup_data()
    assert caught.value.key == "data.num_examples.validation" and "empty" in caught.value.message
