"""The dataset cache: a fingerprint of everything a build depends on, and load-or-build."""

from __future__ import annotations

import hashlib
import inspect
import json
from pathlib import Path

from odin_core.chat import recipe_uses_chat
from odin_core.data.build import BUILDER_VERSION, build_dataset
from odin_core.data.frozen import CHECKSUM_FILE, frozen_dir
from odin_core.data.splits import source_instances
from odin_core.files import atomic_write_dir, file_digest
from odin_core.plugins import registry
from odin_core.recipe import expand_tasks

_CORE = Path(__file__).resolve().parent.parent
#: the core code a build's bytes depend on: this package and the value types it uses
CODE_FILES = (*sorted(Path(__file__).resolve().parent.glob("*.py")), _CORE / "answers.py", _CORE / "hypergraph.py",
              _CORE / "chat.py", _CORE / "seeds.py")


def fingerprint(recipe) -> str:
    """Hash of everything the built dataset depends on: data section, seed, builder and component code, inputs."""
    data = recipe.data.resolved()
    data.pop("num_proc", None)  # any num_proc gives the same bytes
    data.pop("cache_dir", None)
    reg = registry()
    code = {}
    modules = set(CODE_FILES)
    used = ([("task", n) for n in expand_tasks(recipe.data.task_names)]
            + [("encoder", n) for n in recipe.data.encoding_names] + [("source", e.name) for e in recipe.data.sources])
    for kind, name in used:
        component = reg[kind].get(name)
        if component is not None:
            try:
                # the factory's whole folder: helpers beside it (a task package's common.py) shape the bytes too
                modules.update(Path(inspect.getfile(component.factory)).parent.glob("*.py"))
            except (TypeError, OSError):
                code[f"{kind}:{name}"] = component.plugin
    for path in sorted(modules):
        code[path.name + ":" + str(path.parent.name)] = file_digest(path)
    inputs = {}
    for i, _entry, source in source_instances(recipe):
        if hasattr(source, "input_files"):
            for path in source.input_files(str(recipe.base_dir)):
                inputs[f"{i}:{Path(path).name}"] = file_digest(Path(path))
    frozen = None
    if recipe.data.frozen_eval:
        frozen = file_digest(frozen_dir(recipe.data.frozen_eval) / CHECKSUM_FILE)
    payload = {"data": data, "seed": recipe.seed, "builder": BUILDER_VERSION, "messages": recipe_uses_chat(recipe),
               "code": code, "inputs": inputs, "frozen": frozen}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode("utf-8")).hexdigest()


def cache_path(recipe, fp: str | None = None) -> Path:
    """Folder of this recipe's cached dataset (it may not exist yet)."""
    fp = fp or fingerprint(recipe)
    return Path(recipe.data.cache_dir).expanduser() / f"{recipe.name}-{fp[:16]}"


def load_or_build(recipe, force: bool = False, report_out: dict | None = None):
    """The recipe's DatasetDict from the cache, or built, saved (atomically) and returned.

    ``report_out`` (a dict) receives the build report (or the cached one) and ``cache_path``.
    """
    import datasets

    fp = fingerprint(recipe)
    target = cache_path(recipe, fp)
    if (target / "report.json").is_file() and not force:
        report = json.loads((target / "report.json").read_text(encoding="utf-8"))
        report["cached"] = True
    else:
        dataset, report = build_dataset(recipe)
        report["fingerprint"] = fp

        def save(tmp):
            # one shard per split, always: datasets 4.8 writes no shard at all for an empty split
            # (huggingface/datasets#8385), which load_from_disk then cannot read
            dataset.save_to_disk(str(tmp / "dataset"), num_shards={split: 1 for split in dataset})
            (tmp / "report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")

        was = datasets.is_progress_bar_enabled()
        datasets.disable_progress_bars()
        try:
            atomic_write_dir(target, save)
        finally:
            if was:
                datasets.enable_progress_bars()
        report["cached"] = False
    if report_out is not None:
        report_out.update(report)
        report_out["cache_path"] = str(target)
    return datasets.load_from_disk(str(target / "dataset"))
