"""Recipes: reading TOML (``odin_core.recipe.reading``: ``extends``, ``--set``) and validating it.

Loading goes: read TOML (``extends`` chains deep-merged) -> apply ``--set``
overrides -> validate the sections (``odin_core.recipe.schema``) -> look up every
named component and validate its options with the model its plugin registered ->
check the evaluators' dataset columns. Any problem is one ``RecipeError`` naming
the file, the dotted key and what was expected.
"""

from __future__ import annotations

import ast
import difflib
import functools
import importlib.util
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from odin_core.components.plugins import Component, canonical_name, get_component, is_builtin, registry
from odin_core.components.protocols import TASK_FAMILIES
from odin_core.foundation import console
from odin_core.foundation.errors import OdinError, RecipeError
from odin_core.foundation.layout import COLUMNS
from odin_core.recipe.reading import (  # noqa: F401  (reading is its own module; its names stay importable here)
    RENAMED_SECTIONS,
    apply_overrides,
    deep_merge,
    load_raw,
    parse_override,
    read_toml,
    renamed_section,
)
from odin_core.recipe.schema import DEFAULT_EVALUATORS, Recipe, check_numbers, selector_key

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


#: problems listed in one recipe error, at most
MAX_LISTED_ERRORS = 20


def validation_error(exc: ValidationError, model_cls, file, prefix=()) -> RecipeError:
    """One RecipeError listing every problem of a pydantic ValidationError, keys dotted from ``prefix``."""
    lines = []
    errors = exc.errors()
    for err in errors[:MAX_LISTED_ERRORS]:
        loc = tuple(prefix) + tuple(err["loc"])
        key = _dotted(loc)
        if err["type"] == "extra_forbidden":
            known = _fields_at(model_cls, err["loc"])
            close = difflib.get_close_matches(str(err["loc"][-1]), known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            lines.append(f"{key}: unknown key{hint} Expected one of: {', '.join(known)}")
        else:
            lines.append(f"{key}: {_expected(err)}")
    if len(errors) > MAX_LISTED_ERRORS:
        lines.append(f"... and {len(errors) - MAX_LISTED_ERRORS} more problems")
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


#: ``data.tasks`` entries that select many tasks: the built-in benchmark's, or every installed plugin's too
ALL_TASKS, ALL_WITH_PLUGINS = "all", "all+plugins"


def expand_tasks(names, tasks: dict[str, Component] | None = None) -> list[str]:
    """Task names selected by ``data.tasks`` entries (names, family names, ``all``: the built-in benchmark's
    tasks, ``all+plugins``: every installed task), in registry order. Installing a plugin never changes what
    ``all`` builds; its tasks are named, or selected with ``all+plugins``."""
    tasks = registry()["task"] if tasks is None else tasks
    wanted = {canonical_name("task", n) for n in names}
    return [task_name for task_name, component in tasks.items()
            if ALL_WITH_PLUGINS in wanted or (ALL_TASKS in wanted and is_builtin(component))
            or task_name in wanted or task_family(component) in wanted]


def run_form(recipe) -> dict:
    """``recipe.resolved()`` with ``data.tasks`` expanded to the task names it selects (a task's options kept):
    what a run directory's recipe.toml records, so that it says which tasks ``all`` meant that day."""
    data = recipe.resolved()
    options = {entry.name: entry.resolved() for entry in recipe.data.tasks
               if entry.options is not None or entry.model_extra}
    data["data"]["tasks"] = [options.get(name, name) for name in expand_tasks(recipe.data.task_names)]
    return data


@functools.lru_cache(maxsize=None)
def transformers_choices(module: str, enum: str) -> tuple[str, ...] | None:
    """The string values of an enum class of an installed transformers module, read from its source
    (importing it would import torch); None when transformers or the class is not found."""
    try:
        spec = importlib.util.find_spec("transformers")
        source = (Path(spec.origin).parent / f"{module}.py").read_text(encoding="utf-8")
    except (ImportError, AttributeError, TypeError, ValueError, OSError):
        return None
    for node in ast.parse(source).body:
        if isinstance(node, ast.ClassDef) and node.name == enum:
            values = [n.value.value for n in node.body if isinstance(n, ast.Assign)
                      and isinstance(n.value, ast.Constant) and isinstance(n.value.value, str)]
            return tuple(values) or None
    return None


#: training keys whose values transformers accepts from a fixed list: (module, enum class, extra values)
TRANSFORMERS_CHOICES = {"optim": ("training_args", "OptimizerNames", ("auto",)),
                        "lr_scheduler": ("trainer_utils", "SchedulerType", ())}


def _check_training(recipe: Recipe, file) -> None:
    """``training.engine`` is a registered engine; ``training.optim`` and ``training.lr_scheduler`` are names
    transformers knows (checked before any build)."""
    get_component("engine", recipe.training.engine, file=file, key="training.engine")
    for key, (module, enum, extra) in TRANSFORMERS_CHOICES.items():
        choices = transformers_choices(module, enum)
        value = getattr(recipe.training, key)
        if choices is None or value in choices or value in extra:
            continue
        allowed = [*extra, *choices]
        close = difflib.get_close_matches(value, allowed, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise RecipeError(f"unknown value {value!r}{hint} Expected one of: {', '.join(allowed)}", file=file,
                          key=f"training.{key}")
    _check_evaluation_during_training(recipe.training, recipe.data.num_examples.validation, file)


def _check_evaluation_during_training(t, validation_examples: int, file) -> None:
    """Accuracy during training and early stopping need evaluations, and early stopping a checkpoint at each."""
    if t.eval_accuracy_examples and not t.eval_steps:
        raise RecipeError(f"= {t.eval_accuracy_examples} measures accuracy at each evaluation, but there is none: "
                          "set training.eval_steps", file=file, key="training.eval_accuracy_examples")
    if t.eval_schedule != "every" and not t.eval_steps:
        raise RecipeError(f"= {t.eval_schedule!r} spaces the evaluations from training.eval_steps, which is not set",
                          file=file, key="training.eval_schedule")
    stopping = t.early_stopping
    if stopping is None:
        return
    if t.eval_schedule != "every":
        raise RecipeError(f"= {t.eval_schedule!r} with early stopping: early stopping needs an evaluation and a "
                          "checkpoint at every training.eval_steps; use eval_schedule = \"every\"", file=file,
                          key="training.eval_schedule")
    if not t.eval_steps:
        raise RecipeError("watches a validation metric, but training.eval_steps is not set: set it (e.g. 50)",
                          file=file, key="training.early_stopping")
    if not validation_examples:
        raise RecipeError("watches a validation metric, but the validation split is empty: set "
                          "data.num_examples.validation", file=file, key="training.early_stopping")
    if stopping.metric != "eval_loss" and not t.eval_accuracy_examples:
        raise RecipeError(f"metric = {stopping.metric!r} needs the accuracy measured during training: set "
                          "training.eval_accuracy_examples (e.g. 64)", file=file, key="training.early_stopping.metric")
    if t.save_steps != t.eval_steps:
        raise RecipeError(f"keeps the best evaluation's checkpoint, so it needs one at every evaluation: set "
                          f"training.save_steps = training.eval_steps (now {t.save_steps} and {t.eval_steps})",
                          file=file, key="training.save_steps")


def _check_data(recipe: Recipe, file) -> None:
    if not expand_tasks(recipe.data.task_names):
        raise RecipeError("selects no registered task", file=file, key="data.tasks")
    if recipe.data.token_count == "model":  # cheap: whether a tokenizer can be had, not loading it
        loader = get_component("model_loader", recipe.model.loader) if recipe.model is not None else None
        if loader is None or not hasattr(loader.factory, "tokenizer"):
            what = "this recipe has no [model]" if loader is None else (
                f"the {recipe.model.loader} loader cannot give its tokenizer before the data exist (a scratch "
                "model's is trained on them)")
            raise RecipeError(f"'model' counts prompts with the model's tokenizer, but {what}; use 'bound'",
                              file=file, key="data.token_count")
    for i, entry in enumerate(recipe.data.tasks):
        if (entry.name in (ALL_TASKS, ALL_WITH_PLUGINS) or entry.name in TASK_FAMILIES) and entry.model_extra:
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
    if recipe.generation.extra_splits and not recipe.data.frozen_eval:
        raise RecipeError("extra evaluation splits come from a frozen evaluation set; set data.frozen_eval "
                          "(e.g. \"hypergraph-eval-v2\")", file=file, key="generation.extra_splits")


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
    check_numbers(data, file)
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
        _check_training(recipe, file)
        check_evaluator_columns(recipe)
    return recipe


def _remote_code_warnings(chain, overrides, data) -> list[str]:
    """A loud warning when the model may run code from its folder (``model.trust_remote_code = true``), naming
    the file (or ``--set``) that set it; a RecipeError when only a recipe reached through ``extends`` sets it."""
    model = data.get("model") if isinstance(data, dict) else None
    if not isinstance(model, dict) or model.get("trust_remote_code") is not True:
        return []
    by_set = any(parse_override(o)[0] == ["model", "trust_remote_code"] for o in overrides or ())
    setters = [p for p, raw in chain if isinstance(raw.get("model"), dict) and "trust_remote_code" in raw["model"]]
    top = chain[0][0]
    if not by_set and setters and setters[0] != top:
        raise RecipeError(f"trust_remote_code = true is set in a recipe reached through 'extends' and would run "
                          f"Python code shipped with the model; set it in {top} too to allow that",
                          file=setters[0], key="model.trust_remote_code")
    where = "--set model.trust_remote_code=true" if by_set else str(setters[0] if setters else top)
    return [f"warning: {where}: model.trust_remote_code = true: loading {model.get('name')!r} runs Python code "
            "from the model's folder or repository with your permissions; use it only with a model you trust"]


def _encoding_warnings(recipe: Recipe, path) -> list[str]:
    """A named task that no listed encoding can express builds no rows: say so instead of building 0 rows."""
    try:
        orders = [getattr(get_component("encoder", name).create(entry.options), "order", "high")
                  for name, entry in zip(recipe.data.encoding_names, recipe.data.encodings)]
    except OdinError:
        return []  # an unknown encoder is an error elsewhere
    if "high" in orders:
        return []
    out = []
    for i, entry in enumerate(recipe.data.tasks):
        if entry.name in (ALL_TASKS, ALL_WITH_PLUGINS) or entry.name in TASK_FAMILIES:
            continue
        try:
            task = get_component("task", entry.name).create(entry.options)
        except OdinError:
            continue
        if getattr(task, "needs_high_order", False):
            out.append(f"warning: {path}: data.tasks.{i}: {entry.name!r} needs a high-order encoding and every "
                       "encoding in data.encodings is low-order: it builds no rows; add e.g. hypernetx.n_set")
    return out


def load_recipe(path, overrides=None, *, require_model: bool = True) -> Recipe:
    """Read, merge, override and validate a recipe file (``require_model=False``: data-only recipes too).

    Warnings (``recipe.warnings``, also printed to stderr): a recipe that lets the model run its own code."""
    path = Path(path)
    chain: list = []
    warnings: list[str] = []
    data = apply_overrides(load_raw(path, files=chain, notes=warnings), overrides)
    warnings += _remote_code_warnings(chain, overrides, data)
    recipe = validate(data, file=path, require_model=require_model)
    warnings += _encoding_warnings(recipe, path)
    if (note := recipe.prompt_budget_note()) is not None:
        warnings.append(f"warning: {path}: {note}")
    for warning in warnings:
        console.warn(warning)
    recipe.warnings.extend(warnings)
    return recipe


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
