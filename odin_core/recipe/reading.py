"""Reading recipe TOML: files with line and column in every error, ``extends`` chains deep-merged, ``--set``
overrides, and sections renamed since an earlier release. Validation is ``odin_core.recipe``'s."""

from __future__ import annotations

import copy
import re
import tomllib
from pathlib import Path
from typing import Any

from odin_core.foundation.errors import RecipeError
from odin_core.foundation.files import read_utf8

_TOML_POS = re.compile(r"\(at line (\d+), column (\d+)\)")


def read_toml(path: Path) -> dict:
    """Parse a TOML file, turning every failure into a RecipeError with line and column."""
    text = read_utf8(path, error=RecipeError, expected="a TOML recipe")
    try:
        return tomllib.loads(text)
    except RecursionError:
        raise RecipeError("nests tables or arrays too deeply to read; expected a recipe", file=path) from None
    except tomllib.TOMLDecodeError as exc:
        msg = str(exc)
        m = _TOML_POS.search(msg)
        line = f"{m.group(1)}:{m.group(2)}" if m else None
        msg = _TOML_POS.sub("", msg).strip()
        raise RecipeError(f"invalid TOML: {msg}", file=path, line=line) from None


def deep_merge(base: dict, override: dict) -> dict:
    """Merge ``override`` into a copy of ``base``: tables merge key by key, other values replace."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


#: sections renamed since an earlier release: old name -> name; the old one is still read, with a warning
RENAMED_SECTIONS = {"lora": "finetune"}


def renamed_section(data: dict, where: str, file=None) -> list[str]:
    """Move a section of an earlier release to its name (``[lora]`` -> ``[finetune]``); the warnings to show.
    A RecipeError when both names are present."""
    notes = []
    for old, new in RENAMED_SECTIONS.items():
        if old not in data:
            continue
        if new in data:
            raise RecipeError(f"has both [{old}] and [{new}]; [{old}] is the earlier name of [{new}]: keep one",
                              file=file, key=old)
        data[new] = data.pop(old)
        notes.append(f"warning: {where}: [{old}] is now called [{new}] (read as [{new}]; rename it)")
    return notes


def load_raw(path: Path, _chain=(), files: list | None = None, notes: list | None = None) -> dict:
    """Read a recipe and the recipes it ``extends`` (paths relative to each file), merged.

    ``files`` (a list) receives (path, data as written) of each file of the chain, the given one first;
    ``notes`` the warnings about sections of an earlier release (``RENAMED_SECTIONS``)."""
    path = Path(path)
    resolved = path.resolve()
    if resolved in _chain:
        cycle = " -> ".join(str(p) for p in (*_chain, resolved))
        raise RecipeError(f"'extends' forms a cycle: {cycle}", file=path, key="extends")
    data = read_toml(path)
    found = renamed_section(data, str(path), path)
    if notes is not None:
        notes.extend(found)
    if files is not None:
        files.append((path, data))
    parent = data.pop("extends", None)
    if parent is None:
        return data
    if not isinstance(parent, str):
        raise RecipeError(f"expected a path string, got {type(parent).__name__}", file=path, key="extends")
    parent_path = path.parent / parent
    if not parent_path.exists():
        raise RecipeError(f"extends {str(parent_path)!r}, which does not exist", file=path, key="extends")
    return deep_merge(load_raw(parent_path, (*_chain, resolved), files, notes), data)


#: parts of a dotted ``--set`` key, at most (recipes nest a few levels)
MAX_KEY_DEPTH = 16


def parse_override(text: str) -> tuple[list[str], Any]:
    """``'training.learning_rate=1e-4'`` -> (['training', 'learning_rate'], 1e-4); values are TOML, or ``@FILE``:
    the table in a TOML file, which replaces the key's whole table (``model=@models/small.toml``)."""
    key, sep, value = text.partition("=")
    key = key.strip()
    shown = text if len(text) <= 80 else text[:77] + "..."
    if not sep or not key or any(not part for part in key.split(".")):
        raise RecipeError(f"--set {shown!r}: expected KEY=VALUE with a dotted key, e.g. training.learning_rate=1e-4")
    if key.count(".") >= MAX_KEY_DEPTH:
        raise RecipeError(f"--set {shown!r}: the key has {key.count('.') + 1} parts; a recipe key has at most "
                          f"{MAX_KEY_DEPTH}")
    if value.strip().startswith("@"):  # never a TOML value: a whole table from a file
        return key.split("."), _table_file(value.strip()[1:], key.split(".")[-1], shown)
    try:
        parsed = tomllib.loads(f"v = {value.strip()}")["v"]
    except RecursionError:
        raise RecipeError(f"--set {shown!r}: the value nests too deeply") from None
    except tomllib.TOMLDecodeError:
        parsed = value.strip()  # bare words are strings: --set model.name=my/model
    return key.split("."), parsed


def _table_file(path: str, name: str, shown: str) -> dict:
    """The table a ``--set KEY=@FILE`` puts at KEY: the file's ``[name]`` table when that is all it holds, else
    the whole file (e.g. a ``[model]`` block kept in its own file, for a sweep over model sizes)."""
    if not path.strip():
        raise RecipeError(f"--set {shown!r}: expected a TOML file after '@', e.g. model=@recipes/models/smollm2.toml")
    try:
        data = read_toml(Path(path.strip()))
    except RecipeError as exc:
        raise RecipeError(f"--set {shown!r}: {exc.message.replace('a TOML recipe', 'a TOML file')}", file=exc.file,
                          line=exc.line) from None
    if list(data) == [name] and isinstance(data[name], dict):
        return data[name]
    return data


def apply_overrides(data: dict, overrides) -> dict:
    """Apply ``KEY=VALUE`` overrides to recipe data (a copy is returned)."""
    data = copy.deepcopy(data)
    for text in overrides or ():
        parts, value = parse_override(text)
        parts[0] = RENAMED_SECTIONS.get(parts[0], parts[0])  # --set finetune.r=16 of an earlier release
        target = data
        for i, part in enumerate(parts[:-1]):
            where = ".".join(parts[: i + 1])
            if isinstance(target, list):
                if not part.isdigit() or int(part) >= len(target):
                    raise RecipeError(f"--set {text!r}: {where!r} is not an index of a list of {len(target)}")
                target = target[int(part)]
            else:
                if not isinstance(target.setdefault(part, {}), (dict, list)):
                    raise RecipeError(f"--set {text!r}: {where!r} is a value, not a table")
                target = target[part]
        last = parts[-1]
        if isinstance(target, list):
            if not last.isdigit() or int(last) >= len(target):
                raise RecipeError(f"--set {text!r}: {last!r} is not an index of a list of {len(target)}")
            target[int(last)] = value
        else:
            target[last] = value
    return data


