"""LoRA strategies: lora, rslora, dora and full fine-tuning train on a CPU with both engines; qlora's CUDA
requirement is one clear error before anything loads."""

import json
import math
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import REPO, run_odin
from odin_core.components.plugins import get_component
from odin_core.foundation.errors import ModelError, RecipeError
from odin_core.recipe import load_recipe
from training_support import recipe_text, toy_datasets, train_run

TESTS = Path(__file__).resolve().parent


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def datasets():
    return toy_datasets(train=48, validation=8, test=8)


def adapter_config(run):
    return json.loads((run / "adapter" / "adapter_config.json").read_text())


def lora_layers(model):
    from peft.tuners.lora import LoraLayer

    return [m for m in model.modules() if isinstance(m, LoraLayer)]


@pytest.mark.parametrize("strategy", ["lora", "rslora", "dora"])
def test_adapter_strategies_train_on_cpu(core_plugin, write_recipe, tmp_path, datasets, strategy):
    recipe = write_recipe(recipe_text(strategy=strategy, max_steps=3, save_steps=3))
    summary, loaded, _ = train_run(recipe, tmp_path / "run", datasets)
    assert summary["steps"] == 3 and math.isfinite(summary["final_loss"])
    config = adapter_config(tmp_path / "run")
    assert (config["r"], config["lora_alpha"], config["bias"]) == (8, 16, "none")
    assert config["use_rslora"] is (strategy == "rslora") and config["use_dora"] is (strategy == "dora")
    assert set(config["target_modules"]) == {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj",
                                               "down_proj"}
    trainable = [n for n, p in loaded.model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    assert summary["trainable_parameters"] < summary["parameters"] / 2
    layer = lora_layers(loaded.model)[0]
    expected = 16 / math.sqrt(8) if strategy == "rslora" else 16 / 8
    assert layer.scaling["default"] == pytest.approx(expected)
    assert bool(layer.lora_magnitude_vector) is (strategy == "dora")


def test_full_fine_tuning_saves_the_whole_model(core_plugin, write_recipe, tmp_path, datasets):
    from transformers import AutoModelForCausalLM

    recipe = write_recipe(recipe_text(strategy="full", max_steps=3, save_steps=3, lora_options=""))
    summary, loaded, _ = train_run(recipe, tmp_path / "run", datasets)
    assert summary["trainable_parameters"] == summary["parameters"]
    assert not (tmp_path / "run" / "adapter").exists()
    assert summary["adapter_dir"] == str(tmp_path / "run" / "model")
    saved = AutoModelForCausalLM.from_pretrained(tmp_path / "run" / "model")
    base = AutoModelForCausalLM.from_pretrained(tmp_path / "run" / "base_model")
    import torch

    assert torch.equal(saved.lm_head.weight, loaded.model.lm_head.weight)
    assert not torch.equal(saved.lm_head.weight, base.lm_head.weight)
    from odin_core.engine import load_run_model

    reloaded = load_run_model(tmp_path / "run")  # what odin eval reads: the trained model, not the base
    assert torch.equal(reloaded.model.lm_head.weight, saved.lm_head.weight)
    assert torch.equal(load_run_model(tmp_path / "run", adapter=False).model.lm_head.weight, base.lm_head.weight)


def test_options_target_modules_and_modules_to_save(core_plugin, write_recipe, tmp_path, datasets):
    from safetensors import safe_open

    options = 'r = 4\nalpha = 8\ndropout = 0.1\ntarget_modules = ["q_proj", "v_proj"]\n' \
              'modules_to_save = ["lm_head"]\ngradient_checkpointing = true'
    recipe = write_recipe(recipe_text(lora_options=options, max_steps=2, save_steps=2))
    summary, loaded, _ = train_run(recipe, tmp_path / "run", datasets)
    config = adapter_config(tmp_path / "run")
    assert set(config["target_modules"]) == {"q_proj", "v_proj"} and config["lora_dropout"] == 0.1
    assert config["modules_to_save"] == ["lm_head"]
    with safe_open(str(tmp_path / "run/adapter/adapter_model.safetensors"), "pt") as fh:
        keys = list(fh.keys())
    assert any("lm_head" in k for k in keys) and not any("k_proj" in k for k in keys)
    assert loaded.model.base_model.model.is_gradient_checkpointing


def test_adapter_initialisation_follows_random_state(core_plugin, write_recipe, tmp_path):
    import torch

    from odin_core.runtime.rundir import RunDir
    from training_support import TEXTS_FOR_TOKENIZER

    def lora_a(random_state, seed):
        options = "r = 4\nalpha = 8\ngradient_checkpointing = false" + (
            f"\nrandom_state = {random_state}" if random_state is not None else "")
        recipe = load_recipe(write_recipe(recipe_text(lora_options=options)))
        strategy = get_component("lora_strategy", "finetune.lora").create(recipe.finetune.options)
        loader = get_component("model_loader", "models.scratch").create(recipe.model.options)
        run = tmp_path / "run"
        run.mkdir(exist_ok=True)
        loaded = loader.load(recipe.model, strategy, RunDir(run, recipe), TEXTS_FOR_TOKENIZER)
        model = strategy.apply(loaded, seed)
        return lora_layers(model)[0].lora_A["default"].weight.detach().clone()

    assert torch.equal(lora_a(None, 5), lora_a(None, 5))  # default: the recipe's seed, passed as `seed`
    assert not torch.equal(lora_a(None, 5), lora_a(None, 6))
    assert torch.equal(lora_a(3, 5), lora_a(3, 6))  # random_state wins over the recipe's seed


def test_unknown_target_module_lists_the_models_layers(core_plugin, write_recipe, tmp_path, datasets):
    recipe = write_recipe(recipe_text(lora_options='target_modules = ["query_key_value"]'))
    with pytest.raises(ModelError) as info:
        train_run(recipe, tmp_path / "run", datasets)
    assert "query_key_value" in str(info.value) and "q_proj" in str(info.value)


def test_strategy_options_are_validated(core_plugin, write_recipe):
    with pytest.raises(RecipeError, match="finetune.dropout"):
        load_recipe(write_recipe(recipe_text(lora_options="dropout = 1.5")))
    with pytest.raises(RecipeError, match="unknown key for lora_strategy 'finetune.full'"):
        load_recipe(write_recipe(recipe_text(strategy="full", lora_options="r = 8")))


def test_qlora_without_cuda_is_refused_before_loading(core_plugin, write_recipe, tmp_path):
    import torch

    from odin_core.runtime.device import check_device

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: QLoRA can run here")
    recipe = load_recipe(write_recipe(recipe_text(strategy="qlora")))
    strategy = get_component("lora_strategy", "finetune.qlora").create(recipe.finetune.options)
    assert strategy.requires_cuda and strategy.load_in_4bit
    with pytest.raises(RecipeError, match="needs a CUDA GPU"):
        check_device(recipe, needs_cuda=strategy.requires_cuda)
    # the loaders refuse too, for callers that skip the check (never a silent 16-bit load)
    from odin_core.runtime.rundir import RunDir

    loader = get_component("model_loader", "models.llama").create(None)
    with pytest.raises(RecipeError, match="needs a CUDA GPU"):
        loader.load(recipe.model.model_copy(update={"name": "unsloth/llama-3.2-1b-instruct-bnb-4bit"}), strategy,
                    RunDir(tmp_path, recipe), None)


def test_qlora_on_the_quickstart_fails_in_one_line_on_cpu(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: QLoRA can run here")
    done = run_odin("run", "recipes/quickstart.toml", "--set", "finetune.strategy=qlora", "--output-dir", str(tmp_path))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]  # (library banners may come first)
    assert last.startswith("error: ") and "needs a CUDA GPU" in last and done.stderr.count("error:") == 1
    assert list(tmp_path.iterdir()) == []  # refused before any run directory exists (nothing for --resume to pick)


def test_every_strategy_trains_with_unsloth(tmp_path):
    """lora, rslora, dora and full on the Unsloth engine (its own interpreter: Unsloth patches transformers)."""
    script = textwrap.dedent(f"""
        import unsloth  # noqa: F401  (first)
        import json, sys
        import torch
        torch.set_num_threads(1)
        sys.path.insert(0, {str(TESTS)!r})
        from training_support import recipe_text, register_core_test_plugin, toy_datasets, train_run, write_recipe
        register_core_test_plugin()
        data = toy_datasets(train=48, validation=8, test=8)
        tmp = {str(tmp_path)!r}
        results = {{}}
        for strategy in ("lora", "rslora", "dora", "full"):
            options = "" if strategy == "full" else "r = 8\\nalpha = 16\\ngradient_checkpointing = false"
            recipe = write_recipe(tmp, recipe_text(engine="unsloth", strategy=strategy, max_steps=2, save_steps=2,
                                                   lora_options=options), name=strategy + ".toml")
            summary, loaded, _ = train_run(recipe, tmp + "/" + strategy, data)
            results[strategy] = {{"steps": summary["steps"], "loss": summary["final_loss"],
                                  "engine": loaded.engine, "trainable": summary["trainable_parameters"],
                                  "total": summary["parameters"], "saved": summary["adapter_dir"]}}
        print(json.dumps(results))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600, cwd=REPO)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(done.stdout.strip().splitlines()[-1])
    for strategy, result in results.items():
        assert result["engine"] == "unsloth" and result["steps"] == 2 and math.isfinite(result["loss"]), strategy
    for strategy in ("lora", "rslora", "dora"):
        assert results[strategy]["trainable"] < results[strategy]["total"] / 2
        config = adapter_config(tmp_path / strategy)
        assert config["use_rslora"] is (strategy == "rslora") and config["use_dora"] is (strategy == "dora")
    assert results["full"]["trainable"] == results["full"]["total"]
    assert results["full"]["saved"].endswith("/model") and (tmp_path / "full/model/config.json").is_file()
