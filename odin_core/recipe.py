"""Recipes: TOML files describing a whole run, validated in this one place.

Loading goes: read TOML (``extends`` chains deep-merged) -> apply ``--set``
overrides -> validate the core sections with pydantic -> validate each named
component's own options with the model its plugin registered. Any problem is a
``RecipeError`` naming the file, the dotted key and what was expected.
"""

from __future__ import annotations

import copy
import difflib
import re
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator

from odin_core.errors import RecipeError
from odin_core.protocols import TASK_FAMILIES


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


class _Selector(BaseModel):
    """A section naming a component; its other keys are that component's options."""

    model_config = ConfigDict(extra="allow")
    _options: Any = PrivateAttr(default=None)

    @property
    def options(self):
        """The component's validated options (a pydantic model), or None."""
        return self._options


class ModelSection(_Selector):
    loader: str = Field(description="model loader component, e.g. 'llama', 'phi', 'mistral', 'scratch'")
    name: str | None = Field(None, description="hub model name or local directory in Hugging Face layout")
    max_seq_length: int = Field(2048, gt=0)
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    chat_template: bool | None = Field(None, description="format examples as chat messages; default: the loader's family default")


class SourceEntry(_Selector):
    name: str = Field(description="hypergraph source component, e.g. 'hypernetx.synthetic'")


class SplitSizes(_Strict):
    train: int = Field(1000, ge=0)
    validation: int = Field(100, ge=0)
    test: int = Field(200, ge=0)


class SplitFractions(_Strict):
    train: float = Field(0.8, ge=0, le=1)
    validation: float = Field(0.1, ge=0, le=1)
    test: float = Field(0.1, ge=0, le=1)


class DataSection(_Strict):
    sources: list[SourceEntry] = Field(min_length=1, description="where hypergraphs come from ([[data.sources]] tables)")
    tasks: list[str] = Field(["all"], description="task names, task families, or 'all'")
    encodings: list[str] = Field(min_length=1, description="encoder names; several mix encodings in one dataset")
    num_examples: SplitSizes = SplitSizes()
    split: SplitFractions = Field(SplitFractions(), description="fraction of hypergraphs per split")
    max_prompt_tokens: int = Field(2048, gt=0, description="examples whose prompt exceeds this are dropped and reported")
    balance_yes_no: bool = True
    num_proc: int = Field(1, ge=1)
    cache_dir: str = ".odin_cache/datasets"
    frozen_eval: str | None = Field(None, description="name of a frozen evaluation set in data/ used as the test split")


class LoraSection(_Selector):
    strategy: str = Field("lora", description="LoRA strategy component: lora, qlora, rslora, dora, full")


class TrainingSection(_Strict):
    engine: Literal["unsloth", "transformers"] = "unsloth"
    device: Literal["auto", "cpu", "cuda"] = "auto"
    num_epochs: float = Field(1.0, gt=0)
    max_steps: int = Field(-1, description="stop after this many optimizer steps (-1: use num_epochs)")
    batch_size: int = Field(4, gt=0, description="per-device train batch size")
    gradient_accumulation_steps: int = Field(1, gt=0)
    learning_rate: float = Field(2e-4, gt=0)
    lr_scheduler: str = "cosine"
    warmup_ratio: float = Field(0.05, ge=0, le=1)
    weight_decay: float = Field(0.0, ge=0)
    max_grad_norm: float = Field(1.0, gt=0)
    optim: str = Field("auto", description="'auto': 8-bit AdamW on CUDA, AdamW otherwise; or any transformers optimizer name")
    packing: bool = False
    completion_only_loss: bool = True
    logging_steps: int = Field(10, gt=0)
    eval_steps: int | None = Field(None, gt=0, description="evaluate loss on the validation split every N steps")
    save_steps: int = Field(100, gt=0)
    save_total_limit: int = Field(2, gt=0)


class GenerationSection(_Strict):
    split: Literal["train", "validation", "test"] = "test"
    max_examples: int | None = Field(None, gt=0)
    batch_size: int = Field(16, gt=0)
    max_new_tokens: int | None = Field(None, gt=0, description="default: from the longest canonical answer per task")
    evaluate_base: bool = Field(True, description="also evaluate the base model before training")


class EvalEntry(_Selector):
    name: str = Field(description="evaluator component, e.g. 'task_accuracy'")


class TrackingEntry(_Selector):
    name: str = Field(description="tracker component, e.g. 'wandb'")


class Recipe(_Strict):
    """A whole run: model, data, LoRA strategy, training, evaluation, tracking."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    description: str = ""
    seed: int = 42
    output_dir: str = "runs"
    model: ModelSection
    data: DataSection
    lora: LoraSection = LoraSection()
    training: TrainingSection = TrainingSection()
    generation: GenerationSection = GenerationSection()
    eval: list[EvalEntry] = Field(default_factory=list)
    tracking: list[TrackingEntry] = Field(default_factory=list)

    _path: Path | None = PrivateAttr(default=None)

    @property
    def path(self) -> Path | None:
        """The recipe file this was loaded from (None when built from a dict)."""
        return self._path

    @property
    def base_dir(self) -> Path:
        return self._path.parent if self._path else Path.cwd()

    @field_validator("tracking")
    @classmethod
    def _unique_trackers(cls, value):
        names = [t.name for t in value]
        if len(names) != len(set(names)):
            raise ValueError("each tracker may appear once")
        return value

    def resolved(self) -> dict:
        """The fully resolved recipe (defaults included) as plain data, for the run directory."""
        data = self.model_dump(mode="json", exclude_none=False)
        for key, section in self._selectors():
            target = _get_path(data, key)
            if section.options is not None:
                target.update(section.options.model_dump(mode="json"))
        return data

    def _selectors(self):
        yield "model", self.model
        yield "lora", self.lora
        for i, entry in enumerate(self.data.sources):
            yield f"data.sources.{i}", entry
        for i, entry in enumerate(self.eval):
            yield f"eval.{i}", entry
        for i, entry in enumerate(self.tracking):
            yield f"tracking.{i}", entry


#: selector section -> (component kind, the key holding the component name)
_SELECTOR_KIND = {ModelSection: ("loader", "loader"), LoraSection: ("lora", "strategy"),
                  SourceEntry: ("source", "name"), EvalEntry: ("evaluator", "name"),
                  TrackingEntry: ("tracker", "name")}


def _get_path(data, dotted):
    for part in dotted.split("."):
        data = data[int(part)] if isinstance(data, list) else data[part]
    return data


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


def _translate(exc: ValidationError, model_cls, file, prefix=()) -> RecipeError:
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


def _validate_component(section: _Selector, key: str, file) -> None:
    kind, selector = _SELECTOR_KIND[type(section)]
    from odin_core.plugins import get_component

    name = getattr(section, selector)
    component = get_component(kind, name, file=file, key=f"{key}.{selector}")
    extras = dict(section.model_extra or {})
    if component.options is None:
        if extras:
            first = sorted(extras)[0]
            known = [f for f in type(section).model_fields]
            raise RecipeError(f"unknown key; {kind} {name!r} takes no options. Expected one of: {', '.join(known)}",
                              file=file, key=f"{key}.{first}")
        return
    accepted = set(component.options.model_fields)
    for extra_key in extras:
        if extra_key not in accepted:
            known = sorted(accepted | set(type(section).model_fields))
            close = difflib.get_close_matches(extra_key, known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise RecipeError(f"unknown key for {kind} {name!r}{hint} Expected one of: {', '.join(known)}",
                              file=file, key=f"{key}.{extra_key}")
    try:
        section._options = component.options.model_validate(extras)
    except ValidationError as exc:
        raise _translate(exc, component.options, file, prefix=key.split(".")) from None


def _validate_names(recipe: Recipe, file) -> None:
    from odin_core.plugins import get_component, registry

    for i, enc in enumerate(recipe.data.encodings):
        get_component("encoder", enc, file=file, key=f"data.encodings.{i}")
    tasks = registry()["task"]
    for i, name in enumerate(recipe.data.tasks):
        if name == "all" or name in TASK_FAMILIES:
            continue
        get_component("task", name, file=file, key=f"data.tasks.{i}")
    if not any(True for _ in expand_tasks(recipe.data.tasks, tasks)):
        raise RecipeError("selects no registered task", file=file, key="data.tasks")
    sizes = recipe.data.split
    if abs(sizes.train + sizes.validation + sizes.test - 1.0) > 1e-6:
        raise RecipeError(f"fractions must add up to 1 (got {sizes.train + sizes.validation + sizes.test:g})",
                          file=file, key="data.split")


def expand_tasks(names, tasks: dict) -> list[str]:
    """Task names selected by a recipe's ``data.tasks`` (names, family names, 'all'), in registry order."""
    chosen = []
    for task_name, component in tasks.items():
        family = getattr(component.factory, "family", None)  # task factories carry their family
        if "all" in names or task_name in names or (family is not None and family in names):
            chosen.append(task_name)
    return chosen


def validate(data: dict, file=None, check_components: bool = True) -> Recipe:
    """Validate recipe data into a ``Recipe``; components are looked up in the registry."""
    try:
        recipe = Recipe.model_validate(data)
    except ValidationError as exc:
        raise _translate(exc, Recipe, file) from None
    recipe._path = Path(file) if file else None
    if check_components:
        for key, section in recipe._selectors():
            _validate_component(section, key, file)
        _validate_names(recipe, file)
        from odin_core.evaluate import check_evaluator_columns

        check_evaluator_columns(recipe)  # each evaluator's requires_columns are dataset columns
    return recipe


def load_recipe(path, overrides=None) -> Recipe:
    """Read, merge, override and validate a recipe file."""
    path = Path(path)
    data = apply_overrides(load_raw(path), overrides)
    return validate(data, file=path)


def json_schema() -> dict:
    """JSON schema of recipes, with each registered component's options schema."""
    from odin_core.plugins import registry

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
