"""What ``odin sweep`` searches and scores: ``--param`` specs and ``--metric`` paths into ``metrics.json``.

No Optuna here: a spec is plain data, turned into an Optuna distribution by ``flows/sweep.py``.

* ``KEY=a,b,c``: categorical (each item read as a ``--set`` value: TOML, else a bare string);
* ``KEY=int:lo:hi``, ``KEY=uniform:lo:hi``, ``KEY=loguniform:lo:hi``: distributions.

An item ``@FILE`` is a whole table read from a TOML file (``model=@models/a.toml,@models/b.toml``: a model size
study), set as ``--set model=@FILE`` sets it. ``--grid`` specs take comma lists only: a grid sweep runs every
combination once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from odin_core.foundation.errors import RecipeError
from odin_core.foundation.records import task_accuracy

DISTRIBUTIONS = ("int", "uniform", "loguniform")


@dataclass(frozen=True)
class ParamSpec:
    key: str  # dotted recipe key, as for --set
    kind: str  # "categorical", "int", "uniform" or "loguniform"
    choices: tuple = ()
    low: float | int | None = None
    high: float | int | None = None
    text: str = ""  # the --param as given
    option: str = "--param"  # or "--grid"

    def describe(self) -> str:
        if self.kind == "categorical":
            return ", ".join(format_value(c) for c in self.choices)
        return f"{self.kind} [{format_value(self.low)}, {format_value(self.high)}]"

    @property
    def canonical(self) -> str:
        """The spec as stored in a sweep's config: ``@FILE`` items as absolute paths (a resume may run elsewhere)."""
        if self.kind != "categorical":
            return self.text
        return f"{self.key}={','.join(format_value(c) for c in self.choices)}"

    def endpoints(self) -> list:
        """Values that, set in the recipe, show whether this key and its range are valid."""
        return list(self.choices) if self.kind == "categorical" else [self.low, self.high]


def _error(text: str, why: str, option: str = "--param") -> RecipeError:
    shown = text if len(text) <= 80 else text[:77] + "..."
    return RecipeError(f"{option} {shown!r}: {why}")


def _number(text: str, part: str, integer: bool):
    try:
        value = int(part) if integer else float(part)
    except ValueError:
        raise _error(text, f"{part!r} is not {'an integer' if integer else 'a number'}") from None
    if not integer and not math.isfinite(value):
        raise _error(text, f"{part!r} is not a finite number")
    return value


def parse_value(item: str):
    """One value as ``--set`` reads it: TOML (numbers, booleans, quoted strings), else a bare string."""
    import tomllib

    try:
        return tomllib.loads(f"v = {item.strip()}")["v"]
    except (tomllib.TOMLDecodeError, RecursionError):
        return item.strip()


def _file_item(value):
    """An ``@FILE`` item with its path made absolute (other values unchanged)."""
    if isinstance(value, str) and value.startswith("@") and value[1:].strip():
        return "@" + str(Path(value[1:].strip()).resolve())
    return value


def parse_param(text: str, option: str = "--param") -> ParamSpec:
    """``'finetune.r=8,16,32'`` or ``'training.learning_rate=loguniform:1e-5:1e-3'`` -> a ``ParamSpec``
    (``option="--grid"``: comma lists only)."""
    def fail(why: str) -> RecipeError:
        return _error(text, why, option)

    key, sep, value = text.partition("=")
    key, value = key.strip(), value.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise fail("expected KEY=VALUES with a dotted recipe key, e.g. finetune.r=8,16,32 or "
                   + ("model=@models/a.toml,@models/b.toml" if option == "--grid"
                      else "training.learning_rate=loguniform:1e-5:1e-3"))
    if not value:
        raise fail("no values after '='")
    head, colon, rest = value.partition(":")
    if "," not in value and colon and head.strip().isidentifier() and option == "--grid":
        raise fail("a grid takes a comma list of values (a,b,c or @file1,@file2); use --param for a "
                   "distribution")
    if "," not in value and colon and head.strip().isidentifier():
        kind = head.strip()
        if kind not in DISTRIBUTIONS:
            raise fail(f"unknown distribution {kind!r}; expected one of {', '.join(DISTRIBUTIONS)} "
                       "(int:lo:hi, uniform:lo:hi, loguniform:lo:hi) or a comma list of values")
        bounds = rest.split(":")
        if len(bounds) != 2:
            raise fail(f"expected {kind}:LOW:HIGH (two bounds), got {len(bounds)} part(s) after {kind!r}")
        low, high = (_number(text, b.strip(), kind == "int") for b in bounds)
        if not low < high:
            raise fail(f"the low bound {bounds[0]} must be below the high bound {bounds[1]}")
        if kind == "loguniform" and low <= 0:
            raise fail(f"loguniform needs a positive low bound (got {bounds[0]})")
        return ParamSpec(key, kind, low=low, high=high, text=text)
    items = [item for item in value.split(",")]
    if any(not item.strip() for item in items):
        raise fail("an empty item in the comma list")
    choices = tuple(_file_item(parse_value(item)) for item in items)
    if any(not isinstance(c, (str, int, float, bool)) for c in choices):
        raise fail("categorical values must be numbers, booleans or strings (no tables or lists)")
    if len(set(map(repr, choices))) != len(choices):
        raise fail("a value appears twice in the comma list")
    if len(choices) < 2:
        raise fail("one value is nothing to search: give several (a,b,c) or a distribution "
                   "(int:lo:hi, uniform:lo:hi, loguniform:lo:hi); use --set for a fixed value")
    return ParamSpec(key, "categorical", choices=choices, text=text, option=option)


def parse_params(texts, fixed_overrides=(), grid=()) -> list[ParamSpec]:
    """Every ``--param`` and ``--grid``; a key given twice, or also fixed with ``--set``, is an error naming it,
    and so is a ``--param`` beside a ``--grid`` (a grid sweep runs every combination: all its keys are grids)."""
    if not texts and not grid:
        raise RecipeError("no --param given: a sweep needs at least one, e.g. --param finetune.r=8,16,32 (or a grid: "
                          "--grid model=@models/a.toml,@models/b.toml)")
    if texts and grid:
        raise _error(texts[0], "a grid sweep runs every combination of its --grid values once; give this key as "
                               "--grid too (a comma list), or drop --grid")
    specs = [parse_param(text) for text in texts] + [parse_param(text, "--grid") for text in grid]
    seen: dict[str, str] = {}
    fixed = {o.partition("=")[0].strip(): o for o in fixed_overrides}
    for spec in specs:
        if spec.key in seen:
            raise _error(spec.text, f"{spec.key} is already searched by {seen[spec.key]}", spec.option)
        if spec.key in fixed:
            raise _error(spec.text, f"{spec.key} is also fixed by --set {fixed[spec.key]!r}; drop one of them",
                         spec.option)
        inside = next((o for key, o in fixed.items() if key.startswith(spec.key + ".")), None)
        if inside is not None and any(isinstance(c, str) and c.startswith("@") for c in spec.choices):
            raise _error(spec.text, f"--set {inside!r} is inside {spec.key}, which each @FILE replaces whole; put "
                                    "that key in the files", spec.option)
        seen[spec.key] = f"{spec.option} {spec.text!r}"
    return specs


def grid_points(specs) -> list[dict]:
    """Every combination of the specs' values, the first key varying slowest (the order trials run in)."""
    import itertools

    return [dict(zip((s.key for s in specs), values)) for values in itertools.product(*(s.choices for s in specs))]


def format_value(value) -> str:
    """A value as a ``--set`` override writes it (TOML)."""
    import json

    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        text = repr(value)
        return text if ("." in text or "e" in text or "n" in text) else text + ".0"
    text = str(value)
    if text.startswith("@") and "," not in text:  # a table from a file: --set reads @FILE unquoted
        return text
    return text if text and all(c.isalnum() or c in "-_/." for c in text) and parse_value(text) == text \
        else json.dumps(text)


def overrides_for(params: dict) -> list[str]:
    """``{"finetune.r": 16}`` -> ``["finetune.r=16"]``, ready for ``--set``."""
    return [f"{key}={format_value(value)}" for key, value in params.items()]


# --- metrics --------------------------------------------------------------------------------

#: the top-level keys of metrics.json a metric can start with
METRIC_ROOTS = ("trained", "base", "training", "baselines", "prompted", "extra_splits", "comparisons",
                "heuristics", "evaluations")
#: shorthands: <stage>.<name> -> a number of the stage's task accuracy
SHORTHANDS = {"accuracy": "micro", "accuracy_micro": "micro", "accuracy_macro": "macro",
              "format_error_rate": "format_error_rate"}


#: what can follow a stage name (trained, base) or ``training`` in a metric path, checked before any trial
STAGE_KEYS = ("metrics", "num_examples", "generation", "model", *SHORTHANDS)
TRAINING_KEYS = ("steps", "max_steps", "epochs", "train_examples", "train_sequences", "dropped_examples",
                 "train_seconds", "tokens", "tokens_per_second", "peak_memory_mb", "final_loss", "mean_loss",
                 "eval_loss", "trainable_parameters", "parameters")


def default_direction(metric: str) -> str:
    """Losses, perplexities and error rates are minimised; everything else (accuracies) maximised."""
    last = metric.rsplit(".", 1)[-1]
    return "minimize" if any(word in last for word in ("loss", "perplexity", "error")) else "maximize"


def check_metric_root(metric: str) -> None:
    """Before any trial: the path starts at a key ``metrics.json`` can have."""
    root = metric.split(".", 1)[0]
    if not metric or root not in METRIC_ROOTS or "." not in metric:
        raise RecipeError(f"--metric {metric!r}: expected a dotted path into metrics.json starting with one of "
                          f"{', '.join(METRIC_ROOTS)}, e.g. trained.accuracy_macro, trained.accuracy, "
                          "training.eval_loss, trained.metrics.metrics.perplexity.loss")
    second = metric.split(".")[1]
    known = STAGE_KEYS if root in ("trained", "base") else TRAINING_KEYS if root == "training" else None
    if known is not None and second not in known:
        raise RecipeError(f"--metric {metric!r}: {root} has no {second!r}; expected one of {', '.join(known)}")


def _numeric_keys(node: dict) -> list[str]:
    return sorted(k for k, v in node.items() if isinstance(v, (int, float, dict)) and not isinstance(v, bool))


def resolve_metric(metrics: dict, metric: str) -> float:
    """The number at ``metric`` in a run's ``metrics.json``; a RecipeError listing what exists there if none.

    Keys may themselves hold dots (evaluator names such as ``metrics.task_accuracy``): the longest key that
    matches the next parts of the path is taken. ``<stage>.accuracy``, ``<stage>.accuracy_macro`` and
    ``<stage>.format_error_rate`` are shorthands for the stage's overall task accuracy."""
    check_metric_root(metric)
    parts = metric.split(".")
    if len(parts) == 2 and parts[1] in SHORTHANDS and isinstance(metrics.get(parts[0]), dict):
        value = task_accuracy(metrics[parts[0]]).get("overall", {}).get(SHORTHANDS[parts[1]])
        if isinstance(value, (int, float)):
            return float(value)
    node, i, walked = metrics, 0, []
    while i < len(parts):
        if not isinstance(node, dict):
            break
        for j in range(len(parts), i, -1):
            key = ".".join(parts[i:j])
            if key in node:
                node, i = node[key], j
                walked.append(key)
                break
        else:
            where = ".".join(walked) or "metrics.json"
            shorthand = (f"; shorthands: {', '.join(f'{parts[0]}.{s}' for s in SHORTHANDS)}"
                         if len(walked) == 1 and parts[0] not in ("training", "comparisons", "heuristics") else "")
            raise RecipeError(f"--metric {metric!r}: {where} has no {'.'.join(parts[i:])!r}; it has "
                              f"{', '.join(_numeric_keys(node)) or 'nothing numeric'}{shorthand}")
    if i < len(parts) or isinstance(node, bool) or not isinstance(node, (int, float)):
        what = "a table" if isinstance(node, dict) else f"{type(node).__name__} {node!r}"[:60]
        more = f" (keys: {', '.join(_numeric_keys(node))})" if isinstance(node, dict) else ""
        raise RecipeError(f"--metric {metric!r}: {'.'.join(walked)} is {what}{more}, not a number")
    return float(node)
