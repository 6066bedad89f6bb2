"""Model loaders: the scratch model (built, saved in Hugging Face layout, reloaded), local directories,
and the one clear error for a model that is neither local nor downloadable."""

import json
import sys
from pathlib import Path

import pytest

from conftest import REPO, run_odin
from odin_core.components.plugins import get_component
from odin_core.foundation.errors import ModelError, RecipeError
from odin_core.recipe import load_recipe
from odin_core.runtime.rundir import RunDir
from training_support import local_model, recipe_text, toy_rows

TEXTS = [row["prompt"] + row["completion"] for row in toy_rows(80, 3, "train")]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def no_hub(monkeypatch):
    """The Hub unreachable, as on this machine, also where there is a network: tests never download."""
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)


def load(recipe_path, run_path, texts=TEXTS, strategy=None):
    recipe = load_recipe(recipe_path)
    strategy = strategy or get_component("lora_strategy", recipe.finetune.strategy).create(recipe.finetune.options)
    run_path.mkdir(parents=True, exist_ok=True)
    loader = get_component("model_loader", recipe.model.loader).create(recipe.model.options)
    return loader.load(recipe.model, strategy, RunDir(run_path, recipe), texts)


def scratch_recipe(write_recipe, architecture="llama", name="recipe.toml"):
    return write_recipe(recipe_text(architecture=architecture), name=name)


def test_scratch_model_is_built_in_hugging_face_layout_and_reloaded(core_plugin, write_recipe, tmp_path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    recipe = scratch_recipe(write_recipe)
    loaded = load(recipe, tmp_path / "run")
    base = tmp_path / "run" / "base_model"
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= {p.name for p in base.iterdir()}
    config = json.loads((base / "config.json").read_text())
    assert (config["model_type"], config["num_hidden_layers"], config["hidden_size"]) == ("llama", 2, 64)
    assert loaded.engine == "transformers" and loaded.info["built"] is True and loaded.chat_template is False
    assert loaded.target_modules == ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]

    tokenizer = loaded.tokenizer
    assert tokenizer.pad_token == "<|pad|>" and tokenizer.eos_token == "<|endoftext|>"
    assert tokenizer.pad_token_id != tokenizer.eos_token_id
    assert 256 < len(tokenizer) <= 400  # byte alphabet + specials + merges, within vocab_size
    text = TEXTS[0]
    ids = tokenizer(text)["input_ids"]
    assert tokenizer.decode(ids) == text and len(ids) < len(text)  # byte-level: lossless, and merges compress

    # an independent reload of the saved folder is the same model and tokenizer
    again = AutoModelForCausalLM.from_pretrained(base)
    assert AutoTokenizer.from_pretrained(base)(text)["input_ids"] == ids
    for (name, a), (_, b) in zip(loaded.model.state_dict().items(), again.state_dict().items()):
        assert torch.equal(a, b), name

    # loading the run again reuses the saved base (no tokenizer or weights rebuilt, no text needed)
    reloaded = load(recipe, tmp_path / "run", texts=None)
    assert reloaded.info["built"] is False
    assert torch.equal(reloaded.model.lm_head.weight, loaded.model.lm_head.weight)


def test_scratch_build_is_deterministic(core_plugin, write_recipe, tmp_path):
    recipe = scratch_recipe(write_recipe)
    load(recipe, tmp_path / "a")
    load(recipe, tmp_path / "b")
    for name in ("tokenizer.json", "model.safetensors", "config.json"):
        assert (tmp_path / "a/base_model" / name).read_bytes() == (tmp_path / "b/base_model" / name).read_bytes()


@pytest.mark.parametrize("architecture, targets", [
    ("mistral", ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]),
    ("phi3", ["o_proj", "down_proj", "qkv_proj", "gate_up_proj"]),
    ("qwen2", ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]),
])
def test_scratch_architectures(core_plugin, write_recipe, tmp_path, architecture, targets):
    loaded = load(scratch_recipe(write_recipe, architecture), tmp_path / "run")
    assert loaded.model.config.model_type == architecture
    assert loaded.target_modules == targets
    assert loaded.info["architecture"] == architecture


def test_scratch_options_are_checked(core_plugin, write_recipe):
    recipe = write_recipe(recipe_text().replace("num_heads = 4", "num_heads = 5"))
    with pytest.raises(RecipeError) as info:
        load_recipe(recipe)
    assert "model" in str(info.value) and "multiple of num_heads" in str(info.value)


def test_chat_template_requested_without_one_is_a_clear_error(core_plugin, write_recipe, tmp_path):
    recipe = write_recipe(recipe_text().replace("max_seq_length = 256", "max_seq_length = 256\nchat_template = true"))
    with pytest.raises(ModelError, match="no chat template"):
        load(recipe, tmp_path / "run")


def test_family_loader_reads_a_local_directory(core_plugin, write_recipe, tmp_path):
    base = tmp_path / "built"
    load(scratch_recipe(write_recipe), base)  # a llama checkpoint on disk, as a download would leave it
    recipe = write_recipe(recipe_text(model=local_model("llama", base / "base_model")), name="llama.toml")
    loaded = load(recipe, tmp_path / "run", texts=None)
    assert loaded.info["family"] == "llama" and loaded.info["source"] == str((base / "base_model").resolve())
    assert loaded.target_modules == ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    assert loaded.chat_template is False  # the family default, but this tokenizer has no template
    assert loaded.tokenizer.pad_token == "<|pad|>"


def test_local_directory_that_is_not_a_model(core_plugin, write_recipe, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    recipe = write_recipe(recipe_text(model=local_model("llama", empty)), name="llama.toml")
    with pytest.raises(ModelError, match="no config.json"):
        load(recipe, tmp_path / "run", texts=None)


def test_unknown_model_name_names_the_model_and_the_two_ways_out(core_plugin, write_recipe, tmp_path, no_hub):
    recipe = write_recipe(recipe_text(model=local_model("mistral", "odin-tests/no-such-model")), name="mistral.toml")
    with pytest.raises(ModelError) as info:
        load(recipe, tmp_path / "run", texts=None)
    message = str(info.value)
    assert "odin-tests/no-such-model" in message and "model.name" in message
    assert "local directory" in message and "recipes/quickstart.toml" in message
    assert not (tmp_path / "run" / "base_model").exists()


def test_cached_hub_model_loads_without_network(core_plugin, write_recipe, tmp_path):
    """A hub name found in the Hugging Face cache loads offline (its own interpreter: HF_HOME is read at import)."""
    import shutil
    import subprocess

    load(scratch_recipe(write_recipe), tmp_path / "built")
    repo = tmp_path / "hf/hub/models--odin-tests--cached-llama"
    commit = "0123456789abcdef0123456789abcdef01234567"
    shutil.copytree(tmp_path / "built/base_model", repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs/main").write_text(commit)
    recipe = write_recipe(recipe_text(model=local_model("llama", "odin-tests/cached-llama")), name="cached.toml")
    script = (f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
              "from training_support import register_core_test_plugin; register_core_test_plugin()\n"
              "from odin_core.components.plugins import get_component\nfrom odin_core.recipe import load_recipe\n"
              "from odin_core.runtime.rundir import RunDir\n"
              f"recipe = load_recipe({str(recipe)!r})\n"
              "strategy = get_component('lora', 'lora').create(recipe.finetune.options)\n"
              f"loaded = get_component('loader', 'llama').create(None).load(recipe.model, strategy, "
              f"RunDir({str(tmp_path)!r}, recipe), None)\n"
              "print(loaded.info['source'], loaded.model.config.model_type)\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                          env={**__import__("os").environ, "HF_HOME": str(tmp_path / "hf")})
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["odin-tests/cached-llama", "llama"]


def test_llama1b_recipe_without_network_fails_with_one_message(tmp_path, no_hub):
    """The real recipe's hub model, loaded without network (lora so the CPU check passes): one ModelError."""
    recipe = load_recipe(REPO / "recipes/hypergraph_llama1b.toml", ["finetune.strategy=lora", "training.engine=transformers"])
    strategy = get_component("lora_strategy", "finetune.lora").create(recipe.finetune.options)
    loader = get_component("model_loader", "models.llama").create(recipe.model.options)
    with pytest.raises(ModelError) as info:
        loader.load(recipe.model, strategy, RunDir(tmp_path, recipe), None)
    message = str(info.value)
    assert "unsloth/llama-3.2-1b-instruct-bnb-4bit" in message and "quickstart" in message
    assert "hypergraph_llama1b.toml" in message


def test_llama1b_recipe_on_a_cpu_machine_stops_before_loading(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: QLoRA can run here")
    done = run_odin("run", "recipes/hypergraph_llama1b.toml", "--output-dir", str(tmp_path))
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert "qlora" in done.stderr and "needs a CUDA GPU" in done.stderr and "finetune.strategy" in done.stderr
    assert list(tmp_path.iterdir()) == []  # refused before a run directory, a dataset or a model exists


def test_odin_run_of_an_unreachable_model_is_one_message(tmp_path):
    small = ["--set", "data.num_examples.train=40", "--set", "data.num_examples.validation=8", "--set",
             "data.num_examples.test=8", "--set", 'data.frozen_eval=""']
    done = run_odin("run", "recipes/hypergraph_llama1b.toml", "--set", "finetune.strategy=lora", *small,
                    "--output-dir", str(tmp_path), env_extra={"HF_HUB_OFFLINE": "1"})
    assert done.returncode == 3, done.stderr
    assert "Traceback" not in done.stderr and done.stderr.count("error:") == 1
    assert "unsloth/llama-3.2-1b-instruct-bnb-4bit" in done.stderr and "odin run recipes/quickstart.toml" in done.stderr


def test_model_recipes_validate():
    for name in ("hypergraph_llama1b", "hypergraph_phi_mini", "hypergraph_mistral7b", "quickstart", "smollm2_135m",
                 "smollm2_135m_qlora"):
        recipe = load_recipe(REPO / "recipes" / f"{name}.toml")
        assert recipe.data.task_names == ["all"]
    rl = load_recipe(REPO / "recipes/rl_cpu.toml")
    assert rl.rl.max_steps == 40 and [r.name for r in rl.rl.rewards] == ["metrics.correct", "metrics.answer_format"]
    llama = load_recipe(REPO / "recipes/hypergraph_llama1b.toml")
    assert (llama.model.name, llama.finetune.strategy, llama.finetune.options.r) == (
        "unsloth/llama-3.2-1b-instruct-bnb-4bit", "finetune.qlora", 16)
    assert (llama.training.batch_size, llama.training.gradient_accumulation_steps, llama.model.max_seq_length) == (
        4, 4, 2048)


@pytest.mark.gpu
def test_llama_loader_in_4bit_on_a_gpu(core_plugin, write_recipe, tmp_path):
    """A local Llama checkpoint through Unsloth in 4 bits (bitsandbytes), in its own interpreter."""
    base = tmp_path / "built"
    load(scratch_recipe(write_recipe), base)
    recipe = write_recipe(recipe_text(engine="unsloth", strategy="qlora", model=local_model("llama", base / "base_model")),
                          name="llama4bit.toml")
    import subprocess

    done = subprocess.run([sys.executable, str(Path(__file__).parent / "training_support.py"), str(recipe),
                           str(tmp_path / "run")], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["device"] == "cuda" and summary["steps"] == 6
    config = json.loads((tmp_path / "run/adapter/adapter_config.json").read_text())
    assert config["r"] == 8
