"""Recipes: reading TOML (``extends``, ``--set``) and validating it, in this one place.

Loading goes: read TOML (``extends`` chains deep-merged) -> apply ``--set``
overrides -> validate the sections (``odin_core.recipe_schema``) -> look up every
named component and validate its options with the model its plugin registered ->
check the evaluators' dataset columns. Any problem is one ``RecipeError`` naming
the file, the dotted key and what was expected.
"""

from __future__ import annotations

import copy
import difflib
import re
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from odin_core.errors import RecipeError
from odin_core.layout import COLUMNS
from odin_core.plugins import Component, canonical_name, get_component, registry
from odin_core.protocols import TASK_FAMILIES
from odin_core.recipe_schema import DEFAULT_EVALUATORS, Recipe, selector_key

# --- reading -------------------------------------------------------------

_TOML_POS = re.compile(r"\(at line (\d+), column (\d+)\)")


def read_toml(path: Path) -> dict:
    """Parse a TOML file, turning every failure into a RecipeError with line and column."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise RecipeError("file does not exist; expected a TOML recipe", file=path) from None
    except IsADirectoryError:
        raise RecipeError("is a directory; expected a TOML recipe file", file=path) from None
    except OSError as exc:
        raise RecipeError(f"cannot be read ({exc.strerror})", file=path) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise RecipeError("is not UTF-8 text; expected a TOML recipe", file=path, line=line) from None
    try:
        return tomllib.loads(text)
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


def load_raw(path: Path, _chain=()) -> dict:
    """Read a recipe and the recipes it ``extends`` (paths relative to each file), merged."""
    path = Path(path)
    resolved = path.resolve()
    if resolved in _chain:
        cycle = " -> ".join(str(p) for p in (*_chain, resolved))
        raise RecipeError(f"'extends' forms a cycle: {cycle}", file=path, key="extends")
    data = read_toml(path)
    parent = data.pop("extends", None)
    if parent is None:
        return data
    if not isinstance(parent, str):
        raise RecipeError(f"expected a path string, got {type(parent).__name__}", file=path, key="extends")
    parent_path = path.parent / parent
    if not parent_path.exists():
        raise RecipeError(f"extends {str(parent_path)!r}, which does not exist", file=path, key="extends")
    return deep_merge(load_raw(parent_path, (*_chain, resolved)), data)


def parse_override(text: str) -> tuple[list[str], Any]:
    """``'training.learning_rate=1e-4'`` -> (['training', 'learning_rate'], 1e-4); values are TOML."""
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise RecipeError(f"--set {text!r}: expected KEY=VALUE with a dotted key, e.g. training.learning_rate=1e-4")
    try:
        parsed = tomllib.loads(f"v = {value.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        parsed = value.strip()  # bare words are strings: --set model.name=my/model
    return key.split("."), parsed


def apply_overrides(data: dict, overrides) -> dict:
    """Apply ``KEY=VALUE`` overrides to recipe data (a copy is returned)."""
    data = copy.deepcopy(data)
    for text in overrides or ():
        parts, value = parse_override(text)
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


# --- validation ----------------------------------------------------------


def _dotted(loc) -> str:
    return ".".join(str(part) for part in loc)


def _fields_at(model_cls, loc):
    """Field names accepted at ``loc`` (for did-you-mean), following nested models."""
    cls = model_cls
    for part in loc[:-1]:
        if isinstance(part, int) or cls is None:
            continue
        field = cls.model_fields.get(part)
        if field is None:
            return []
        ann = field.annotation
        args = getattr(ann, "__args__", ())
        cls = next((a for a in (ann, *args) if isinstance(a, type) and issubclass(a, BaseModel)), None)
    return list(cls.model_fields) if cls else []


def _expected(err) -> str:
    ctx = err.get("ctx") or {}
    if err["type"] == "missing":
        return "missing required key"
    if "expected" in ctx:
        return f"expected {ctx['expected']}, got {err.get('input')!r}"
    return f"{err['msg'][0].lower()}{err['msg'][1:]} (got {err.get('input')!r})"


def validation_error(exc: ValidationError, model_cls, file, prefix=()) -> RecipeError:
    """One RecipeError listing every problem of a pydantic ValidationError, keys dotted from ``prefix``."""
    lines = []
    for err in exc.errors():
        loc = tuple(prefix) + tuple(err["loc"])
        key = _dotted(loc)
        if err["type"] == "extra_forbidden":
            known = _fields_at(model_cls, err["loc"])
            close = difflib.get_close_matches(str(err["loc"][-1]), known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            lines.append(f"{key}: unknown key{hint} Expected one of: {', '.join(known)}")
        else:
            lines.append(f"{key}: {_expected(err)}")
    message = lines[0] if len(lines) == 1 else "invalid recipe:\n  " + "\n  ".join(lines)
    return RecipeError(message, file=file)


def validate_component(section, kind: str, key: str, file) -> Component:
    """Look up the component a section names, make its name canonical, and validate its options."""
    selector = selector_key(section)
    name = getattr(section, selector)
    component = get_component(kind, name, file=file, key=f"{key}.{selector}")
    setattr(section, selector, component.name)  # a deprecated alias becomes the current name
    extras = dict(section.model_extra or {})
    if component.options is None:
        if extras:
            first = sorted(extras)[0]
            known = list(type(section).model_fields)
            raise RecipeError(f"unknown key; {kind} {component.name!r} takes no options. Expected one of: "
                              f"{', '.join(known)}", file=file, key=f"{key}.{first}")
        return component
    accepted = set(component.options.model_fields)
    for extra_key in extras:
        if extra_key not in accepted:
            known = sorted(accepted | set(type(section).model_fields))
            close = difflib.get_close_matches(extra_key, known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise RecipeError(f"unknown key for {kind} {component.name!r}{hint} Expected one of: {', '.join(known)}",
                              file=file, key=f"{key}.{extra_key}")
    try:
        section.with_options(component.options.model_validate(extras))
    except ValidationError as exc:
        raise validation_error(exc, component.options, file, prefix=key.split(".")) from None
    return component


def task_family(component: Component) -> str:
    """The family a task component declares (``Task.family``), read from an instance with default options."""
    return getattr(component.create(None), "family", "")


def expand_tasks(names, tasks: dict[str, Component] | None = None) -> list[str]:
    """Task names selected by ``data.tasks`` entries (names, family names, 'all'), in registry order."""
    tasks = registry()["task"] if tasks is None else tasks
    wanted = {canonical_name("task", n) for n in names}
    return [task_name for task_name, component in tasks.items()
            if "all" in wanted or task_name in wanted or task_family(component) in wanted]


def _check_data(recipe: Recipe, file) -> None:
    if not expand_tasks(recipe.data.task_names):
        raise RecipeError("selects no registered task", file=file, key="data.tasks")
    for i, entry in enumerate(recipe.data.tasks):
        if (entry.name == "all" or entry.name in TASK_FAMILIES) and entry.model_extra:
            raise RecipeError(f"{entry.name!r} selects several tasks and takes no options; set options on a "
                              "task's own entry", file=file, key=f"data.tasks.{i}")
    if (recipe.data.rationale == "trace" and recipe.data.frozen_eval and recipe.model is not None
            and recipe.generation.max_new_tokens is None):
        raise RecipeError(f"'trace' with data.frozen_eval = {recipe.data.frozen_eval!r}: the frozen set's completions "
                          "hold no traces, so answer budgets taken from them leave no room for one; set "
                          "generation.max_new_tokens (or data.frozen_eval = \"\")", file=file, key="data.rationale")
    sizes = recipe.data.split
    if abs(sizes.train + sizes.validation + sizes.test - 1.0) > 1e-6:
        raise RecipeError(f"fractions must add up to 1 (got {sizes.train + sizes.validation + sizes.test:g})",
                          file=file, key="data.split")


def evaluator_entries(recipe: Recipe) -> list[tuple[str, Any]]:
    """(name, validated options) of the evaluators a recipe selects, or the default ones that are registered."""
    if recipe.eval:
        return [(entry.name, entry.options) for entry in recipe.eval]
    available = registry()["evaluator"]
    return [(name, None) for name in DEFAULT_EVALUATORS if name in available]


def create_evaluators(recipe: Recipe) -> list[tuple[str, Any]]:
    """Instantiated evaluators (name, object) for a recipe."""
    made = []
    for i, (name, options) in enumerate(evaluator_entries(recipe)):
        component = get_component("evaluator", name, file=recipe.path, key=f"eval.{i}.name")
        made.append((name, component.create(options)))
    return made


def check_evaluator_columns(recipe: Recipe, columns=COLUMNS) -> None:
    """A RecipeError when an evaluator needs a column the dataset will not have."""
    for i, (name, evaluator) in enumerate(create_evaluators(recipe)):
        missing = [c for c in getattr(evaluator, "requires_columns", ()) if c not in columns]
        if missing:
            raise RecipeError(f"evaluator {name!r} needs dataset column(s) {', '.join(missing)}, which the "
                              f"dataset does not have (it has {', '.join(columns)})", file=recipe.path,
                              key=f"eval.{i}.name")


def validate(data: dict, file=None, *, require_model: bool = True, check_components: bool = True) -> Recipe:
    """Validate recipe data into a ``Recipe``; components are looked up in the registry.

    ``require_model=False`` accepts a data-only recipe (no ``[model]``; ``name``
    defaults to the file's stem). ``check_components=False`` checks the sections'
    shape only (no registry look-up, no component options)."""
    if not require_model and file is not None and "name" not in data:
        data = {**data, "name": Path(file).stem.replace("_", "-")}
    if "data" not in data and isinstance(data, dict):
        raise RecipeError("has no [data] section; expected one (or 'extends' pointing at a file with it)",
                          file=file, key="data")
    try:
        recipe = Recipe.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc, Recipe, file) from None
    if require_model and recipe.model is None:
        raise RecipeError("missing required key; expected a [model] table with a loader", file=file, key="model")
    recipe.located_at(file)
    if not check_components:
        return recipe
    for key, kind, section in recipe.component_sections():
        component = validate_component(section, kind, key, file)
        if kind == "model_loader":  # a loader may check what only it understands (model.name), cheaply
            check = getattr(component.create(section.options), "check", None)
            if check is not None:
                check(section, recipe)
    _check_data(recipe, file)
    if recipe.model is not None:
        check_evaluator_columns(recipe)
    return recipe


def load_recipe(path, overrides=None, *, require_model: bool = True) -> Recipe:
    """Read, merge, override and validate a recipe file (``require_model=False``: data-only recipes too)."""
    path = Path(path)
    data = apply_overrides(load_raw(path), overrides)
    return validate(data, file=path, require_model=require_model)


def json_schema() -> dict:
    """JSON schema of recipes, with each registered component's options schema."""
    schema = Recipe.model_json_schema()
    components = {}
    for kind, comps in registry().items():
        components[kind] = {
            name: (c.options.model_json_schema() if c.options is not None else {"type": "object", "properties": {}})
            | {"description": c.description, "x-odin-plugin": c.plugin}
            for name, c in sorted(comps.items())
        }
    schema["x-odin-components"] = components
    return schema
