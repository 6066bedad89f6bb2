"""Nothing lost, round two (issue 23): export into another run, resuming a finished run, and the inputs that
hung or surprised. One regression test per item; docs/robustness.md's fault table lists them."""

from __future__ import annotations

import errno
import json
import os
import time
from pathlib import Path

import pytest

from conftest import MINIMAL_RECIPE
from odin_core.flows.export import check_export_target
from odin_core.flows.run import RunFlow
from odin_core.foundation.errors import DataError, OdinError, RecipeError
from odin_core.foundation.files import ADAPTER, EXPORT, MARKER_FILE, atomic_write_dir, marker_kind, write_folder
from odin_core.foundation.layout import ADAPTER_DIR, METRICS_FILE, RESUMES_LOG
from odin_core.recipe import load_recipe
from test_robustness import QUICKSTART, odin, snapshot, started_run


def trained_adapter(run: Path) -> Path:
    """An adapter folder as training leaves it (its files stand in for real weights)."""
    atomic_write_dir(run / ADAPTER_DIR, lambda tmp: (tmp / "adapter_model.safetensors").write_text("weights"),
                     ADAPTER)
    return run / ADAPTER_DIR


# --- 1. export writes only into a new folder, an earlier export, or the run's own merged/ and gguf/ --------------


@pytest.mark.timeout(120)
def test_export_never_writes_into_another_run_or_over_an_adapter(tmp_path):
    run = started_run(QUICKSTART, tmp_path / "runs")
    other = started_run(QUICKSTART, tmp_path / "runs")
    trained_adapter(run), trained_adapter(other)
    before_run, before_other = snapshot(run), snapshot(other)
    for args in (("--merged", "--output", other / ADAPTER_DIR), ("--merged", "--output", run / ADAPTER_DIR),
                 ("--merged", "--output", other / "merged"), ("--merged", "--output", other / "new" / "place"),
                 ("--gguf", "--output", other / "model.gguf"), ("--merged", "--force", "--output", other / ADAPTER_DIR)):
        code, out = odin("export", run, *args)
        assert code == 2 and "is inside the run directory" in out and "Traceback" not in out, (args, out)
    assert snapshot(run) == before_run and snapshot(other) == before_other


@pytest.mark.timeout(60)
def test_export_replaces_only_an_earlier_export_and_folders_are_marked_with_their_kind(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "recipe.toml").write_text('name = "x"\n')
    earlier = tmp_path / "exports" / "m"
    atomic_write_dir(earlier, lambda tmp: (tmp / "config.json").write_text("{}"), EXPORT)
    assert marker_kind(earlier) == EXPORT and (earlier / MARKER_FILE).read_text() == "written by Odin: export\n"
    check_export_target(earlier, run)  # an earlier export: replaced
    check_export_target(tmp_path / "fresh", run)  # a new folder
    check_export_target(run / "merged", run)  # the run's own default
    cache_entry = tmp_path / "cache" / "entry"
    atomic_write_dir(cache_entry, lambda tmp: (tmp / "dataset").mkdir(), "dataset")
    with pytest.raises(DataError, match="holds an Odin dataset, not an earlier export"):
        check_export_target(cache_entry, run, force=True)


@pytest.mark.timeout(60)
def test_a_full_disk_while_exporting_is_one_error_and_leaves_nothing(tmp_path):
    target = tmp_path / "export"

    def full(tmp):
        (tmp / "model.safetensors").write_text("half")
        raise RuntimeError("Error while serializing: IoError(Os { code: 28, kind: StorageFull, message: "
                           "\"No space left on device\" })")  # what safetensors raises

    with pytest.raises(DataError) as caught:
        write_folder(target, full, EXPORT, hint="free space or choose another --output")
    assert "No space left on device" in caught.value.message and caught.value.file == str(target)
    assert list(tmp_path.iterdir()) == []  # nothing half-written


# --- 2 and 3. resume: a finished run is left alone; another recipe's run is refused -------------------------------


def _finished(run: Path, steps: int) -> None:
    (run / METRICS_FILE).write_text(json.dumps({"training": {"steps": steps, "max_steps": steps}, "trained": {}}))


@pytest.mark.timeout(120)
def test_resuming_a_finished_run_rewrites_nothing(core_plugin, write_recipe, tmp_path):
    recipe = write_recipe(MINIMAL_RECIPE + "\n[training]\nmax_steps = 5\n")
    run = started_run(recipe, tmp_path / "runs")
    _finished(run, 5)
    before = snapshot(run)
    code, out = odin("run", recipe, "--resume", run)
    assert code == 0 and "already completed (5 steps)" in out and str(run) in out, out
    assert snapshot(run) == before


@pytest.mark.timeout(60)
def test_a_finished_run_trains_on_only_when_max_steps_is_raised(core_plugin, write_recipe, tmp_path):
    from odin_core.flows.resume import finished_metrics
    from odin_core.runtime.rundir import RunDir

    recipe = write_recipe(MINIMAL_RECIPE + "\n[training]\nmax_steps = 5\n")
    run = RunDir(started_run(recipe, tmp_path / "runs"))
    assert finished_metrics(run, load_recipe(recipe)) is None  # not finished yet: resumable
    _finished(run.path, 5)
    assert finished_metrics(run, load_recipe(recipe))["training"]["steps"] == 5
    assert finished_metrics(run, load_recipe(recipe, ["training.max_steps=8"])) is None


@pytest.mark.timeout(60)
def test_resume_of_an_explicit_run_of_another_recipe_is_refused_unless_allowed(core_plugin, write_recipe, tmp_path):
    from odin_core.flows.resume import check_resume, record_changes
    from odin_core.runtime.rundir import RunDir

    theirs = write_recipe(MINIMAL_RECIPE.replace('name = "core-test"', 'name = "theirs"'), name="theirs.toml")
    mine = write_recipe(MINIMAL_RECIPE.replace('name = "core-test"', 'name = "mine"'), name="mine.toml")
    run = started_run(theirs, tmp_path / "runs")
    before = snapshot(run)
    code, out = odin("run", mine, "--resume", run)
    assert code == 2 and "name: 'theirs' in the run, 'mine' now" in out and "--allow-changes" in out, out
    assert snapshot(run) == before
    changes = check_resume(RunDir(run), load_recipe(mine), allow_changes=True)
    record_changes(RunDir(run), load_recipe(mine), changes)
    (record,) = [json.loads(line) for line in (run / RESUMES_LOG).read_text().splitlines()]
    assert record["changes"]["name"] == {"run": "theirs", "now": "mine"}


# --- 4. large inputs and huge numbers: no hang ----------------------------------------------------------------


@pytest.mark.timeout(120)
def test_a_20000_hyperedge_edge_list_builds_in_seconds(tmp_path):
    import random

    from conftest import load_data_recipe
    from odin_core.data.build import build_dataset

    rng = random.Random(1)
    lines = [" ".join(str(rng.randrange(100_000)) for _ in range(rng.randint(2, 5))) for _ in range(20_000)]
    (tmp_path / "edges.txt").write_text("\n".join(lines) + "\n")
    (tmp_path / "big.toml").write_text(
        'name = "big"\n[data]\ntasks = ["all"]\nencodings = ["hypernetx.n_set", "hypernetx.n_pair"]\n'
        '[data.num_examples]\ntrain = 50\nvalidation = 5\ntest = 5\n'
        '[[data.sources]]\nname = "hypernetx.edgelist"\npath = "edges.txt"\n')
    started = time.perf_counter()
    _, report = build_dataset(load_data_recipe(tmp_path / "big.toml"))
    assert time.perf_counter() - started < 60  # today under 5 s; the quadratic steps took over 5 minutes
    assert report["dropped"]["too_long"]["count"] > 0  # one hypergraph, far beyond the prompt budget: nothing asked


@pytest.mark.timeout(60)
def test_a_nesting_trace_on_many_hyperedges_is_not_quadratic():
    from odin_core.questions.hypergraph import Hypergraph
    from odin_hypernetx.tasks.high_order import has_nested_hyperedge, nesting_trace

    edges = tuple((2 * i, 2 * i + 1) for i in range(20_000)) + ((0, 1, 2),)
    graph = Hypergraph(tuple(f"v{i}" for i in range(40_000)), edges)
    started = time.perf_counter()
    assert has_nested_hyperedge(graph) and nesting_trace(graph) == "e0 in e20000."
    assert time.perf_counter() - started < 5


@pytest.mark.timeout(60)
def test_a_slow_read_says_it_is_still_reading(capsys):
    from odin_core.foundation import console

    with console.heartbeat("data: reading the hypergraph sources", every=0.2):
        time.sleep(0.7)
    assert "data: reading the hypergraph sources (0 s so far)" in capsys.readouterr().err


@pytest.mark.timeout(30)
def test_the_memory_advice_for_a_huge_batch_is_a_bisection():
    from odin_core.foundation.memory import largest_fitting

    calls = []

    def fits(batch):
        calls.append(batch)
        return batch <= 615

    assert largest_fitting(2**62, fits) == 615 and len(calls) < 70
    assert largest_fitting(8, lambda b: False) == 1


@pytest.mark.timeout(60)
@pytest.mark.parametrize("override, key, words", [
    ("training.batch_size=99999999999999999999", "training.batch_size", "whole number from"),
    ("training.batch_size=9223372036854775807", "training.batch_size", "whole number from"),
    ("training.batch_size=70000", "training.batch_size", "less than or equal to 65536"),
    ("seed=1e20", "seed", ""),
    ("seed=-1", "seed", "greater than or equal to 0"),
    ("training.max_steps=4294967296", "training.max_steps", "whole number from"),
    ("data.sources.0.count=99999999999", "data.sources.0.count", "whole number from"),
])
def test_numbers_beyond_what_torch_and_numpy_take_are_refused_naming_the_key(override, key, words):
    with pytest.raises(RecipeError) as caught:
        load_recipe(QUICKSTART, [override])
    assert f": {key}: " in caught.value.format() and words in caught.value.message


@pytest.mark.timeout(60)
@pytest.mark.parametrize("args, words", [
    (("estimate", QUICKSTART, "--memory-gb", "nan"), "'nan' is not a finite number"),
    (("estimate", QUICKSTART, "--memory-gb", "inf"), "'inf' is not a finite number"),
    (("data", "show", QUICKSTART, "-n", "-1"), "-1 is not in the range 1<=x<="),
    (("run", QUICKSTART, "--seeds", "99999999999999"), "is not in the range 1<=x<="),
    (("eval", "/nowhere", "--max-examples", "0"), "0 is not in the range 1<=x<="),
])
def test_numeric_options_refuse_nan_infinity_and_out_of_range(args, words):
    code, out = odin(*args)
    assert code == 2 and words in out and "Traceback" not in out, out


# --- 5. environment faults: one line naming the path and the cause --------------------------------------------


@pytest.mark.timeout(60)
def test_a_5000_digit_vertex_id_in_a_hif_file_is_one_clear_error(tmp_path):
    from odin_hypernetx.files import read_hif

    huge = tmp_path / "huge.json"
    huge.write_text('{"incidences": [{"edge": 1, "node": ' + "9" * 5000 + "}]}")
    with pytest.raises(DataError, match="holds a number of over 4,300 digits"):
        read_hif(huge)
    long = tmp_path / "long.json"
    long.write_text('{"incidences": [{"edge": 1, "node": ' + "9" * 1000 + '}, {"edge": 1, "node": 2}]}')
    with pytest.raises(DataError, match="has 1,000 characters; expected ids of at most 256"):
        read_hif(long)


@pytest.mark.timeout(60)
def test_odin_new_into_a_read_only_folder_is_one_error_and_leaves_nothing(tmp_path, monkeypatch):
    import odin_core.foundation.files as files

    real = files.atomic_write_text
    written = []

    def read_only_after_two(path, text):
        if len(written) == 2:
            raise OSError(errno.EROFS, "Read-only file system", str(path))
        written.append(path)
        real(path, text)

    monkeypatch.setattr(files, "atomic_write_text", read_only_after_two)
    code, out = odin("new", "plugin", "demo", "--output", tmp_path / "demo")
    assert code == 2 and "Read-only file system" in out and "nothing was left half-written" in out, out
    assert "unexpected" not in out and list(tmp_path.iterdir()) == []


@pytest.mark.timeout(120)
def test_a_full_disk_while_saving_the_scratch_base_model_is_one_error(tmp_path, monkeypatch):
    from types import SimpleNamespace

    import transformers
    from odin_models import ScratchOptions
    from odin_models.scratch import build_base

    def full(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(transformers.PreTrainedModel, "save_pretrained", full)
    target = tmp_path / "run" / "base_model"
    with pytest.raises(DataError) as caught:
        build_base(ScratchOptions(hidden_size=32, num_layers=1, num_heads=2, vocab_size=300), target,
                   ["v1 v2 e0 Ans: [1]"] * 20, 64, 0)
    assert "No space left on device" in caught.value.message and caught.value.file == str(target)
    assert list((tmp_path / "run").iterdir()) == []


@pytest.mark.timeout(120)
def test_a_lost_peer_process_stops_the_run_with_the_resume_command(core_plugin, write_recipe, tmp_path,
                                                                   monkeypatch):
    from odin_core.runtime import processes

    flow = RunFlow(load_recipe(write_recipe()), output_dir=tmp_path / "runs")
    monkeypatch.setattr(processes, "current", lambda: processes.Processes(0, 2, 0))

    def reset(self):
        raise RuntimeError("[../third_party/gloo/gloo/transport/tcp/pair.cc:534] Connection reset by peer")

    monkeypatch.setattr(RunFlow, "setup_data", reset)
    monkeypatch.setattr(RunFlow, "setup_processes", lambda self: None)
    with pytest.raises(OdinError) as caught:
        flow.run()
    message = caught.value.message
    assert message.startswith("another process of this run ended") and "Connection reset by peer" in message
    assert f"--resume {flow.run_dir.path}" in message and "unexpected" not in message


# --- 6. validate checks the folders a run writes; small surprises ---------------------------------------------


@pytest.mark.timeout(60)
@pytest.mark.parametrize("override, key", [('output_dir="/proc/odin-runs"', "output_dir"),
                                           ("data.cache_dir=FILE", "data.cache_dir")])
def test_validate_refuses_folders_that_cannot_be_created(override, key, tmp_path):
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    code, out = odin("validate", QUICKSTART, "--set", override.replace("FILE", json.dumps(str(a_file))))
    assert code == 2 and f"{key}:" in out and "expected a folder that can be created and written" in out, out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]  # the probe left nothing


@pytest.mark.timeout(60)
def test_eval_data_with_an_absolute_path_that_is_no_folder_names_it_once(tmp_path):
    from odin_core.data.frozen import frozen_dir

    with pytest.raises(DataError) as caught:
        frozen_dir(str(tmp_path / "nothing"))
    assert caught.value.file == str(tmp_path / "nothing") and "data//" not in caught.value.format()


@pytest.mark.timeout(120)
def test_the_scratch_base_model_folder_has_ordinary_permissions(tmp_path):
    from odin_models import ScratchOptions
    from odin_models.scratch import build_base

    target = tmp_path / "base_model"
    build_base(ScratchOptions(hidden_size=32, num_layers=1, num_heads=2, vocab_size=300), target,
               ["v1 v2 e0 Ans: [1]"] * 20, 64, 0)
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o777 & ~umask  # 0755 under the usual umask, not mkdtemp's 0700
    assert marker_kind(target) == "base model"


@pytest.mark.timeout(60)
def test_an_untrained_scratch_model_is_evaluated_on_a_few_rows(core_plugin, write_recipe, tmp_path, monkeypatch):
    from types import SimpleNamespace

    from odin_core import evaluate
    from odin_core.flows import run as run_flow

    flow = RunFlow(load_recipe(write_recipe()), output_dir=tmp_path / "runs")
    flow.setup_run_dir()
    flow.datasets, flow.eval_split = {}, list(range(500))
    asked = {}
    monkeypatch.setattr(evaluate, "evaluate_model",
                        lambda *args, **kwargs: asked.update(kwargs) or {"stage": "base"})
    for untrained, cap in ((True, run_flow.UNTRAINED_BASE_ROWS), (False, None)):
        flow.loaded = SimpleNamespace(untrained=untrained)
        flow.resume = None
        flow.evaluate_base()
        assert asked["max_examples"] == cap


@pytest.mark.timeout(120)
def test_a_full_disk_during_a_run_names_the_run_and_the_resume_command(core_plugin, write_recipe, tmp_path,
                                                                        monkeypatch):
    flow = RunFlow(load_recipe(write_recipe()), output_dir=tmp_path / "runs")

    def full(self):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(RunFlow, "setup_data", full)
    with pytest.raises(OdinError) as caught:
        flow.run()
    message = caught.value.message
    assert message.startswith(f"No space left on device while writing into {flow.run_dir.path}")
    assert "the last complete checkpoint is kept" in message and f"--resume {flow.run_dir.path}" in message
    assert "error: No space left on device" in (flow.run_dir.path / "odin.log").read_text()
