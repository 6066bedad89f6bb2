"""``odin new``: the files of a new plugin package, and a commented recipe from the registered components.

A plugin package (``plugin_files``) is what docs/plugins.md describes: a pyproject with an ``odin`` entry
point and a dependency on ``odin-slm``, one component of each kind asked for registered through the same
``register_*`` hooks the built-in plugins use, a toy recipe that uses them, a test and a README.
``recipe_text`` writes every option of the chosen components, with its default and description, as
comments under the key that selects the component.
"""

from __future__ import annotations

import re
from importlib import resources

from odin_core.components.plugins import canonical_name, registry
from odin_core.foundation.errors import RecipeError
from odin_core.foundation.files import toml_value
from odin_core.recipe.schema import DataSection, GenerationSection, ModelSection, Recipe, TrainingSection

PLUGIN_KINDS = ("source", "encoder", "task", "evaluator", "tracker", "model_loader", "lora_strategy")
DEFAULT_KINDS = ("source", "encoder", "task", "evaluator")
NAME = re.compile(r"^[a-z][a-z0-9_]*$")

# --- a plugin package --------------------------------------------------------------------------------------


def template(name: str) -> str:
    """The text of ``templates/<name>.txt`` (package data next to this module), for ``str.format``."""
    return resources.files("odin_core.cli").joinpath("templates", f"{name}.txt").read_text(encoding="utf-8")


def check_plugin_request(name: str, kinds) -> tuple[str, ...]:
    if not NAME.match(name):
        raise RecipeError(f"plugin name {name!r}: use lower-case letters, digits and underscores, starting with "
                          "a letter (it names the entry point, the package odin_<name> and every component)")
    kinds = tuple(dict.fromkeys(k.strip() for k in kinds if k.strip())) or DEFAULT_KINDS
    unknown = [k for k in kinds if k not in PLUGIN_KINDS]
    if unknown:
        raise RecipeError(f"unknown component kind(s) {', '.join(unknown)}; choose from {', '.join(PLUGIN_KINDS)}")
    return kinds


def example_recipe(name: str, kinds) -> str:
    """A toy recipe that trains for two steps on a CPU with the plugin's components."""
    loader = f"{name}.tiny" if "model_loader" in kinds else "models.scratch"
    model = f'loader = "{loader}"\nmax_seq_length = 2048\n' + (
        "" if "model_loader" in kinds else "num_layers = 1\nhidden_size = 32\nnum_heads = 2\nvocab_size = 300\n")
    strategy = (f'strategy = "{name}.small_lora"\n' if "lora_strategy" in kinds
                else 'strategy = "finetune.lora"\nr = 4\ngradient_checkpointing = false\n')
    encodings = ([f'"{name}.list"'] if "encoder" in kinds else []) + ['"hypernetx.n_set"']
    tasks = ([f'"{name}.smallest_hyperedge"'] if "task" in kinds else []) + ['"hypernetx.hyperedge_count"']
    source = f'name = "{name}.rings"\ncount = 40' if "source" in kinds else 'name = "hypernetx.synthetic"\ncount = 40'
    evals = '\n[[eval]]\nname = "metrics.task_accuracy"\n' + (
        f'\n[[eval]]\nname = "{name}.answer_length"\n' if "evaluator" in kinds else "")
    tracking = f'\n[[tracking]]\nname = "{name}.print"\n' if "tracker" in kinds else ""
    return template("example.toml").format(name=name, model=model, strategy=strategy, source=source,
                                           encodings=", ".join(encodings), tasks=", ".join(tasks), evals=evals,
                                           tracking=tracking)


def plugin_files(name: str, kinds) -> dict[str, str]:
    """Relative path -> text of a new plugin package ``odin-<name>``."""
    kinds = check_plugin_request(name, kinds)
    package = f"odin_{name}"
    dist = f"odin-{name.replace('_', '-')}"
    module = template("plugin_module.py").format(title=f"The {name} plugin") + "".join(
        template(f"component_{k}.py").format(name=name) for k in PLUGIN_KINDS if k in kinds)
    if not any(k in kinds for k in ("source", "encoder", "tracker", "lora_strategy")):
        module = module.replace("from pydantic import BaseModel, Field\n\n", "")
    tests = template("tests_module.py").format(name=name) + "".join(
        template(f"test_{k}.py").format(name=name) for k in PLUGIN_KINDS if k in kinds)
    listed = "\n".join(f"- `{k}`" for k in kinds)
    return {
        "pyproject.toml": template("pyproject.toml").format(dist=dist, name=name, package=package),
        f"{package}/__init__.py": module,
        f"tests/test_{name}.py": tests,
        "example.toml": example_recipe(name, kinds),
        "README.md": template("README.md").format(dist=dist, name=name, package=package, kinds=",".join(kinds),
                                                  listed=listed),
    }


# --- a commented recipe ------------------------------------------------------------------------------------


def option_lines(model_cls, skip=(), set_values=None) -> list[str]:
    """One line a field: ``key = value`` for those set, else ``# key = default`` with its description."""
    set_values = set_values or {}
    lines = []
    if model_cls is None:
        return lines
    for key, info in model_cls.model_fields.items():
        if key in skip:
            continue
        note = f"  # {info.description}" if info.description else ""
        if key in set_values:
            lines.append(f"{key} = {toml_value(set_values[key])}{note}")
        elif info.is_required():
            lines.append(f"# {key} = ...  (required){note}")
        else:
            default = info.get_default(call_default_factory=True)
            if default is None:
                lines.append(f"# {key} ={note or '  # (no default)'}")
            else:
                if hasattr(default, "model_dump"):
                    default = default.model_dump(mode="json")
                lines.append(f"# {key} = {toml_value(default)}{note}")
    return lines


def _component(kind: str, name: str):
    name = canonical_name(kind, name)
    comps = registry()[kind]
    if name not in comps:
        raise RecipeError(f"unknown {kind.replace('_', ' ')} {name!r}; registered: {', '.join(sorted(comps))}")
    return comps[name]


def _header(component) -> str:
    text = component.description or (component.factory.__doc__ or "")
    doc = (text.strip().splitlines() or [""])[0]
    return f"# {component.name} ({component.plugin})" + (f": {doc}" if doc else "")


#: the recipe's sections, written as tables of their own
_SECTIONS = ("model", "data", "finetune", "training", "generation", "eval", "tracking")


def recipe_text(name: str = "my-run", loader: str = "models.scratch", model_name: str | None = None,
                strategy: str = "finetune.lora", source: str = "hypernetx.synthetic",
                encodings=("hypernetx.n_set", "hypernetx.n_pair"), tasks=("all",)) -> str:
    """A recipe naming these components, each one's options written out as comments (defaults shown)."""
    loader_c = _component("model_loader", loader)
    strategy_c = _component("lora_strategy", strategy)
    source_c = _component("source", source)
    encoder_cs = [_component("encoder", e) for e in encodings]
    task_names = [t if t == "all" or "." not in t else _component("task", t).name for t in tasks]
    out = ["# Written by `odin new recipe`: every option of the chosen components, commented out at its default.",
           "# Check it with `odin validate` and estimate its memory with `odin estimate`.",
           f'name = "{name}"', "seed = 42"]
    out += option_lines(Recipe, skip=("name", "seed", *_SECTIONS)) + ["", "[model]", _header(loader_c)]
    model_set = {"loader": loader_c.name}
    if model_name:
        model_set["name"] = model_name
    out += option_lines(ModelSection, set_values=model_set) + option_lines(loader_c.options)
    out += ["", "[finetune]", _header(strategy_c)]
    out += option_lines(None) + [f'strategy = "{strategy_c.name}"'] + option_lines(strategy_c.options)
    out += ["", "[data]", "# " + "; ".join(_header(c)[2:] for c in encoder_cs),
            f"encodings = {toml_value([c.name for c in encoder_cs])}", f"tasks = {toml_value(task_names)}"]
    out += option_lines(DataSection, skip=("sources", "tasks", "encodings", "num_examples"))
    out += ["", "[data.num_examples]", "train = 1000", "validation = 100", "test = 200",
            "", "[[data.sources]]", _header(source_c), f'name = "{source_c.name}"'] + option_lines(source_c.options)
    for encoder in encoder_cs:
        if encoder.options is not None and encoder.options.model_fields:
            out += [f"# options of {encoder.name}: write the entry as {{ name = \"{encoder.name}\", ... }}"]
            out += ["#   " + line.lstrip("# ") for line in option_lines(encoder.options)]
    out += ["", "[training]"] + option_lines(TrainingSection)
    out += ["", "[generation]"] + option_lines(GenerationSection)
    out += ["", "[[eval]]", 'name = "metrics.task_accuracy"', ""]
    return "\n".join(out)
