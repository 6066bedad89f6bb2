"""Run directories: one folder per run, written atomically.

``runs/<name>-<timestamp>/`` holds ``recipe.toml`` (resolved), ``environment.json``,
``odin.log``, ``metrics.jsonl``, ``metrics.json``, ``report.md`` and artifacts.
Every whole-file write goes to a temporary file in the same folder and is then
renamed, so an interrupted run never leaves a half-written file that looks complete.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import sys
import tempfile
import time
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

TRACKED_PACKAGES = ("odin", "torch", "transformers", "peft", "trl", "unsloth", "unsloth_zoo", "datasets",
                    "bitsandbytes", "hypernetx", "pluggy", "pydantic", "click", "wandb", "tokenizers", "accelerate")


def atomic_write_bytes(path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_dir(target, save) -> None:
    """Call ``save(tmp_dir)`` and rename the result to ``target`` (replacing it): no half-written folder remains."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        save(tmp)
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def atomic_write_text(path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path, data) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


def to_toml(data: dict) -> str:
    """Serialise plain recipe data (tables, arrays of tables, scalars, lists) as TOML."""
    lines: list[str] = []

    def scalar(value):
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, (int, float)):
            return repr(value)
        if isinstance(value, str):
            return json.dumps(value, ensure_ascii=False)
        if isinstance(value, list):
            return "[" + ", ".join(scalar(v) for v in value) + "]"
        if isinstance(value, dict):
            return "{ " + ", ".join(f"{json.dumps(k)} = {scalar(v)}" for k, v in value.items()) + " }"
        raise TypeError(f"cannot write {type(value).__name__} to TOML")

    def table(prefix, body):
        simple = {k: v for k, v in body.items() if v is not None and not isinstance(v, dict)
                  and not (isinstance(v, list) and v and all(isinstance(x, dict) for x in v))}
        for key, value in simple.items():
            lines.append(f"{key} = {scalar(value)}")
        for key, value in body.items():
            path = f"{prefix}.{key}" if prefix else key
            if isinstance(value, dict):
                lines.extend(["", f"[{path}]"])
                table(path, value)
            elif isinstance(value, list) and value and all(isinstance(x, dict) for x in value):
                for item in value:
                    lines.extend(["", f"[[{path}]]"])
                    table(path, item)

    table("", data)
    return "\n".join(lines).strip() + "\n"


def environment_info() -> dict:
    """Package versions, Python, platform and (when torch is already imported) the device."""
    versions = {}
    for name in TRACKED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    info = {"python": sys.version.split()[0], "platform": platform.platform(), "cpu_count": os.cpu_count(),
            "packages": versions}
    torch = sys.modules.get("torch")
    if torch is not None:
        cuda = torch.cuda.is_available()
        info["device"] = torch.cuda.get_device_name(0) if cuda else "cpu"
        info["cuda"] = torch.version.cuda if cuda else None
    return info


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
                suffix += 1
                path = base / f"{recipe.name}-{stamp}-{suffix}"
        return cls(path, recipe)

    def file(self, name) -> Path:
        return self.path / name

    def write_json(self, name, data) -> Path:
        atomic_write_json(self.file(name), data)
        return self.file(name)

    def write_text(self, name, text) -> Path:
        atomic_write_text(self.file(name), text)
        return self.file(name)

    def append_jsonl(self, name, record: dict) -> None:
        """Append one JSON line with a single write, so a kill never leaves half a record."""
        line = (json.dumps(record, default=str) + "\n").encode("utf-8")
        fd = os.open(self.file(name), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)

    def read_jsonl(self, name) -> list[dict]:
        """Records of a JSON-lines file, skipping a torn last line."""
        path = self.file(name)
        if not path.exists():
            return []
        records = []
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return records

    def log(self, message: str) -> None:
        """Append a timestamped line to ``odin.log``."""
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        fd = os.open(self.file("odin.log"), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, f"{stamp} {message}\n".encode("utf-8"))
        finally:
            os.close(fd)

    def write_start_files(self) -> None:
        """Write the resolved recipe and the environment."""
        self.write_text("recipe.toml", to_toml(self.recipe.resolved()))
        self.write_json("environment.json", environment_info())
