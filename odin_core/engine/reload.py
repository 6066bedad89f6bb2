"""A trained run's model, reloaded for evaluation or export: its base through its loader, plus the adapter."""

from __future__ import annotations

from odin_core.components.plugins import get_component
from odin_core.components.protocols import LoadSettings
from odin_core.foundation.errors import ModelError
from odin_core.foundation.layout import ADAPTER_DIR, FULL_MODEL_DIR, RECIPE_FILE, RL_DIR, RL_SUMMARY
from odin_core.recipe import load_recipe
from odin_core.runtime.device import check_device
from odin_core.runtime.rundir import RunDir


def load_run_model(run_dir, adapter: bool = True, load_in_4bit: bool | None = None, *, trainable: bool = False,
                   folder: str | None = None, after_rl: bool = True):
    """A run's model as ``LoadedModel``: its base through its loader, with the trained adapter attached.

    ``adapter=False`` gives the base model alone. For full fine-tuning the trained model
    is loaded from ``<run_dir>/model``. ``load_in_4bit`` overrides the strategy's choice
    (``export`` merges into a 16-bit base). ``trainable``: the adapter trains on (a later stage starts from it);
    ``folder``: the trained adapter or model is in this folder of the run instead. A run whose RL stage completed
    gives its model after RL (``rl/``) unless ``after_rl`` is false (then the supervised one)."""
    run = RunDir.existing(run_dir)
    path = run.path
    if folder is None and after_rl and (path / RL_SUMMARY).is_file() and (path / RL_DIR).is_dir():
        folder = RL_DIR
    recipe = load_recipe(path / RECIPE_FILE)
    run.recipe = recipe
    strategy = get_component("lora_strategy", recipe.finetune.strategy).create(recipe.finetune.options)
    settings = LoadSettings(load_in_4bit=strategy.load_in_4bit if load_in_4bit is None else load_in_4bit)
    check_device(recipe, needs_cuda=settings.load_in_4bit)
    loader = get_component("model_loader", recipe.model.loader).create(recipe.model.options)
    if adapter and strategy.full_finetuning:
        trained = path / (folder or FULL_MODEL_DIR)
        if not (trained / "config.json").is_file():
            raise ModelError(f"no trained model in {trained}: training did not finish; continue it with "
                             f"odin run {recipe.path} --resume {path}", file=path)
        section = recipe.model.model_copy(update={"name": str(trained.resolve())})
        section.with_options(recipe.model.options)
        return loader.load(section, settings, run, None)
    loaded = loader.load(recipe.model, settings, run, None)
    if not adapter:
        return loaded
    adapter_dir = path / (folder or ADAPTER_DIR)
    if not (adapter_dir / "adapter_config.json").is_file():
        raise ModelError(f"no trained adapter in {adapter_dir}: training did not finish; continue it with "
                         f"odin run {recipe.path} --resume {path}, or evaluate the base model", file=path)
    from peft import PeftModel

    loaded.model = PeftModel.from_pretrained(loaded.model, str(adapter_dir), is_trainable=trainable)
    loaded.info = {**loaded.info, "adapter": str(adapter_dir)}
    return loaded
