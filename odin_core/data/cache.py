"""The dataset cache: a fingerprint of everything a build depends on, and load-or-build."""

from __future__ import annotations

import fcntl
import hashlib
import inspect
import json
import os
import shutil
from contextlib import contextmanager
from pathlib import Path

from odin_core.components.plugins import registry
from odin_core.data.build import BUILDER_VERSION, build_dataset
from odin_core.data.frozen import CHECKSUM_FILE, frozen_dir
from odin_core.data.splits import source_instances
from odin_core.foundation.errors import DataError, RecipeError
from odin_core.foundation.files import DATASET, atomic_write_dir, file_digest
from odin_core.recipe import expand_tasks
from odin_core.runtime.chat import recipe_uses_chat

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
    if recipe.data.token_count == "model":  # the counts, and so the rows kept, depend on the model's tokenizer
        payload["tokenizer"] = [recipe.model.loader, recipe.model.name, getattr(recipe.model.options, "revision", None)]
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode("utf-8")).hexdigest()


def cache_path(recipe, fp: str | None = None) -> Path:
    """Folder of this recipe's cached dataset (it may not exist yet)."""
    fp = fp or fingerprint(recipe)
    return Path(recipe.data.cache_dir).expanduser() / f"{recipe.name}-{fp[:16]}"


#: digests of every file of a cache entry, written last: an entry without it (or not matching it) is rebuilt
CHECKSUMS_FILE = "checksums.json"


def _entry_files(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): file_digest(p) for p in sorted((folder / "dataset").rglob("*")) if p.is_file()}


def _prepare_cache_dir(recipe, folder: Path) -> None:
    """The cache folder exists and is writable, or one RecipeError naming ``data.cache_dir``."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".odin-write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        what = "exists and is not a folder" if isinstance(exc, (FileExistsError, NotADirectoryError)) else \
            f"cannot be written ({exc.strerror or exc})"
        raise RecipeError(f"{folder} {what}; expected a writable folder for the dataset cache", file=recipe.path,
                          key="data.cache_dir") from None


@contextmanager
def _locked(target: Path):
    """Hold the cache entry's lock: two builds of one recipe at once take turns."""
    with open(target.parent / f"{target.name}.lock", "a+b") as fh:  # kept: deleting a lock file races
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _remove_leftovers(target: Path) -> int:
    """Delete the temporary folders of builds that were killed (the caller holds the entry's lock)."""
    removed = 0
    for path in target.parent.glob(f".{target.name}.*"):
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
            removed += 1
    return removed


def cached_report(target: Path) -> tuple[dict | None, str | None]:
    """(the build report of a complete, intact cache entry, None) or (None, why it cannot be used)."""
    if not target.exists():
        return None, None
    try:
        report = json.loads((target / "report.json").read_text(encoding="utf-8"))
        expected = json.loads((target / CHECKSUMS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None, "it is incomplete (a build was interrupted, or it predates checksums)"
    actual = _entry_files(target)  # files added later (a library's own caches) do not count
    bad = sorted(k for k in expected if actual.get(k) != expected[k])
    if bad or not expected:
        return None, f"{bad[0] if bad else 'dataset'} is missing or differs from its stored checksum"
    return report, None


def load_or_build(recipe, force: bool = False, report_out: dict | None = None):
    """The recipe's DatasetDict from the cache, or built, saved (atomically) and returned.

    ``report_out`` (a dict) receives the build report (or the cached one) and ``cache_path``.
    A cache entry is locked while it is checked, built or loaded; one whose files do not match
    their stored checksums is rebuilt, and temporary folders of killed builds are deleted.
    """
    import datasets

    fp = fingerprint(recipe)
    target = cache_path(recipe, fp)
    _prepare_cache_dir(recipe, target.parent)
    with _locked(target):
        _remove_leftovers(target)
        report, damaged = (None, None) if force else cached_report(target)
        if report is not None:
            report["cached"] = True
        else:
            report = _build(recipe, fp, target, datasets)
            if damaged:
                report.setdefault("warnings", []).append(f"the cached dataset at {target} was rebuilt: {damaged}")
        if report_out is not None:
            report_out.update(report)
            report_out["cache_path"] = str(target)
        return datasets.load_from_disk(str(target / "dataset"))


def _build(recipe, fp: str, target: Path, datasets) -> dict:
    dataset, report = build_dataset(recipe)
    report["fingerprint"] = fp

    def save(tmp):
        # one shard per split, always: datasets 4.8 writes no shard at all for an empty split
        # (huggingface/datasets#8385), which load_from_disk then cannot read
        dataset.save_to_disk(str(tmp / "dataset"), num_shards={split: 1 for split in dataset})
        (tmp / "report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        (tmp / CHECKSUMS_FILE).write_text(json.dumps(_entry_files(tmp), indent=1) + "\n", encoding="utf-8")

    was = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        atomic_write_dir(target, save, DATASET)
    except OSError as exc:  # disk full, quota, read-only: the earlier entry (if any) is left complete
        raise DataError(f"could not write the dataset cache ({exc.strerror or exc}); an earlier cached copy, if any, "
                        f"is kept; free space or point data.cache_dir elsewhere", file=target,
                        key="data.cache_dir") from None
    finally:
        if was:
            datasets.enable_progress_bars()
    report["cached"] = False
    return report
